"""The one place surrogate terms combine (DiCE with baselines; Foerster et al. 2018, Mao et al. 2019).

    L = sum_c E_w[ MB(S_c) * c ] + sum_n E_w[ (1 - MB(s_n)) * MB(S_n) * b_n ] + sum_n extra_n

``MB(x) = exp(x - x.detach())``; ``S_c`` sums the scores of the nodes upstream of cost ``c`` (each
summed to the cost's shape); ``s_n`` is node n's score, ``S_n`` the scores upstream of n and ``b_n``
its baseline. ``E_w`` averages a tensor over its elements, except that dimensions enumerating a
node's support are summed with the enumerated probabilities as weights. The value of ``L`` is the
Monte-Carlo estimate of the objective; its derivatives of every order are unbiased for the
score-function parts, and the baseline term (Mao et al.'s form, with ``MB(S_n)``) keeps them so.

:func:`scgrad.core.reference.reference_loss` computes the same formula in one plain loop; this module is
its fast path (a test holds them equal): targets of one shape are stacked and share one upstream sum
(prefix sums in time order), a magic box shared by a cost and a baseline is built once, and the
log-probabilities of alike score-function nodes come from one batched call. A node with nothing
scored upstream and a cost of its shape that only it lies upstream of (the common one-choice program)
share one term, ``c + (MB(s) - 1)(c - b)``, the same function as their two terms with fewer operations.
"""

from __future__ import annotations

import cmath

import torch

from scgrad.core.batched_log_prob import fill_log_probs
from scgrad.core.dependencies import Dependencies
from scgrad.core.enumeration import enumerated_factors, expectation, target_marks, weighting
from scgrad.core.first_order import first_order_only
from scgrad.core.graph import Graph
from scgrad.core.magic_box import magic_box, magic_box_minus_one
from scgrad.core.objective import Objective
from scgrad.errors import ScgradError


def build_objective(graph: Graph, replay=None) -> Objective:
    """Combine the estimators' parts for every node of ``graph`` into an :class:`Objective`.

    ``replay`` (a :class:`~scgrad.core.replay.Replay`) re-runs the program for estimators that evaluate
    costs at other values of a node, or is ``None``. A surrogate that is NaN or infinite raises
    :class:`~scgrad.errors.ScgradError` naming the cost or node at fault, except while ``torch.compile``
    traces (see the comment at the check).
    """
    if not graph.costs:
        raise ScgradError(
            f"the program recorded no cost (nodes: {list(graph.nodes)}); report what to minimise with "
            f"scgrad.cost(name, tensor)."
        )
    nodes = list(graph.nodes.values())
    batched, wanting = [], []
    for node in nodes:
        if node.estimator.batches_log_probs:
            batched.append(node)
        if node.estimator.needs_downstream:
            wanting.append(node)
    fill_log_probs(batched)
    deps = Dependencies(graph, replay)
    downstream = deps.downstream(wanting)
    parts = {n.name: n.estimator.parts(n, downstream.get(n)) for n in nodes}
    scored, based, extras, tuning, first_order = [], [], [], [], {}
    for node, part in zip(nodes, parts.values()):  # every node has its parts: the updates may change state now
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
        if node.estimator.first_order_only:
            first_order[node.name] = type(node.estimator).__name__
    factors, labels = enumerated_factors(nodes, parts)
    combine = _Combiner(deps, scored, factors, labels, downstream)
    boxes = _MagicBoxes()

    costs = list(graph.costs.values())
    paired = [] if factors else _paired(deps, scored, based, costs)
    for cost, node in paired:
        costs.remove(cost)
        based.remove(node)
    cost_terms = [_paired_term(cost, parts[node.name]) for cost, node in paired] + combine.terms(
        costs,
        shape_of=lambda c: c.value.shape,
        label_of=lambda c: f"cost {c.name!r}",
        build=lambda group, upstream: boxes.times(upstream, _stack([c.value for c in group])),
    )
    baseline_terms = combine.terms(  # torch.rsub(MB, 1) is 1 - MB(s_n), without Tensor.__rsub__'s Python wrapper
        based,
        shape_of=lambda n: n.log_prob.shape,
        label_of=lambda n: f"the baseline of node {n.name!r}",
        build=lambda group, upstream: boxes.times(
            upstream,
            torch.rsub(boxes(_stack([parts[n.name].score for n in group])), 1) * _stack([parts[n.name].baseline for n in group]),
        ),
    )

    loss = None
    for term in cost_terms + baseline_terms:
        loss = term.total if loss is None else loss + term.total
    for extra in extras:
        loss = loss + extra
    # Eagerly, a non-finite surrogate is refused with the cost or node at fault (one read of its value, a
    # sync on a GPU). Under torch.compile the check is skipped: reading the value in Python breaks the
    # graph, and a tensor-level assert would say nothing about the cause (on CUDA it would also poison the
    # context); run the step eagerly to diagnose.
    if not torch.compiler.is_compiling() and not cmath.isfinite(loss.item()):
        _raise_non_finite(graph, parts, loss)
    if first_order:
        loss = first_order_only(loss, first_order)
    aux_loss = sum(aux for aux, _ in tuning) if tuning else None
    return Objective(loss, graph, aux_loss, parts, tuning, cost_terms)


def _paired(deps: Dependencies, scored: list, based: list, costs: list) -> list:
    """``[(cost, node)]`` for the first scored node when it has a baseline and a cost of its log-prob's shape has
    it alone upstream (the first such cost); else ``[]``. The two terms then share one (see :func:`_paired_term`).

    Nothing scored lies upstream of the first scored node, so the pair's terms have no other magic box; only
    the first node is tried, which keeps the search to one pass over the costs.
    """
    if not scored or scored[0][0] not in based:
        return []
    node = scored[0][0]
    shape = node.log_prob.shape
    alone = deps.only_first_upstream(scored, [c for c in costs if c.value.shape == shape])
    return [(alone[0], node)] if alone else []


def _paired_term(cost, part) -> _Term:
    """One cost ``c`` and the baseline term of its only upstream node, in one: ``c + (MB(s) - 1) (c - b)``.

    It is ``MB(s) c + (1 - MB(s)) b`` rearranged (the same function, so the same derivatives of every
    order), with two fewer operations each way; ``MB(s) - 1`` is :func:`magic_box_minus_one`, exactly 0 in
    value, so the term's value is the cost's own.
    """
    value = cost.value
    total = torch.addcmul(value, magic_box_minus_one(part.score), value - part.baseline).mean()
    return _Term([cost], total, value)


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


class _Term:
    """One group's surrogate term: ``total``, its part of the surrogate (the sum over the group's targets of
    each target's mean, or the expectation of a single enumeration-weighted target), and ``estimate``,
    each target's value, detached (``[len(group)]``), made on first use from ``built``, the group's
    targets stacked (``[len(group), *shape]``; for a single target, ``None``: its total is its value)."""

    __slots__ = ("group", "total", "built", "_estimate")

    def __init__(self, group: list, total: torch.Tensor, built: torch.Tensor | None = None):
        self.group, self.total, self.built, self._estimate = group, total, built, None

    @classmethod
    def of(cls, group: list, built: torch.Tensor) -> "_Term":
        """From ``built``: the group's targets stacked (``[len(group), *shape]``, or ``shape`` for one)."""
        if len(group) == 1:
            return cls(group, built.mean())
        return cls(group, built.mean() * len(group), built)

    @property
    def estimate(self) -> torch.Tensor:
        if self._estimate is None:
            if self.built is None:
                self._estimate = self.total.detach().reshape(1)
            else:
                self._estimate = self.built.detach().reshape(len(self.group), -1).mean(1)
                self.built = None
        return self._estimate


class _Combiner:
    """Builds one kind of surrogate term for many targets, stacked by shape where nothing is enumerated."""

    def __init__(self, deps: Dependencies, scored, factors, labels, downstream: dict):
        self.deps, self.scored, self.factors, self.labels, self.downstream = deps, scored, factors, labels, downstream

    def _marks(self, target) -> frozenset:
        """Whose outcomes the target's term may vary along; asked only where a markov loop shares a dim."""
        if not self.labels.recycled:
            return frozenset()
        return target_marks(target, self.deps, self.scored, self.downstream)

    def terms(self, targets, shape_of, label_of, build) -> list[_Term]:
        """One :class:`_Term` per group: ``build(group, upstream scores)``, stacked over the group's targets.

        Targets of one shape that no enumerated node weights form one group; each weighted target is
        a group of its own.
        """
        groups: dict = {}
        weights: dict = {}
        for target in targets:
            shape = shape_of(target)
            weight = (weighting(target, shape, self._marks(target), self.factors, self.labels, self.deps, label_of(target))
                      if self.factors else None)
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
                expected = expectation(built, *weights[key], shape, label_of(group[0]))
                out.append(_Term(group, expected))
        return out


def _raise_non_finite(graph: Graph, parts, loss) -> None:
    for site in graph.costs.values():
        if site.value.numel() == 0:
            raise ScgradError(
                f"cost {site.name!r} has no elements (shape {tuple(site.value.shape)}), so its mean, its part of the "
                f"objective, is NaN. Skip recording it for an empty batch."
            )
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
