"""What the audit changes and compares: a node's elements, another value at one of them, and which
target elements the surrogate credits to it."""

from __future__ import annotations

import torch
import torch.distributions as D

from scgrad.core.graph import Node
from scgrad.distributions.base import base_distribution

CHANGED = 1e-6
"""Relative change of a target element that counts as a change (rounding aside)."""


def moved(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    old, new = old.detach().double(), new.detach().double()
    both_nan = old.isnan() & new.isnan()
    return ((new - old).abs() > CHANGED * (1 + old.abs())) & ~both_nan | (old.isnan() ^ new.isnan())


def element_shape(node: Node) -> torch.Size:
    """The node's elements and draws: its log-prob's shape, ``sample_shape + batch_shape``."""
    outcome = node.state["outcome"]
    return outcome.shape[: outcome.dim() - len(node.dist.event_shape)]


def count(node: Node) -> int:
    return element_shape(node).numel()


def elements(node: Node, share: int, point: int) -> list[tuple]:
    """Up to ``share`` element indices of the node, spread evenly (the first and the last at the first base
    point, shifted at later ones)."""
    shape = element_shape(node)
    total = shape.numel()
    if share <= 0 or total == 0:
        return []
    if total <= share:
        flat = list(range(total))
    else:
        flat = sorted({(round(i * (total - 1) / max(share - 1, 1)) + point * 7919) % total for i in range(share)})
    return [tuple(int(i) for i in torch.unravel_index(torch.tensor(f), shape)) if shape else () for f in flat]


def changed(node: Node, element: tuple):
    """The node's value with ``element`` set to another outcome (or a fresh draw), as the program sees it."""
    outcome = node.state["outcome"]
    other = outcome.clone()
    base, _ = base_distribution(node.dist)
    current = outcome[element]
    if isinstance(base, D.Bernoulli):
        replacement = 1 - current
    elif isinstance(base, D.Categorical):
        replacement = (current + 1) % base.logits.shape[-1]
    elif isinstance(base, D.OneHotCategorical):
        replacement = current.roll(1, -1)
    else:
        replacement = current
        for _ in range(5):
            replacement = node.dist.sample(node.sample_shape)[element]
            if not torch.equal(replacement, current):
                break
        if torch.equal(replacement, current):
            return None
    other[element] = replacement
    return node.estimator.present(node.dist, other)


def credited(target_shape: torch.Size, node_shape: torch.Size, element: tuple) -> torch.Tensor:
    """Which elements of a target of ``target_shape`` the surrogate credits with the node's ``element``."""
    mask = torch.ones(target_shape, dtype=torch.bool)
    for dim in range(-len(target_shape), 0):
        if -dim > len(node_shape) or target_shape[dim] == 1 or node_shape[dim] == 1:
            continue
        index = torch.arange(target_shape[dim]) == element[len(node_shape) + dim]
        mask = mask & index.view((-1,) + (1,) * (-dim - 1))
    return mask
