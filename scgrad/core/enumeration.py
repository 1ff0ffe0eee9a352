"""Exact sums over enumerated outcomes: which enumerated log-probabilities weight a target, and the
refusals of targets that enumeration cannot serve (reduced over a node's elements or draws)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from scgrad.core.contraction import contract
from scgrad.core.dependencies import Dependencies
from scgrad.core.labels import DimLabels, outcome_marks
from scgrad.core.shapes import has_dim
from scgrad.errors import CombinedDrawsError, ScgradError


class Factor(NamedTuple):
    """One enumerated log-probability: its node, the tensor, a label per dim (see :mod:`~scgrad.core.labels`),
    the enumerated outcomes it varies along (``varies``) and those among them that are its node's own (``own``)."""

    node: object
    log_prob: torch.Tensor
    dims: tuple
    varies: frozenset
    own: frozenset


def enumerated_factors(nodes, parts) -> tuple[list, DimLabels | None]:
    """``(factors, labels)``: each enumerated log-prob as a :class:`Factor`, and the :class:`DimLabels` of
    the graph; ``([], None)`` when nothing is enumerated."""
    if not any(parts[n.name].enumerated or n.enum_dims for n in nodes):
        return [], None
    refuse_unweighted_extras(nodes, parts)
    labels = DimLabels(nodes)
    found = []
    for node in nodes:
        marks = outcome_marks(node.upstream) | {node.name} if labels.recycled else frozenset()
        for log_prob in parts[node.name].enumerated:
            dims = labels.of(log_prob.shape, marks, f"the log-prob of node {node.name!r}")
            varies = frozenset(label for label in dims if label[1] is not None)
            found.append(Factor(node, log_prob, dims, varies, frozenset(label for label in varies if label[1] == node.name)))
    return found, labels


def target_marks(target, deps: Dependencies, scored, downstream: dict) -> frozenset:
    """The nodes whose outcomes a surrogate term of ``target`` (a cost, or a node's baseline) may vary along:
    its own provenance's, those of the score-function nodes upstream of it, and for a baseline, those of
    the costs it is computed from."""
    marks = outcome_marks(target.upstream)
    for node, _ in scored:
        if node is not target and deps.upstream(target, node):
            marks |= outcome_marks(node.upstream)
    below = downstream.get(target)
    if below is not None and below.sites is not None:
        for site in below.sites():
            marks |= outcome_marks(site.upstream)
    return marks


def refuse_unweighted_extras(nodes, parts) -> None:
    """An extra term is a plain scalar, not weighted by the probabilities of other nodes' enumerated
    outcomes (nor is the downstream cost it is usually built from): refuse the combination."""
    owners = {d: n.name for n in nodes for d in n.enum_dims}
    for node in nodes:
        if parts[node.name].extra is None:
            continue
        others = sorted({owner for owner in owners.values() if owner != node.name})
        if others:
            raise ScgradError(
                f"node {node.name!r}: {type(node.estimator).__name__} adds a term that is not weighted by the "
                f"probabilities of the outcomes enumerated for node(s) {others}, so together they would give a "
                f"biased gradient. Give {node.name!r} ScoreFunction() (with any baseline), or give {others} an "
                f"estimator other than Enumerate."
            )


def weighting(target, shape, marks: frozenset, factors, labels: DimLabels, deps: Dependencies, label: str):
    """``(dims, chosen)``: a label per dim of ``target``'s term, and the factors (:class:`Factor`) that weight it, or ``None``.

    The enumerated outcomes summed are those the target varies along: through a node's value, a value
    computed from it, or a shape broadcast against one. Each such node's log-probability weights the
    term, and so do the log-probabilities of the nodes whose outcomes that one varies along (the
    parents of a conditional node: an enumerated value is constant along its parents' dims, and its
    log-probability carries them), until every outcome summed carries its node's weight: the weights
    are then a joint distribution over the nodes summed, and a node whose outcomes are not summed takes
    no part. A target that depends on an enumerated node whose outcomes are not summed (a rank too low
    for the layout included) was reduced over them, which mixes outcomes: refused. ``marks``: the nodes
    whose outcomes the term may vary along (see :func:`target_marks`; read where a markov loop shares a dim).
    """
    dims = labels.of(shape, marks, label)
    summed = {dim for dim in dims if dim[1] is not None}
    owning: dict = {}
    for index, factor in enumerate(factors):
        for dim in factor.own:
            owning.setdefault(dim, []).append(index)
    taken: set = set()
    pending = list(summed)
    while pending:  # the closure: each outcome summed brings its node's factors, and their parents' outcomes
        for index in owning.get(pending.pop(), ()):
            if index not in taken:
                taken.add(index)
                pending.extend(factors[index].varies - summed)
                summed |= factors[index].varies
    chosen = [factor for index, factor in enumerate(factors) if index in taken]
    for factor in factors:
        lacking = [dim for dim, _ in factor.own - summed]
        if lacking and deps.upstream(target, factor.node):
            _refuse_reduced(label, shape, factor.node, factor.log_prob, lacking, deps)
    return (dims, chosen) if chosen else None


def _refuse_reduced(label: str, shape, node, log_prob, dims, deps: Dependencies) -> None:
    known = node.name in deps.precise
    cause = (
        "is computed from" if known else
        "is recorded after (and, under torch.compile, where its dependencies are not tracked, taken to depend on)"
    )
    raise ScgradError(
        f"{label} (shape {tuple(shape)}) {cause} enumerated node {node.name!r}, but does not vary along the dim "
        f"that holds the node's outcomes (dim {min(dims)} of its log-prob, shape {tuple(log_prob.shape)}): it was "
        f"reduced over the node's elements without keepdim=True (b.sum(), b.sum(-1), b.mean(-1)), or over that dim "
        f"itself, which mixes outcomes. Enumeration gives every element of a node its own outcomes on one shared dim, "
        f"so each cost element must depend on its own elements only: keep the node's batch dims in the cost (one "
        f"element per data point); or declare the elements one event, D.Independent(dist, 1), which Enumerate lays "
        f"out jointly (every combination, up to 1,024); or use ScoreFunction()."
        + ("" if known else " Or record the cost before sampling the node.")
    )


def expectation(value, dims, chosen, shape, label: str) -> torch.Tensor:
    """Mean of ``value`` over its elements, its enumerated outcomes summed under the factors ``chosen``.

    ``dims`` labels the dims of ``value`` (of the target's ``shape``). The plain formula is
    ``(value * sum(log_probs).exp()).sum(enum_dims).mean()``, which holds every joint outcome of the nodes
    at once; the same number is contracted here one dim at a time, in the order ``opt_einsum`` plans
    (:func:`contract`), so that time and memory follow the graph's treewidth. Batch dims are shared by
    position and averaged; enumerated ones by their node (see :mod:`~scgrad.core.labels`).
    """
    operands = [(value, dims)] + [(factor.log_prob, factor.dims) for factor in chosen]
    sizes: dict = {}
    for tensor, labels in operands:
        for size, dim in zip(tensor.shape, labels):
            if size > 1 and sizes.setdefault(dim, size) != size:
                _refuse_unbroadcastable(label, shape, chosen)
    batch = {position: size for (position, owner), size in sizes.items() if owner is None}
    # A batch dim that the value has as 1 broadcasts where an enumerated value did (core/collapsed refused the
    # reductions over it where they were made); elsewhere (under torch.compile, values expanded) it was summed.
    broadcast = {position for factor in chosen for position, _ in factor.node.collapsed}
    for position in batch:
        if position not in broadcast and not has_dim(shape, position):
            _refuse_combined(label, shape, chosen, sizes, position)
    tensors = [value] + [factor.log_prob.exp() for factor in chosen]
    return contract(tensors, label, [labels for _, labels in operands]) / math.prod(batch.values())


def _refuse_combined(label: str, shape, chosen, sizes: dict, position: int) -> None:
    nodes = sorted({f.node.name for f in chosen if has_dim(f.log_prob.shape, position)})
    widest: dict = {}
    for (at, _), size in sizes.items():
        widest[at] = max(widest.get(at, 1), size)
    joint = tuple(widest.get(at, 1) for at in range(min(widest), 0))
    raise CombinedDrawsError(
        f"{label} has shape {tuple(shape)} but the enumerated node(s) {nodes} it depends on have batch shape "
        f"{joint}: enumeration shares one support dim across a node's batch elements, so a cost that sums over "
        f"them (dim {position}) mixes their outcomes. Keep one cost element per batch element (do not reduce over "
        f"dim {position}); if dim {position} holds num_samples draws, use Enumerate(each_draw=True); or declare the "
        f"dims as one event with D.Independent and use an estimator other than Enumerate."
    )


def _refuse_unbroadcastable(label: str, shape, chosen) -> None:
    nodes = sorted({factor.node.name for factor in chosen})
    enum = sorted({position for factor in chosen for position, owner in factor.varies})
    raise ScgradError(
        f"{label} has shape {tuple(shape)}, which does not broadcast against the log-probabilities of the "
        f"enumerated node(s) {nodes} it depends on ({', '.join(str(tuple(f.log_prob.shape)) for f in chosen)}), "
        f"whose outcomes lie on dims {enum}. Compute the cost from the node's value with torch "
        f"operations that broadcast (elementwise, indexing with the value), keeping the node's batch dims, "
        f"or use an estimator other than Enumerate."
    )
