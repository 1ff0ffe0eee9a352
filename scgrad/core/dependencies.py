"""Which costs depend on which nodes: time order by default, provenance when tracked.

In time order the sums over upstream nodes (and downstream costs) are prefix (suffix) sums over
stacked tensors, one group per distinct shape: linear work and a constant number of torch calls
per group, however long the episode. Provenance sums over each target's own dependency set.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from math import prod

import torch

from scgrad.core.graph import Graph, Node
from scgrad.core.shapes import sum_to
from scgrad.errors import ScgradError
from scgrad.estimators.base import Downstream


class Dependencies:
    """Answers, for a graph, what lies upstream of a target and downstream of a node."""

    def __init__(self, graph: Graph, tracked: bool, rerun=None):
        self.graph = graph
        self.tracked = tracked
        self.rerun = rerun

    def upstream(self, target, node: Node) -> bool:
        """Whether ``node`` lies upstream of ``target`` (a cost or another node)."""
        if self.tracked:
            return node.name in target.upstream
        return node.order < target.order

    def upstream_stack(self, sources: list[tuple[Node, torch.Tensor]], targets: list, shape: torch.Size, labels: list[str]):
        """``[len(targets), *shape]``: per target, the sum of its upstream sources' tensors summed to ``shape``.

        ``sources`` are ``(node, log-prob)`` pairs in time order; every target has ``shape``. Rows with
        nothing upstream are zero. Returns ``None`` when no source lies upstream of any target.
        """
        if not sources:
            return None

        def reduce(node, tensor, label):
            if tensor.shape == shape:
                return tensor
            return sum_to(tensor, shape, f"the log-prob of node {node.name!r}", label).expand(shape)

        if self.tracked:
            rows = [[reduce(n, t, label) for n, t in sources if n.name in target.upstream] for target, label in zip(targets, labels)]
            if not any(rows):
                return None
            zero = sources[0][1].new_zeros(shape)
            return torch.stack([torch.stack(terms).sum(0) if terms else zero for terms in rows])
        stacked = torch.stack([reduce(n, t, labels[0]) for n, t in sources])
        prefix = torch.cat([stacked.new_zeros((1,) + tuple(shape)), stacked.cumsum(0)])
        orders = [n.order for n, _ in sources]
        index = [bisect_left(orders, target.order) for target in targets]
        if max(index) == 0:
            return None
        return prefix[torch.tensor(index, device=prefix.device)]

    def downstream(self, nodes: list[Node]) -> dict[Node, Downstream]:
        """For each node: its downstream cost per log-prob element, its independent dims and an evaluator."""
        result = {}
        if self.tracked:
            for node in nodes:
                result[node] = _downstream(node, self.downstream_of(node, self.graph), detach=True)
            return self._with_evaluators(result)
        costs = list(self.graph.costs.values())
        orders = [c.order for c in costs]
        groups: dict[tuple, list[Node]] = {}
        for node in nodes:
            groups.setdefault(tuple(node.log_prob.shape), []).append(node)
        for shape, members in groups.items():
            template = members[0]
            if costs:
                shares = torch.stack([_share(site, template, detach=True).expand(shape) for site in costs])
                suffix = torch.cat([shares.flip(0).cumsum(0).flip(0), shares.new_zeros((1,) + shape)]) * prod(shape)
            independent = [_candidate_dims(shape)]
            for site in reversed(costs):
                independent.append(independent[-1] & _kept_dims(site.value.shape, shape))
            independent.reverse()
            for node in members:
                first = bisect_right(orders, node.order)
                cost = suffix[first] if costs else template.log_prob.new_zeros(shape).detach()
                result[node] = Downstream(cost, tuple(sorted(independent[first])))
        return self._with_evaluators(result)

    def downstream_of(self, node: Node, graph: Graph) -> list:
        """The costs of ``graph`` that depend on ``node`` (``node`` may come from another run)."""
        if self.tracked:
            return [c for c in graph.costs.values() if node.name in c.upstream]
        return [c for c in graph.costs.values() if c.order > node.order]

    def _with_evaluators(self, result: dict) -> dict:
        if self.rerun is None:
            return result
        return {node: down._replace(evaluate=self._evaluator(node)) for node, down in result.items()}

    def _evaluator(self, node: Node):
        def evaluate(value: torch.Tensor) -> torch.Tensor:
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
            return _downstream(node, self.downstream_of(replay, recorder.graph), detach=False).cost

        return evaluate


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


def _downstream(node: Node, costs, detach: bool) -> Downstream:
    shape = node.log_prob.shape
    independent = _candidate_dims(shape)
    total = node.log_prob.new_zeros(shape).detach()
    for site in costs:
        total = total + _share(site, node, detach)
        independent = independent & _kept_dims(site.value.shape, shape)
    return Downstream((total * prod(shape)).expand(shape), tuple(sorted(independent)))
