"""The one shape rule: right-aligned broadcasting, summing the dims a target lacks."""

from __future__ import annotations

import torch

from scgrad.errors import ScgradError


def sum_to(tensor: torch.Tensor, shape: torch.Size, source: str, target: str) -> torch.Tensor:
    """Sum ``tensor`` over the dims that ``shape`` lacks or has as 1 (dims aligned from the right).

    The result broadcasts against ``shape``. ``source`` and ``target`` name the two sides for the
    error raised when a dimension is neither equal nor 1 on one side.
    """
    if tensor.shape == shape:
        return tensor
    original = tuple(tensor.shape)
    lead = tensor.dim() - len(shape)
    if lead > 0:
        tensor = tensor.sum(tuple(range(lead)))
    summed = []
    for dim in range(-tensor.dim(), 0):
        mine, theirs = tensor.shape[dim], shape[dim]
        if mine == theirs or mine == 1:
            continue
        if theirs == 1:
            summed.append(dim)
            continue
        raise ScgradError(
            f"{source} has shape {original}, which cannot be aligned with {target} of shape "
            f"{tuple(shape)}: at dim {dim} it is {mine} against {theirs}. Shapes align from the right "
            f"(torch broadcasting) over sample and batch dims. If trailing dims of a distribution are one "
            f"event, declare them: D.Independent(dist, n) or dist.to_event(n); otherwise reshape the cost "
            f"so its dims line up with the node's sample_shape + batch_shape. If the cost is not computed from "
            f"the node at all (a regulariser, an analytic KL), record it before sampling the node or run under "
            f"scgrad.provenance(): by default a cost depends on every node sampled before it."
        )
    return tensor.sum(summed, keepdim=True) if summed else tensor


def has_dim(shape: torch.Size, dim: int) -> bool:
    """Whether ``shape`` has a dimension larger than 1 at negative position ``dim``."""
    return len(shape) >= -dim and shape[dim] > 1
