"""The surrogate's formula in one plain loop, for reading and for testing the fast path against.

    L = sum_c E_w[ MB(S_c) * c ] + sum_n E_w[ (1 - MB(s_n)) * MB(S_n) * b_n ] + sum_n extra_n

(see :mod:`scgrad.core.combine`, which builds the same value with stacking, prefix sums and shared
magic boxes; ``tests/test_random_graphs.py`` holds the two equal, second derivatives included).
"""

from __future__ import annotations

import torch

from scgrad.core.dependencies import Dependencies
from scgrad.core.graph import Graph
from scgrad.core.magic_box import magic_box
from scgrad.core.shapes import has_dim, sum_to


def reference_loss(graph: Graph, parts: dict) -> torch.Tensor:
    """``L`` for the recorded ``graph`` and each node's :class:`~scgrad.Parts` (by name), term by term."""
    deps = Dependencies(graph)
    nodes = list(graph.nodes.values())
    enum_dims = sorted({d for node in nodes for d in node.enum_dims})
    factors = [(node, log_prob) for node in nodes for log_prob in parts[node.name].enumerated]

    def boxed_upstream(target, shape):  # MB(S): the scores of the nodes upstream of the target, in its shape
        scores = 0.0
        for node in nodes:
            score = parts[node.name].score
            if score is not None and deps.upstream(target, node):
                scores = scores + sum_to(score, shape, node.name, "target")
        return magic_box(scores) if isinstance(scores, torch.Tensor) else 1.0

    def expectation(value, shape):  # E_w: enumeration dims summed under their probabilities, the rest averaged
        summed = {d for d in enum_dims if has_dim(shape, d)}
        weighted = set()
        while True:  # weigh each summed dim by its node's probabilities, whose parents' dims are then summed too
            more = [(i, node, lp) for i, (node, lp) in enumerate(factors) if i not in weighted and summed & set(node.enum_dims)
                    and any(has_dim(lp.shape, d) for d in summed & set(node.enum_dims))]
            if not more:
                break
            for i, node, log_prob in more:
                weighted.add(i)
                value = value * log_prob.exp()
                summed |= {d for d in enum_dims if has_dim(log_prob.shape, d)}
        present = [d for d in enum_dims if value.dim() >= -d]
        return (value.sum(present) if present else value).mean()

    loss = 0.0
    for site in graph.costs.values():
        loss = loss + expectation(boxed_upstream(site, site.value.shape) * site.value, site.value.shape)
    for node in nodes:
        part = parts[node.name]
        if part.baseline is not None:
            shape = node.log_prob.shape
            loss = loss + expectation((1 - magic_box(part.score)) * boxed_upstream(node, shape) * part.baseline, shape)
        if part.extra is not None:
            loss = loss + part.extra
    return loss
