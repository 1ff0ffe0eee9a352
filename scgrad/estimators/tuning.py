"""Self-tuning control variates: the single-sample variance loss their parameters minimise.

REBAR, RELAX and LAX estimate ``g = (f - c(z~)) d log p + d c(z) - d c(z~)`` for a node's parameters
(the logits, or a continuous distribution's parameters). ``E[g]`` does not depend on the control
variate's parameters ``φ``, so ``d Var(g)/dφ = d E[|g|^2]/dφ``: the variance loss is ``|g|^2`` of one
sample, with ``g`` built differentiably in ``φ`` (Tucker et al. 2017, section 3.3; Grathwohl et al.
2018, section 3.3). ``Objective.backward()`` turns it into the ``.grad`` of the estimator's own
parameters and of nothing else.
"""

from __future__ import annotations

import torch


def variance_loss(score: torch.Tensor, weight: torch.Tensor, pathwise: torch.Tensor, wrt: list[torch.Tensor]):
    """``|g|^2`` for ``g = d/d wrt [sum(score * weight) + pathwise]``, ``weight`` held fixed in ``wrt``.

    ``score`` is the node's log-prob, ``weight`` the per-element factor of the score term (cost minus
    control variate, divided by the number of elements), ``pathwise`` the reparameterised part as a
    scalar. Returns ``None`` when nothing in ``wrt`` requires a gradient (no variance to tune).
    """
    wrt = [w for w in wrt if w.requires_grad]
    if not wrt or not torch.is_grad_enabled():
        return None
    by_score = torch.autograd.grad(score, wrt, grad_outputs=weight, create_graph=True, allow_unused=True)
    by_path = torch.autograd.grad(pathwise, wrt, create_graph=True, allow_unused=True) if pathwise.requires_grad else [None] * len(wrt)
    total = score.new_zeros(())
    for first, second in zip(by_score, by_path):
        parts = [g for g in (first, second) if g is not None]
        if parts:
            total = total + sum(parts).pow(2).sum()
    return total


def flat_events(z: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``z`` reshaped to ``shape + (E,)``: the dims after a log-prob of ``shape`` flattened into one."""
    return z.reshape(tuple(shape) + (-1,))
