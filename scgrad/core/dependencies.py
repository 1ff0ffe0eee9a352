"""Which costs depend on which nodes: time order by default, provenance when tracked.

Time order is built with running sums per distinct target shape, so the work is linear in the
number of nodes and costs. Provenance sums over each target's own dependency set.
"""

from __future__ import annotations

from collections import defaultdict
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

    def upstream_sums(self, sources: list[tuple[Node, torch.Tensor]], targets: list[tuple[object, torch.Size, str]]):
        """For each ``(target, shape, label)``: the sum of the upstream sources' tensors, each summed to ``shape``.

        ``sources`` are in time order. Returns a list with ``None`` where nothing lies upstream.
        """
        out = [None] * len(targets)
        if not sources:
            return out
        if self.tracked:
            by_name = {node.name: (node, tensor) for node, tensor in sources}
            for i, (target, shape, label) in enumerate(targets):
                for name in target.upstream:
                    if name in by_name:
                        node, tensor = by_name[name]
                        term = sum_to(tensor, shape, f"the log-prob of node {node.name!r}", label)
                        out[i] = term if out[i] is None else out[i] + term
            return out
        groups = defaultdict(list)
        for i, (target, shape, _) in enumerate(targets):
            groups[tuple(shape)].append(i)
        for shape, members in groups.items():
            members.sort(key=lambda i: targets[i][0].order)
            running, next_source = None, 0
            for i in members:
                target, _, label = targets[i]
                while next_source < len(sources) and sources[next_source][0].order < target.order:
                    node, tensor = sources[next_source]
                    term = sum_to(tensor, shape, f"the log-prob of node {node.name!r}", label)
                    running = term if running is None else running + term
                    next_source += 1
                out[i] = running
        return out

    def downstream(self, nodes: list[Node]) -> dict[Node, Downstream]:
        """For each node: its downstream cost per log-prob element, its independent dims and an evaluator."""
        costs = list(self.graph.costs.values())
        result = {}
        if self.tracked:
            for node in nodes:
                result[node] = _downstream(node, self.downstream_of(node, self.graph), detach=True)
            return self._with_evaluators(result)
        groups = defaultdict(list)
        for node in nodes:
            groups[tuple(node.log_prob.shape)].append(node)
        for shape, members in groups.items():
            members.sort(key=lambda n: n.order, reverse=True)
            running, independent, next_cost = None, _candidate_dims(shape), len(costs) - 1
            for node in members:
                while next_cost >= 0 and costs[next_cost].order > node.order:
                    site = costs[next_cost]
                    running = _accumulate(running, site, node, detach=True)
                    independent = independent & _kept_dims(site.value.shape, shape)
                    next_cost -= 1
                result[node] = _finish(node, running, independent)
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
            return _downstream(node, self.downstream_of(replay, recorder.graph), detach=False).cost

        return evaluate

def _candidate_dims(shape) -> frozenset:
    return frozenset(dim for dim in range(-len(shape), 0) if shape[dim] > 1)


def _kept_dims(cost_shape, shape) -> frozenset:
    return frozenset(
        dim for dim in range(-len(shape), 0) if len(cost_shape) >= -dim and cost_shape[dim] == shape[dim]
    )


def _accumulate(running, site, node: Node, detach: bool):
    value = site.value.detach() if detach else site.value
    term = sum_to(value / max(value.numel(), 1), node.log_prob.shape, f"cost {site.name!r}", f"the log-prob of node {node.name!r}")
    return term if running is None else running + term


def _finish(node: Node, running, independent) -> Downstream:
    shape = node.log_prob.shape
    if running is None:
        return Downstream(torch.zeros(shape, dtype=node.log_prob.dtype, device=node.log_prob.device), tuple(sorted(independent)))
    return Downstream((running * prod(shape)).expand(shape), tuple(sorted(independent)))


def _downstream(node: Node, costs, detach: bool) -> Downstream:
    running, independent = None, _candidate_dims(node.log_prob.shape)
    for site in costs:
        running = _accumulate(running, site, node, detach)
        independent = independent & _kept_dims(site.value.shape, node.log_prob.shape)
    return _finish(node, running, independent)
