"""Which costs depend on which nodes: time order by default, provenance when tracked.

In time order the sums over upstream nodes (and downstream costs) are prefix (suffix) sums over
stacked tensors, one group per distinct shape: linear work and a constant number of torch calls
per group, however long the episode. Provenance sums over each target's own dependency set.
"""

from __future__ import annotations

import bisect
import weakref
from math import prod

import torch

from scgrad.core.graph import CostSite, Graph, Node
from scgrad.core.shapes import sum_to
from scgrad.errors import ScgradError
from scgrad.estimators.base import Downstream, Evaluation


class Dependencies:
    """Answers, for a graph, what lies upstream of a target and downstream of a node.

    A node whose dependencies were tracked (``graph.precise(node)``: under ``scgrad.provenance()``, or
    probed for its estimator and never escaped) is upstream of exactly the targets whose provenance
    names it; any other node is upstream of every target recorded after it (time order).
    """

    def __init__(self, graph: Graph, tracked: bool = False, rerun=None):
        self.graph = graph
        self.tracked = tracked
        self.rerun = rerun
        self.precise = {name for name, node in graph.nodes.items() if graph.precise(node)}

    def upstream(self, target, node: Node) -> bool:
        """Whether ``node`` lies upstream of ``target`` (a cost or another node)."""
        if node.name in self.precise:
            return node.name in (target.upstream or ())
        return node.order < target.order

    def upstream_stack(self, sources: list[tuple[Node, torch.Tensor]], targets: list, shape: torch.Size, label_of):
        """``[len(targets), *shape]``: per target, the sum of its upstream sources' tensors summed to ``shape``.

        ``sources`` are ``(node, log-prob)`` pairs in time order; every target has ``shape``;
        ``label_of(target)`` names a target in errors. Rows with nothing upstream are zero (the result
        may be an expanded view). For a single target the result is that target's row, of ``shape``
        (a single source's own tensor when it has that shape). Returns ``None`` when no source lies
        upstream of any target.
        """
        if not sources:
            return None

        def reduce(node, tensor, target):
            if tensor.shape == shape:
                return tensor
            return sum_to(tensor, shape, f"the log-prob of node {node.name!r}", label_of(target)).expand(shape)

        if any(node.name in self.precise for node, _ in sources):
            rows = [[reduce(*sources[i], target) for i in self._upstream_of(sources, target)] for target in targets]
            if not any(rows):
                return None
            zero = sources[0][1].new_zeros(shape)
            sums = [(terms[0] if len(terms) == 1 else torch.stack(terms).sum(0)) if terms else zero for terms in rows]
            return sums[0] if len(sums) == 1 else torch.stack(sums)
        index = _count_before([n.order for n, _ in sources], [target.order for target in targets])
        count = max(index)
        if count == 0:
            return None
        rows = [reduce(n, t, targets[0]) for n, t in sources[:count]]
        if min(index) == count:  # every target has the same sources upstream: one sum, repeated
            total = rows[0] if count == 1 else torch.stack(rows).sum(0)
            return total if len(targets) == 1 else total.expand((len(targets),) + tuple(shape))
        stacked = torch.stack(rows)
        prefix = torch.cat([stacked.new_zeros((1,) + tuple(shape)), stacked.cumsum(0)])
        return prefix[torch.tensor(index, device=prefix.device)]

    def _upstream_of(self, sources: list, target) -> list[int]:
        """Positions in ``sources`` (in time order) of the sources upstream of ``target``.

        Tracked sources count when the target's provenance names them; the others when they come first.
        """
        if self._positions is None or self._positions[0] is not sources:
            tracked = {node.name: i for i, (node, _) in enumerate(sources) if node.name in self.precise}
            loose = [i for i, (node, _) in enumerate(sources) if node.name not in self.precise]
            self._positions = (sources, tracked, loose, [sources[i][0].order for i in loose])
        _, tracked, loose, orders = self._positions
        named = [tracked[name] for name in (target.upstream or ()) if name in tracked]
        return sorted(named + loose[: bisect.bisect_left(orders, target.order)])

    _positions = None

    def downstream(self, nodes: list[Node]) -> dict[Node, Downstream]:
        """For each node: its downstream cost per log-prob element, its independent dims and an evaluator."""
        result = {}
        tracked = [node for node in nodes if node.name in self.precise]
        if tracked:
            costs_of = _costs_by_node(self.graph)
            for node in tracked:
                result[node] = _downstream(node, costs_of.get(node.name, []), detach=True)._replace(**self._evaluators(node))
        costs = list(self.graph.costs.values())
        orders = [c.order for c in costs]
        groups: dict[tuple, list[Node]] = {}
        for node in nodes:
            if node.name not in self.precise:
                groups.setdefault(tuple(node.log_prob.shape), []).append(node)
        for shape, members in groups.items():
            firsts = _count_before(orders, [node.order for node in members], inclusive=True)
            start = min(firsts)
            later = costs[start:]  # the costs downstream of some member, in time order
            independent = [_candidate_dims(shape)]
            for site in reversed(later):
                independent.append(independent[-1] & _kept_dims(site.value.shape, shape))
            independent.reverse()  # independent[i]: the dims no cost of later[i:] mixes
            template = members[0]
            if start == max(firsts):  # one suffix for every member: sum it directly
                same = _total(template, later, detach=True)
                suffix = [same] * (len(later) + 1)
            else:
                values = [site.value for site in later]
                if all(value.shape == shape for value in values):  # each cost's share is itself over its size
                    shares = torch.stack(values).detach() / max(prod(shape), 1)
                else:
                    shares = torch.stack([_share(site, template, detach=True).expand(shape) for site in later])
                suffix = torch.cat([shares.flip(0).cumsum(0).flip(0), shares.new_zeros((1,) + shape)]) * prod(shape)
            rows = suffix if isinstance(suffix, list) else suffix.unbind(0)
            dims: dict[frozenset, tuple] = {}
            for node, first in zip(members, firsts):
                kept = independent[first - start]
                if kept not in dims:
                    dims[kept] = tuple(sorted(kept))
                sites = (lambda first=first, later=later, start=start: later[first - start:])
                result[node] = Downstream(rows[first - start], dims[kept], **self._evaluators(node), sites=sites)
        return result

    def downstream_of(self, node: Node, graph: Graph) -> list:
        """The costs of ``graph`` that depend on ``node`` (``node`` may come from another run)."""
        if graph.precise(node):
            return _costs_by_node(graph).get(node.name, [])
        return [c for c in graph.costs.values() if c.order > node.order]

    def _evaluators(self, node: Node) -> dict:
        """``Downstream``'s evaluator fields for ``node``: none where the program is not known."""
        if self.rerun is None:
            return {}
        return {"evaluate": self._evaluator(node), "evaluate_many": self._many_evaluator(node)}

    def _evaluator(self, node: Node):
        def evaluate(value: torch.Tensor) -> Evaluation:
            return _evaluation(node, self._replay(node, value))

        return evaluate

    def _many_evaluator(self, node: Node):
        def evaluate_many(values: list[torch.Tensor], stacked: bool = False) -> list[Evaluation]:
            # Under torch.compile a program that cannot take the stacked value fails while tracing,
            # where the fallback cannot catch it: one run per value there.
            try_stacked = stacked and len(values) > 1 and not torch.compiler.is_compiling()
            per_value = self._stacked_costs(node, values) if try_stacked else None
            if per_value is None:
                return [_evaluation(node, self._replay(node, value)) for value in values]
            return [_evaluation(node, costs) for costs in per_value]

        return evaluate_many

    def _stacked_costs(self, node: Node, values: list[torch.Tensor]) -> list[list] | None:
        """Each value's downstream costs from one run of the program, with the values stacked on a new
        batch dim left of every dim in use; ``None`` where the run shows the program does not take them.

        The program must keep that dim apart, as ``Enumerate`` also requires: count dims from the right
        in every reduction, softmax, index and reshape. That is the estimator's opt-in
        (``stack_evaluations=True``), because it cannot be checked: a shape-preserving operation over a
        dim counted from the left (``log_softmax(dim=1)``) would mix the values and bias the gradient.
        What can be seen is refused: a downstream cost without the new dim in front of its own shape
        (padded with size-1 dims to the depth in use), or a run that raises, sends the evaluation back to
        one run per value (which raises any error of the program's own), and that node is not tried
        stacked again.
        """
        unstackable = _UNSTACKABLE.setdefault(node.estimator, set())
        if node.name in unstackable:
            return None
        depth = max([_rank(n) for n in self.graph.nodes.values()] + [c.value.dim() for c in self.graph.costs.values()])
        rank = len(node.dist.batch_shape) + (node.num_samples is not None)
        count = len(values)
        stacked = torch.stack(values).reshape((count,) + (1,) * (depth - rank) + tuple(node.value.shape))
        try:
            costs = self._replay(node, stacked)
        except Exception:  # the program cannot take the stacked value; one run per value says why, if it fails again
            costs = None
        split = None if costs is None else _split(costs, self.graph, count, depth)
        if split is None:
            unstackable.add(node.name)
        return split

    def _replay(self, node: Node, value: torch.Tensor) -> list:
        """Re-run the program with ``node`` set to ``value`` and every other node held: its downstream costs."""
        from scgrad.core.handlers import substitute
        from scgrad.core.record import GraphRecorder

        values = {n.name: n.value for n in self.graph.nodes.values()}
        values[node.name] = value
        recorder = GraphRecorder(track_provenance=self.tracked)
        with recorder, substitute(values, check_support=False):
            self.rerun()
        replay = recorder.graph.nodes.get(node.name)
        if replay is None:
            raise ScgradError(
                f"re-running the program to evaluate the cost downstream of node {node.name!r} did not "
                f"reach that node; the program must make the same random choices when re-run (no side "
                f"effects outside scgrad)."
            )
        for later in recorder.graph.nodes.values():
            original = self.graph.nodes.get(later.name)
            if later.order > replay.order and original is not None and not _same_distribution(original.dist, later.dist):
                raise ScgradError(
                    f"node {later.name!r} is drawn from a distribution that depends on node {node.name!r}. "
                    f"Evaluating the cost at another value of {node.name!r} holds {later.name!r} at its drawn "
                    f"value, which would bias the gradient. Give {node.name!r} an estimator that does not "
                    f"re-evaluate the cost (e.g. ScoreFunction()), or make {node.name!r} the last random choice "
                    f"its costs depend on."
                )
        return self.downstream_of(replay, recorder.graph)


_UNSTACKABLE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""Estimator -> names of its nodes whose program did not keep a stacked evaluation apart."""


def _rank(node: Node) -> int:
    """The number of batch dims a node's log-prob has: its distribution's, its sample dim, its enumeration dims."""
    own = len(node.dist.batch_shape) + (node.num_samples is not None)
    return max([own] + [-dim for dim in node.enum_dims])


def _split(costs: list, graph: Graph, count: int, depth: int) -> list[list] | None:
    """The costs of a stacked run as ``count`` lists of costs of the original shapes, or ``None``."""
    slots = [[] for _ in range(count)]
    for site in costs:
        original = graph.costs.get(site.name)
        if original is None:
            return None
        shape = tuple(original.value.shape)
        if tuple(site.value.shape) != (count,) + (1,) * (depth - len(shape)) + shape:
            return None
        for slot, value in zip(slots, site.value.unbind(0)):
            slot.append(CostSite(site.name, value.reshape(shape), site.order, site.upstream))
    return slots


def _count_before(orders: list[int], keys: list[int], inclusive: bool = False) -> list[int]:
    """For each key, how many ``orders`` lie before it (``inclusive``: at or before it).

    Both lists are in increasing (time) order, so one merge pass answers every key: plain Python that
    ``torch.compile`` traces, where ``bisect`` is a C builtin it cannot.
    """
    counts, seen = [], 0
    for key in keys:
        while seen < len(orders) and (orders[seen] <= key if inclusive else orders[seen] < key):
            seen += 1
        counts.append(seen)
    return counts


def _costs_by_node(graph: Graph) -> dict[str, list]:
    """Node name -> the costs of ``graph`` whose provenance includes it, in time order (one pass)."""
    costs_of: dict[str, list] = {}
    for site in graph.costs.values():
        for name in site.upstream or ():
            costs_of.setdefault(name, []).append(site)
    return costs_of


def _same_distribution(first, second) -> bool:
    """Whether two distributions of one node have the same type and parameters.

    Only attributes present on both are compared: drawing caches lazy ones (``probs`` of a
    ``Categorical`` built from logits) on one side only.
    """
    if type(first) is not type(second):
        return False
    mine, theirs = vars(first), vars(second)
    for name in mine.keys() & theirs.keys():
        value, other = mine[name], theirs[name]
        if isinstance(value, torch.Tensor):
            if not isinstance(other, torch.Tensor) or value.shape != other.shape or not torch.equal(value, other):
                return False
        elif isinstance(value, torch.distributions.Distribution) and not _same_distribution(value, other):
            return False
    return True


def _candidate_dims(shape) -> frozenset:
    return frozenset(dim for dim in range(-len(shape), 0) if shape[dim] > 1)


def _kept_dims(cost_shape, shape) -> frozenset:
    return frozenset(
        dim for dim in range(-len(shape), 0) if len(cost_shape) >= -dim and cost_shape[dim] == shape[dim]
    )


def _share(site, node: Node, detach: bool) -> torch.Tensor:
    """Cost ``site``'s part of the objective, summed to the node's log-prob shape (broadcastable)."""
    value = site.value.detach() if detach else site.value
    return sum_to(value / max(value.numel(), 1), node.log_prob.shape, f"cost {site.name!r}", f"the log-prob of node {node.name!r}")


def _total(node: Node, costs, detach: bool) -> torch.Tensor:
    """The summed shares of ``costs`` per element of the node's log-prob, scaled by its number of elements.

    A single cost of the log-prob's shape is its own total (``value / n * n``, without the round trip).
    """
    shape = node.log_prob.shape
    if not costs:
        return node.log_prob.new_zeros(shape).detach()
    if len(costs) == 1 and costs[0].value.shape == shape:
        return costs[0].value.detach() if detach else costs[0].value
    shares = [_share(site, node, detach) for site in costs]
    total = shares[0] if len(shares) == 1 else torch.stack([share.expand(shape) for share in shares]).sum(0)
    return (total * prod(shape)).expand(shape)


def _downstream(node: Node, costs, detach: bool) -> Downstream:
    shape = node.log_prob.shape
    independent = _candidate_dims(shape)
    for site in costs:
        independent = independent & _kept_dims(site.value.shape, shape)
    return Downstream(_total(node, costs, detach), tuple(sorted(independent)), sites=lambda: list(costs))


def _evaluation(node: Node, costs) -> Evaluation:
    """The downstream costs of a re-run: per element of the node's log-prob, and their part of the objective."""
    objective = sum((site.value.mean() for site in costs), node.log_prob.new_zeros(()))
    return Evaluation(_downstream(node, costs, detach=False).cost, objective)
