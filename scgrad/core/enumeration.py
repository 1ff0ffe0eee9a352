"""Exact sums over enumerated outcomes: which enumerated log-probabilities weight a target, and the
refusals of targets that enumeration cannot serve (reduced over a node's elements or draws)."""

from __future__ import annotations

import math

import torch

from scgrad.core.contraction import contract
from scgrad.core.dependencies import Dependencies
from scgrad.core.shapes import has_dim
from scgrad.errors import CombinedDrawsError, ScgradError


def enumerated_factors(nodes, parts) -> tuple[list, tuple]:
    """``(factors, enum_dims)``: each enumerated log-prob as ``(node, log_prob, its enumeration dims)``, and
    every enumeration dim in use; ``([], ())`` when nothing is enumerated."""
    if not any(parts[n.name].enumerated or n.enum_dims for n in nodes):
        return [], ()
    refuse_unweighted_extras(nodes, parts)
    enum_dims = tuple(sorted({d for n in nodes for d in n.enum_dims}))
    found = [
        (node, log_prob, frozenset(d for d in enum_dims if has_dim(log_prob.shape, d)))
        for node in nodes
        for log_prob in parts[node.name].enumerated
    ]
    return found, enum_dims


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


def weighting(target, shape, factors, deps: Dependencies, label: str) -> list | None:
    """The enumerated log-probabilities that weight ``target``'s elements, or ``None``.

    The enumeration dims summed are those the target varies along: through a node's value, a value
    computed from it, or a shape broadcast against one. Each such dim is weighted by its node's
    log-probability, and so are the dims that log-probability itself varies along (the parents of a
    conditional node: an enumerated value is constant along its parents' dims, and its log-probability
    carries them), until every dim summed carries its node's weight: the weights are then a joint
    distribution over the nodes summed, and a node whose dims are not summed takes no part. A target
    that depends on an enumerated node whose dims are not summed (a rank too low for the layout
    included) was reduced over them, which mixes outcomes: refused.
    """
    summed = {d for _, _, dims in factors for d in dims if has_dim(shape, d)}
    chosen: list = []
    grew = True
    while grew:
        grew = False
        for factor in factors:
            node, _, dims = factor
            if all(factor is not c for c in chosen) and dims & set(node.enum_dims) & summed:
                chosen.append(factor)
                summed |= dims
                grew = True
    for node, log_prob, dims in factors:
        lacking = [d for d in dims & set(node.enum_dims) if d not in summed]
        if lacking and deps.upstream(target, node):
            _refuse_reduced(label, shape, node, log_prob, lacking, deps)
    return [log_prob for _, log_prob, _ in chosen] or None


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


def expectation(value, log_probs, enum_dims, shape, label: str, factors) -> torch.Tensor:
    """Mean of ``value`` over its elements, with enumeration dims summed under ``exp(sum(log_probs))``.

    The plain formula is ``(value * sum(log_probs).exp()).sum(enum_dims).mean()``, which holds every joint
    outcome of the nodes at once; the same number is contracted here one dim at a time, in the order
    ``opt_einsum`` plans (:func:`contract`), so that time and memory follow the graph's treewidth.
    """
    try:
        joint = torch.broadcast_shapes(value.shape, *(lp.shape for lp in log_probs))
    except RuntimeError:
        nodes = sorted({node.name for node, log_prob, _ in factors if any(log_prob is lp for lp in log_probs)})
        raise ScgradError(
            f"{label} has shape {tuple(shape)}, which does not broadcast against the log-probabilities of the "
            f"enumerated node(s) {nodes} it depends on ({', '.join(str(tuple(lp.shape)) for lp in log_probs)}), "
            f"whose outcomes lie on dims {sorted(enum_dims)}. Compute the cost from the node's value with torch "
            f"operations that broadcast (elementwise, indexing with the value), keeping the node's batch dims, "
            f"or use an estimator other than Enumerate."
        ) from None
    for dim in range(-len(joint), 0):
        if dim not in enum_dims and joint[dim] > 1 and not has_dim(shape, dim):
            nodes = sorted({node.name for node, log_prob, _ in factors if has_dim(log_prob.shape, dim)})
            raise CombinedDrawsError(
                f"{label} has shape {tuple(shape)} but the enumerated node(s) {nodes} it depends on have batch shape "
                f"{tuple(joint)}: enumeration shares one support dim across a node's batch "
                f"elements, so a cost that sums over them (dim {dim}) mixes their outcomes. Keep one cost "
                f"element per batch element (do not reduce over dim {dim}); if dim {dim} holds num_samples draws, "
                f"use Enumerate(each_draw=True); or declare the dims as one event with D.Independent and use "
                f"an estimator other than Enumerate."
            )
    averaged = math.prod(size for dim, size in zip(range(-len(joint), 0), joint) if dim not in enum_dims)
    return contract([value, *(lp.exp() for lp in log_probs)], label) / averaged
