"""A node's downstream cost per element of its log-prob: what baselines and control variates read.

Each cost's part of the objective is ``cost.mean()``; summed to the node's log-prob shape (right-
aligned, summing the dims the cost lacks) and scaled by the log-prob's number of elements, it is the
cost per element on the score term's scale: a baseline equal to it cancels that element's score term.
A cost shared by several elements therefore counts in full for each.
"""

from __future__ import annotations

from math import prod

import torch

from scgrad.core.graph import Node
from scgrad.core.protocol import Downstream, Evaluation
from scgrad.core.shapes import sum_to


def candidate_dims(shape) -> frozenset:
    """The log-prob dims (negative) along which elements could be independent: those larger than 1."""
    return frozenset(dim for dim in range(-len(shape), 0) if shape[dim] > 1)


def keeps(cost_shape, shape, dim: int) -> bool:
    """Whether a cost of ``cost_shape`` keeps log-prob dim ``dim`` (the same size there): it mixes no elements along it."""
    return len(cost_shape) >= -dim and cost_shape[dim] == shape[dim]


def kept_dims(cost_shape, shape) -> frozenset:
    """The log-prob dims a cost of ``cost_shape`` keeps (see :func:`keeps`)."""
    return frozenset(dim for dim in range(-len(shape), 0) if keeps(cost_shape, shape, dim))


def share(site, node: Node, detach: bool) -> torch.Tensor:
    """Cost ``site``'s part of the objective, summed to the node's log-prob shape (broadcastable)."""
    value = site.value.detach() if detach else site.value
    return sum_to(value / max(value.numel(), 1), node.log_prob.shape, f"cost {site.name!r}", f"the log-prob of node {node.name!r}")


def total(node: Node, costs, detach: bool) -> torch.Tensor:
    """The summed shares of ``costs`` per element of the node's log-prob, scaled by its number of elements.

    A single cost of the log-prob's shape is its own total (``value / n * n``, without the round trip).
    """
    shape = node.log_prob.shape
    if not costs:
        return node.log_prob.new_zeros(shape).detach()
    if len(costs) == 1 and costs[0].value.shape == shape:
        return costs[0].value.detach() if detach else costs[0].value
    shares = [share(site, node, detach) for site in costs]
    summed = shares[0] if len(shares) == 1 else torch.stack([part.expand(shape) for part in shares]).sum(0)
    return (summed * prod(shape)).expand(shape)


def downstream(node: Node, costs: list, detach: bool = True, evaluate=None, evaluate_many=None) -> Downstream:
    """The :class:`Downstream` of ``node`` given the costs that depend on it, with its evaluators where given."""
    shape = node.log_prob.shape
    others = [site.value.shape for site in costs if site.value.shape != shape]  # a cost of its own shape keeps every dim
    independent = tuple([
        dim for dim in range(-len(shape), 0)
        if shape[dim] > 1 and (not others or all(keeps(other, shape, dim) for other in others))
    ])
    return Downstream(total(node, costs, detach), independent, evaluate, evaluate_many, costs.copy)


def evaluation(node: Node, costs: list) -> Evaluation:
    """The downstream costs of a re-run: per element of the node's log-prob, and their part of the objective."""
    objective = sum((site.value.mean() for site in costs), node.log_prob.new_zeros(()))
    return Evaluation(downstream(node, costs, detach=False).cost, objective)
