"""The magic box of DiCE (Foerster et al. 2018)."""

import torch


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - x.detach())``: evaluates to 1; every derivative multiplies by the derivative of ``x``."""
    return torch.exp(x - x.detach())
