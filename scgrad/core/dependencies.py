"""Which costs depend on which nodes: two strategies, time order (:mod:`~scgrad.core.time_order`) and
tracked provenance (:mod:`~scgrad.core.tracked`), chosen node by node."""

from __future__ import annotations

import torch

from scgrad.core import time_order, tracked
from scgrad.core.graph import Graph, Node
from scgrad.core.protocol import Downstream
from scgrad.core.shapes import sum_to


class Dependencies:
    """Answers, for a graph, what lies upstream of a target and downstream of a node.

    A node whose dependencies were tracked (``graph.precise(node)``: under ``scgrad.provenance()``, or
    probed for its estimator and never escaped) is upstream of exactly the targets whose provenance
    names it; any other node is upstream of every target recorded after it (time order).
    ``replay``: a :class:`~scgrad.core.replay.Replay` of the program, which gives each ``Downstream`` its
    evaluators, or ``None`` where the program is not known.
    """

    def __init__(self, graph: Graph, replay=None):
        self.graph = graph
        self.replay = replay
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

        if len(targets) == 1:  # one target: its upstream sources summed in time order, as either strategy sums them
            target = targets[0]
            rows = [reduce(node, tensor, target) for node, tensor in sources if self.upstream(target, node)]
            if not rows:
                return None
            return rows[0] if len(rows) == 1 else torch.stack(rows).sum(0)
        if any(node.name in self.precise for node, _ in sources):
            return tracked.upstream_stack(sources, targets, shape, reduce, self.precise)
        return time_order.upstream_stack(sources, targets, shape, reduce)

    def only_first_upstream(self, sources: list[tuple[Node, torch.Tensor]], targets: list) -> list:
        """The targets (in time order) upstream of which, of all ``sources`` (``(node, tensor)`` pairs in time
        order), lies the first source alone."""
        if len(sources) == 1:
            return [target for target in targets if self.upstream(target, sources[0][0])]
        if any(node.name in self.precise for node, _ in sources):
            positions = tracked.Positions(sources, self.precise)
            return [target for target in targets if positions.upstream_of(target) == [0]]
        counts = time_order.count_before([node.order for node, _ in sources], [target.order for target in targets])
        return [target for target, count in zip(targets, counts) if count == 1]

    def downstream(self, nodes: list[Node]) -> dict[Node, Downstream]:
        """For each node: its downstream cost per log-prob element, its independent dims and its evaluators."""
        precise, loose = [], []
        for node in nodes:
            (precise if node.name in self.precise else loose).append(node)
        result = tracked.downstream(precise, self.graph, self._evaluators)
        result.update(time_order.downstream(loose, self.graph, self._evaluators))
        return result

    def _evaluators(self, node: Node) -> tuple:
        return (None, None) if self.replay is None else self.replay.evaluators(node)


def downstream_costs(node: Node, graph: Graph) -> list:
    """The costs of ``graph`` that depend on ``node`` (``node`` may come from another run)."""
    if graph.precise(node):
        return tracked.costs_by_node(graph).get(node.name, [])
    return [c for c in graph.costs.values() if c.order > node.order]
