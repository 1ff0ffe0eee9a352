"""Time order: a target depends on every node recorded before it.

Sums over upstream nodes (and downstream costs) are prefix (suffix) sums over stacked tensors, one
group per distinct shape: linear work and a constant number of torch calls per group, however long
the episode.
"""

from __future__ import annotations

from math import prod

import torch

from scgrad.core.downstream import candidate_dims, kept_dims, share, total
from scgrad.core.graph import Graph, Node
from scgrad.core.protocol import Downstream


def upstream_stack(sources: list, targets: list, shape, reduce):
    """Per target, the sum of ``reduce(node, tensor, target)`` over the sources recorded before it.

    Returns ``[len(targets), *shape]`` (a target's row alone for one target), or ``None`` when no
    source comes before any target.
    """
    index = count_before([n.order for n, _ in sources], [target.order for target in targets])
    count = max(index)
    if count == 0:
        return None
    rows = [reduce(n, t, targets[0]) for n, t in sources[:count]]
    if min(index) == count:  # every target has the same sources upstream: one sum, repeated
        summed = rows[0] if count == 1 else torch.stack(rows).sum(0)
        return summed if len(targets) == 1 else summed.expand((len(targets),) + tuple(shape))
    stacked = torch.stack(rows)
    prefix = torch.cat([stacked.new_zeros((1,) + tuple(shape)), stacked.cumsum(0)])
    return prefix[torch.tensor(index, device=prefix.device)]


def downstream(nodes: list[Node], graph: Graph, evaluators) -> dict[Node, Downstream]:
    """For each node, the costs recorded after it: one suffix sum per group of nodes of one log-prob shape."""
    result = {}
    if not nodes:
        return result
    costs = list(graph.costs.values())
    orders = [c.order for c in costs]
    groups: dict[tuple, list[Node]] = {}
    for node in nodes:
        groups.setdefault(tuple(node.log_prob.shape), []).append(node)
    for shape, members in groups.items():
        firsts = count_before(orders, [node.order for node in members], inclusive=True)
        start = min(firsts)
        later = costs[start:]  # the costs downstream of some member, in time order
        independent = [candidate_dims(shape)]
        for site in reversed(later):
            independent.append(independent[-1] & kept_dims(site.value.shape, shape))
        independent.reverse()  # independent[i]: the dims no cost of later[i:] mixes
        template = members[0]
        if start == max(firsts):  # one suffix for every member: sum it directly
            suffix = [total(template, later, detach=True)] * (len(later) + 1)
        else:
            values = [site.value for site in later]
            if all(value.shape == shape for value in values):  # each cost's share is itself over its size
                shares = torch.stack(values).detach() / max(prod(shape), 1)
            else:
                shares = torch.stack([share(site, template, detach=True).expand(shape) for site in later])
            suffix = torch.cat([shares.flip(0).cumsum(0).flip(0), shares.new_zeros((1,) + shape)]) * prod(shape)
        rows = suffix if isinstance(suffix, list) else suffix.unbind(0)
        dims: dict[frozenset, tuple] = {}
        for node, first in zip(members, firsts):
            kept = independent[first - start]
            if kept not in dims:
                dims[kept] = tuple(sorted(kept))
            sites = (lambda first=first, later=later, start=start: later[first - start:])
            result[node] = Downstream(rows[first - start], dims[kept], *evaluators(node), sites)
    return result


def count_before(orders: list[int], keys: list[int], inclusive: bool = False) -> list[int]:
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
