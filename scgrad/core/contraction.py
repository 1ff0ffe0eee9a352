"""Sum of a product of broadcasting tensors, contracted one dim at a time in a planned order.

``contract(tensors)`` is ``math.prod(tensors).sum()`` (right-aligned broadcasting). Written that way it
holds the broadcast product, whose size is the product of every dim's size: ``3 ** 30`` for a chain
of 30 three-state nodes. Each tensor here varies along a few dims only (a node's outcomes and its
parents'), so the sum is an einsum over labelled dims, which ``opt_einsum`` plans: it sums a dim as
soon as no remaining tensor needs it, and the largest intermediate follows the graph's treewidth.
"""

from __future__ import annotations

import functools
import math

import opt_einsum
import torch

from scgrad.errors import ScgradError

MAX_INTERMEDIATE = 2**27
"""The most elements of one tensor a contraction may make (1 GiB in float64)."""


def contract(tensors: list[torch.Tensor], label: str) -> torch.Tensor:
    """``math.prod(tensors).sum()``, the tensors broadcast from the right, without forming the product.

    ``label`` names the sum for the error raised when even the best order would make a tensor of more
    than :data:`MAX_INTERMEDIATE` elements.
    """
    if len(tensors) <= 2:  # nothing to plan: one product, summed
        return math.prod(tensors).sum()
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))  # as the product would
    rank = max(t.dim() for t in tensors)
    operands, subscripts = [], []
    for tensor in tensors:
        kept = [d for d in range(tensor.dim()) if tensor.shape[d] > 1]
        operands.append(tensor.to(dtype).reshape([tensor.shape[d] for d in kept]))
        subscripts.append("".join(opt_einsum.get_symbol(rank - tensor.dim() + d) for d in kept))
    equation = ",".join(subscripts) + "->"
    path, info = opt_einsum.contract_path(equation, *operands, optimize="auto")
    if info.largest_intermediate > MAX_INTERMEDIATE:
        raise ScgradError(
            f"{label}: summing it over the enumerated outcomes makes a tensor of {info.largest_intermediate:,} "
            f"elements even in the best order found (the limit is {MAX_INTERMEDIATE:,}): the nodes it depends on "
            f"are too intertwined (each cost element depends jointly on too many enumerated outcomes). Enumerate "
            f"fewer of them (give some ScoreFunction() or a relaxation), or split the cost into terms that each "
            f"depend on fewer nodes."
        )
    return opt_einsum.contract(equation, *operands, optimize=path, backend="torch")
