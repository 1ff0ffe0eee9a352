"""The magic box of DiCE (Foerster et al. 2018)."""

import torch


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - x.detach())``: evaluates to 1; every derivative multiplies by the derivative of ``x``."""
    return torch.exp(x - x.detach())


def magic_box_minus_one(x: torch.Tensor) -> torch.Tensor:
    """``magic_box(x) - 1`` in one operation, ``expm1(x - x.detach())``: evaluates to exactly 0, with every
    derivative of ``magic_box(x)``."""
    return torch.expm1(x - x.detach())
