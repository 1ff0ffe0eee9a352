"""A guard that refuses to differentiate the surrogate twice where an estimator is first order only."""

from __future__ import annotations

import torch

from scgrad.errors import ScgradError


class _RefuseHigherOrder(torch.autograd.Function):
    """Identity forward; backward refuses to run while building a graph (``create_graph=True``)."""

    @staticmethod
    def forward(ctx, loss: torch.Tensor, message: str) -> torch.Tensor:
        ctx.message = message
        return loss.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        # The engine enables grad mode in backward exactly when it records the backward for a later derivative.
        if torch.is_grad_enabled():
            raise ScgradError(ctx.message)
        return grad, None


def first_order_only(loss: torch.Tensor, nodes: dict[str, str]) -> torch.Tensor:
    """``loss`` unchanged, except that differentiating it with ``create_graph=True`` raises.

    ``nodes`` maps the name of each node whose estimator is first order only to the estimator's name;
    the error names them all: their second derivatives would not be unbiased, and no error would say so.
    """
    listed = ", ".join(f"{name!r} ({estimator})" for name, estimator in nodes.items())
    message = (
        f"the surrogate was differentiated with create_graph=True (for a second derivative), but node(s) "
        f"{listed} use an estimator that is unbiased for first derivatives only: its higher derivatives "
        f"would be wrong. Give these nodes ScoreFunction (with any baseline), Enumerate or Reparam, whose "
        f"surrogates are unbiased at every order, or take first derivatives only."
    )
    return _RefuseHigherOrder.apply(loss, message)
