"""The one place surrogate terms combine (DiCE with baselines; Foerster et al. 2018, Mao et al. 2019).

    L = sum_c E_w[ MB(S_c) * c ] + sum_n E_w[ (1 - MB(s_n)) * MB(S_n) * b_n ] + sum_n extra_n

``MB(x) = exp(x - x.detach())``; ``S_c`` sums the scores of the nodes upstream of cost ``c`` (each
summed to the cost's shape); ``s_n`` is node n's score, ``S_n`` the scores upstream of n and ``b_n``
its baseline. ``E_w`` averages a tensor over its elements, except that dimensions enumerating a
node's support are summed with the enumerated probabilities as weights. The value of ``L`` is the
Monte-Carlo estimate of the objective; its derivatives of every order are unbiased for the
score-function parts, and the baseline term (Mao et al.'s form, with ``MB(S_n)``) keeps them so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from scgrad.core.batched_log_prob import fill_log_probs
from scgrad.core.dependencies import Dependencies
from scgrad.core.first_order import first_order_only
from scgrad.core.graph import Graph
from scgrad.core.magic_box import magic_box
from scgrad.core.provenance import provenance
from scgrad.core.record import GraphRecorder
from scgrad.core.runtime import find
from scgrad.core.shapes import has_dim
from scgrad.errors import CombinedDrawsError, ScgradError
from scgrad.estimators.score_function import ScoreFunction


@dataclass
class Objective:
    """What ``surrogate`` returns.

    Attributes:
        loss: the surrogate scalar; ``loss.backward()`` gives the gradient estimate.
        cost: the detached Monte-Carlo estimate of ``E[sum of costs]`` (equal to ``loss`` in value, up to
            rounding).
        costs: that estimate per cost name (a dict built from ``per_cost`` on each access).
        per_cost: the estimates of the costs, in the order of ``cost_names`` (detached).
        (Each cost's estimate is kept, detached, as the surrogate is built; these three are put
        together on first access.)
        graph: the recorded nodes and costs.
        aux_loss: the sum of what the estimators' learned parts minimise (a critic's squared error, a
            control variate's variance), or ``None``.
        parts: each node's :class:`~scgrad.Parts`, by name.
    """

    loss: torch.Tensor
    graph: Graph
    aux_loss: torch.Tensor | None = None
    parts: dict = field(default_factory=dict, repr=False)
    tuning: list = field(default_factory=list, repr=False)
    cost_terms: list = field(default_factory=list, repr=False)
    _per_cost: torch.Tensor | None = field(default=None, init=False, repr=False)

    @property
    def cost_names(self) -> list[str]:
        """The costs' names, in the order of :attr:`per_cost`."""
        return [site.name for term in self.cost_terms for site in term.group]

    @property
    def per_cost(self) -> torch.Tensor:
        """The estimate of each cost's expectation (detached), in the order of :attr:`cost_names`."""
        if self._per_cost is None:
            estimates = [term.estimate for term in self.cost_terms]
            self._per_cost = estimates[0] if len(estimates) == 1 else torch.cat(estimates)
        return self._per_cost

    @property
    def cost(self) -> torch.Tensor:
        """The estimate of ``E[sum of costs]`` (detached; equal to ``loss`` in value, up to rounding)."""
        return self.per_cost.sum()

    @property
    def costs(self) -> dict[str, torch.Tensor]:
        """The estimate of each cost's expectation, by name (detached), from :attr:`per_cost`."""
        return dict(zip(self.cost_names, self.per_cost.unbind()))

    def backward(self, **kwargs) -> None:
        """Backpropagate ``loss``; also fill each estimator's own parameters' ``.grad`` from its ``aux_loss``.

        This is the one place where learned parts of estimators are trained: a ``Critic``'s squared
        error, and the single-sample estimate of the gradient of the gradient estimator's variance that
        self-tuning estimators (REBAR, RELAX, LAX) minimise. The parameters of an estimator that reports
        an aux loss receive the gradient of that loss only (never the surrogate's), and the aux loss
        reaches no other parameter (never the model's), so one optimiser over model and estimators, or
        two separate ones, can step after this call. Keyword arguments go to ``torch.Tensor.backward``
        (e.g. ``retain_graph``, ``create_graph``). ``loss.backward()`` alone does not tune estimators.
        """
        pending, kept = [], {}
        for aux, estimator in self.tuning:
            params = [p for p in estimator.parameters() if p.requires_grad]
            if params:
                grads = torch.autograd.grad(aux, params, retain_graph=True, allow_unused=True)
                pending += [(p, g) for p, g in zip(params, grads) if g is not None]
                kept.update((id(p), (p, p.grad)) for p in params)
        self.loss.backward(**kwargs)
        for param, grad in kept.values():
            param.grad = grad
        for param, grad in pending:
            param.grad = grad if param.grad is None else param.grad + grad


def surrogate(program, *args, **kwargs) -> Objective:
    """Run ``program(*args, **kwargs)`` once, record its nodes and costs, and build the surrogate.

    The program draws with :func:`scgrad.sample` and reports costs with :func:`scgrad.cost`. Under
    ``with scgrad.provenance():`` each cost depends only on the nodes it was computed from; by
    default it depends on every node sampled before it. Nested calls are refused.
    """
    if find(GraphRecorder) is not None:
        raise ScgradError(
            "scgrad.surrogate was called inside a program already running under scgrad.surrogate; "
            "nesting is not supported. Call the inner program directly: its samples and costs join the outer graph."
        )
    recorder = GraphRecorder(track_provenance=find(provenance) is not None)
    with recorder:
        program(*args, **kwargs)
    return build_objective(recorder.graph, recorder.track_provenance, lambda: program(*args, **kwargs))


def build_objective(graph: Graph, tracked: bool = False, rerun=None) -> Objective:
    """Combine the estimators' parts for every node of ``graph`` into an :class:`Objective`.

    ``rerun()`` runs the program again (to evaluate costs at other values of a node), or is ``None``.
    A surrogate that is NaN or infinite raises :class:`~scgrad.errors.ScgradError` naming the cost or
    node at fault, except while ``torch.compile`` traces (see the comment at the check).
    """
    if not graph.costs:
        raise ScgradError(
            f"the program recorded no cost (nodes: {list(graph.nodes)}); report what to minimise with "
            f"scgrad.cost(name, tensor)."
        )
    nodes = list(graph.nodes.values())
    fill_log_probs([n for n in nodes if isinstance(n.estimator, ScoreFunction)])
    deps = Dependencies(graph, tracked, rerun)
    downstream = deps.downstream([n for n in nodes if n.estimator.needs_downstream])
    parts = {n.name: n.estimator.parts(n, downstream.get(n)) for n in nodes}
    scored, based, extras, tuning, enumerated, first_order = [], [], [], [], False, {}
    for node, part in zip(nodes, parts.values()):
        if node.estimator.first_order_only:
            first_order[node.name] = type(node.estimator).__name__
        if part.update is not None:
            part.update()
        if part.score is not None:
            scored.append((node, part.score))
        if part.baseline is not None:
            based.append(node)
        if part.extra is not None:
            extras.append(part.extra)
        if part.aux_loss is not None:
            tuning.append((part.aux_loss, node.estimator))
        enumerated = enumerated or bool(part.enumerated or node.enum_dims)
    factors, enum_dims = [], ()
    if enumerated:
        _refuse_unweighted_extras(nodes, parts)
        enum_dims = tuple(sorted({d for n in nodes for d in n.enum_dims}))
        factors = [
            (node, log_prob, frozenset(d for d in enum_dims if has_dim(log_prob.shape, d)))
            for node in nodes
            for log_prob in parts[node.name].enumerated
        ]
    combine = _Combiner(deps, scored, factors, enum_dims)
    boxes = _MagicBoxes()

    cost_terms = combine.terms(
        list(graph.costs.values()),
        shape_of=lambda c: c.value.shape,
        label_of=lambda c: f"cost {c.name!r}",
        build=lambda group, upstream: boxes.times(upstream, _stack([c.value for c in group])),
    )
    baseline_terms = combine.terms(
        based,
        shape_of=lambda n: n.log_prob.shape,
        label_of=lambda n: f"the baseline of node {n.name!r}",
        build=lambda group, upstream: boxes.times(
            upstream,
            (1 - boxes(_stack([parts[n.name].score for n in group]))) * _stack([parts[n.name].baseline for n in group]),
        ),
    )

    loss = None
    for term in cost_terms + baseline_terms:
        loss = term.total if loss is None else loss + term.total
    for extra in extras:
        loss = loss + extra
    # Eagerly, a non-finite surrogate is refused with the cost or node at fault. Under torch.compile the
    # check is skipped: reading the value in Python breaks the graph (and syncs a GPU), and a tensor-level
    # assert would say nothing about the cause (on CUDA it would also poison the context); run the step
    # eagerly to diagnose.
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(loss)):
        _raise_non_finite(graph, parts, loss)
    if first_order:
        loss = first_order_only(loss, first_order)
    aux_loss = sum(aux for aux, _ in tuning) if tuning else None
    return Objective(loss, graph, aux_loss, parts, tuning, cost_terms)


def _refuse_unweighted_extras(nodes, parts) -> None:
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


def _stack(tensors):
    """``torch.stack(tensors)``; a single tensor as it is (one target's terms are not stacked)."""
    return tensors[0] if len(tensors) == 1 else torch.stack(tensors)


class _MagicBoxes:
    """``magic_box`` of each tensor once per build: a cost and a baseline often share their upstream score."""

    def __init__(self):
        self._made: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        made = self._made.get(id(x))
        if made is None:
            made = self._made[id(x)] = (x, magic_box(x))  # x is kept, so its id is not reused
        return made[1]

    def times(self, upstream, values):
        """``MB(upstream) * values``, or ``values`` when nothing is upstream."""
        return values if upstream is None else self(upstream) * values


class _Term(NamedTuple):
    """One group's surrogate term: ``total``, its part of the surrogate (the sum over the group's targets of
    each target's mean, or the expectation of a single enumeration-weighted target), and ``estimate``,
    each target's value, detached (``[len(group)]``)."""

    group: list
    total: torch.Tensor
    estimate: torch.Tensor

    @classmethod
    def of(cls, group: list, built: torch.Tensor) -> "_Term":
        """From ``built``: the group's targets stacked (``[len(group), *shape]``, or ``shape`` for one)."""
        if len(group) == 1:
            total = built.mean()
            return cls(group, total, total.detach().reshape(1))
        return cls(group, built.mean() * len(group), built.detach().reshape(len(group), -1).mean(1))


class _Combiner:
    """Builds one kind of surrogate term for many targets, stacked by shape where nothing is enumerated."""

    def __init__(self, deps: Dependencies, scored, factors, enum_dims):
        self.deps, self.scored, self.factors, self.enum_dims = deps, scored, factors, enum_dims

    def terms(self, targets, shape_of, label_of, build) -> list[_Term]:
        """One :class:`_Term` per group: ``build(group, upstream scores)``, stacked over the group's targets.

        Targets of one shape that no enumerated node weights form one group; each weighted target is
        a group of its own.
        """
        groups: dict = {}
        weights: dict = {}
        for target in targets:
            shape = shape_of(target)
            weight = _log_weight(target, shape, self.factors, self.deps, label_of(target)) if self.factors else None
            key = shape if weight is None else id(target)
            weights[key] = weight
            groups.setdefault(key, []).append(target)
        out = []
        for key, group in groups.items():
            shape = shape_of(group[0])
            upstream = self.deps.upstream_stack(self.scored, group, shape, label_of)
            built = build(group, upstream)
            if weights[key] is None:
                out.append(_Term.of(group, built))
            else:
                expectation = _expectation(built, weights[key], self.enum_dims, shape, label_of(group[0]), self.factors)
                out.append(_Term(group, expectation, expectation.detach().reshape(1)))
        return out


def _log_weight(target, shape, factors, deps: Dependencies, label: str):
    """Sum of the enumerated log-probabilities that weight ``target``'s elements, or ``None``.

    A factor counts when the target varies along one of its node's enumeration dims: through the
    node's value, a value computed from it (an enumerated value is expanded to its distribution's batch
    shape, so a target computed from a node enumerated conditionally on another also varies along the
    parent's dim), or a shape broadcast against one (the probabilities then sum to one over a constant).
    A target that depends on an enumerated node without varying along each of its dims (a rank too low
    for the layout included) was reduced over them, which mixes outcomes: refused.
    """
    weight = None
    for node, log_prob, dims in factors:
        varies = [has_dim(shape, d) for d in dims]
        if dims and not all(varies) and deps.upstream(target, node):
            _refuse_reduced(label, shape, node, log_prob, [d for d, v in zip(dims, varies) if not v], deps)
        if any(varies):
            weight = log_prob if weight is None else weight + log_prob
    return weight


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


def _expectation(value, log_weight, enum_dims, shape, label: str, factors) -> torch.Tensor:
    """Mean of ``value`` over its elements, with enumeration dims summed under ``exp(log_weight)``."""
    weighted = value * log_weight.exp()
    for dim in range(-weighted.dim(), 0):
        if dim not in enum_dims and weighted.shape[dim] > 1 and not has_dim(shape, dim):
            nodes = sorted({node.name for node, log_prob, _ in factors if has_dim(log_prob.shape, dim)})
            raise CombinedDrawsError(
                f"{label} has shape {tuple(shape)} but the enumerated node(s) {nodes} it depends on have batch shape "
                f"{tuple(log_weight.shape)}: enumeration shares one support dim across a node's batch "
                f"elements, so a cost that sums over them (dim {dim}) mixes their outcomes. Keep one cost "
                f"element per batch element (do not reduce over dim {dim}); if dim {dim} holds num_samples draws, "
                f"use Enumerate(each_draw=True); or declare the dims as one event with D.Independent and use "
                f"an estimator other than Enumerate."
            )
    present = [d for d in enum_dims if weighted.dim() >= -d]
    summed = weighted.sum(present) if present else weighted
    return summed.mean()


def _raise_non_finite(graph: Graph, parts, loss) -> None:
    for site in graph.costs.values():
        bad = ~torch.isfinite(site.value.detach())
        if bool(bad.any()):
            raise ScgradError(
                f"cost {site.name!r} (shape {tuple(site.value.shape)}) has {int(bad.sum())} NaN or infinite "
                f"element(s); the surrogate would be {loss.item()}. Check the computation of {site.name!r} "
                f"(e.g. log of zero, overflow in exp) or clamp it."
            )
    for name, part in parts.items():
        for kind, tensor in (("log-prob", part.score), ("baseline", part.baseline)):
            if tensor is not None and not bool(torch.isfinite(tensor.detach()).all()):
                raise ScgradError(
                    f"node {name!r}: its {kind} has NaN or infinite elements (a sample with zero probability, "
                    f"or parameters that overflowed); the surrogate would be {loss.item()}. Check the "
                    f"distribution's parameters, e.g. clamp logits."
                )
    raise ScgradError(f"the surrogate is {loss.item()} although every cost, log-prob and baseline is finite; "
                      f"an estimator's extra term overflowed.")
