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


def contract(tensors: list[torch.Tensor], label: str, labels: list | None = None) -> torch.Tensor:
    """``math.prod(tensors).sum()``, the tensors broadcast from the right, without forming the product.

    ``labels``: per tensor, one hashable label per dim; dims of one label are one index of the sum
    (those of size 1 are left out). ``None`` labels each dim by its position from the right, which is
    broadcasting. ``label`` names the sum for the error raised when even the best order would make a
    tensor of more than :data:`MAX_INTERMEDIATE` elements.
    """
    if labels is None:
        labels = [tuple(range(-t.dim(), 0)) for t in tensors]
    if len(tensors) <= 2 and _broadcasts(tensors, labels):  # nothing to plan: one product, summed
        return math.prod(tensors).sum()
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))  # as the product would
    symbols: dict = {}
    operands, subscripts = [], []
    for tensor, names in zip(tensors, labels):
        kept = [d for d in range(tensor.dim()) if tensor.shape[d] > 1]
        operands.append(tensor.to(dtype).reshape([tensor.shape[d] for d in kept]))
        subscripts.append("".join(symbols.setdefault(names[d], opt_einsum.get_symbol(len(symbols))) for d in kept))
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


def _broadcasts(tensors, labels) -> bool:
    """Whether broadcasting from the right pairs the same labels (each position holds one label of size > 1)."""
    seen: dict = {}
    for tensor, names in zip(tensors, labels):
        for d, size in enumerate(tensor.shape):
            if size > 1 and seen.setdefault(d - tensor.dim(), names[d]) != names[d]:
                return False
    return True
