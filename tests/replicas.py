"""Independent gradient estimates from one call: every parameter has a leading dim of ``REPLICAS`` copies."""

from __future__ import annotations

import torch


def per_replica(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """``[replicas, n]``: each replica's gradient (its parameters' slice), scaled back by the replica count.

    The objective averages over the replica dim, so replica ``r``'s gradient is ``1 / replicas`` times the
    gradient of its own objective.
    """
    grads = torch.autograd.grad(loss, params, materialize_grads=True)
    replicas = params[0].shape[0]
    return torch.cat([g.reshape(replicas, -1) for g in grads], dim=1) * replicas
