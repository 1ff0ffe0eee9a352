"""Tracked dependencies: a target depends on the tracked nodes its provenance names.

Used for the nodes whose provenance was kept (every node under ``scgrad.provenance()``; otherwise
those whose estimator asked for it and whose value never left torch). Targets whose sources mix
tracked and untracked nodes take the untracked ones in time order.
"""

from __future__ import annotations

import bisect

import torch

from scgrad.core.downstream import downstream as downstream_of_costs
from scgrad.core.graph import Graph, Node
from scgrad.core.protocol import Downstream


def upstream_stack(sources: list, targets: list, shape, reduce, tracked: set):
    """Per target, the sum of ``reduce(node, tensor, target)`` over its upstream sources (see :func:`upstream_of`).

    Returns ``[len(targets), *shape]`` (a target's row alone for one target), or ``None`` when no
    source lies upstream of any target.
    """
    positions = Positions(sources, tracked)
    rows = [[reduce(*sources[i], target) for i in positions.upstream_of(target)] for target in targets]
    if not any(rows):
        return None
    zero = sources[0][1].new_zeros(shape) if not all(rows) else None
    sums = [(terms[0] if len(terms) == 1 else torch.stack(terms).sum(0)) if terms else zero for terms in rows]
    return sums[0] if len(sums) == 1 else torch.stack(sums)


class Positions:
    """Where each source sits in ``sources`` (time order): by name for tracked ones, by order for the rest."""

    def __init__(self, sources: list, tracked: set):
        self.named = {node.name: i for i, (node, _) in enumerate(sources) if node.name in tracked}
        self.loose = [i for i, (node, _) in enumerate(sources) if node.name not in tracked]
        self.orders = [sources[i][0].order for i in self.loose]

    def upstream_of(self, target) -> list[int]:
        """Tracked sources the target's provenance names, and untracked ones recorded before it, in time order."""
        named = [self.named[name] for name in (target.upstream or ()) if name in self.named]
        return sorted(named + self.loose[: bisect.bisect_left(self.orders, target.order)])


def downstream(nodes: list[Node], graph: Graph, evaluators) -> dict[Node, Downstream]:
    """For each node, the costs whose provenance names it."""
    if not nodes:
        return {}
    costs_of = costs_by_node(graph)
    return {node: downstream_of_costs(node, costs_of.get(node.name, []), True, *evaluators(node)) for node in nodes}


def costs_by_node(graph: Graph) -> dict[str, list]:
    """Node name -> the costs of ``graph`` whose provenance includes it, in time order (one pass)."""
    costs_of: dict[str, list] = {}
    for site in graph.costs.values():
        for name in site.upstream or ():
            costs_of.setdefault(name, []).append(site)
    return costs_of
