"""An exponential moving average of past downstream costs."""

from __future__ import annotations

import torch

from scgrad.baselines.base import Baseline, Prediction


class MovingAverage(Baseline):
    """Baseline ``b = `` exponential moving average of the mean downstream cost of earlier calls.

    The average is read before it is updated with the current cost, so ``b`` never depends on the
    current sample (updating first would shrink the gradient). The first call, with no history,
    predicts zero. State: buffers ``average`` and ``count`` (in ``state_dict()``).

    Args:
        decay: weight of the old average, in ``[0, 1)``.
    """

    def __init__(self, decay: float = 0.9):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"MovingAverage(decay={decay!r}): decay must lie in [0, 1).")
        self.decay = decay
        self.register_buffer("average", torch.zeros(()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, node, downstream) -> Prediction:
        cost = downstream.cost
        average = self.average.to(dtype=cost.dtype, device=cost.device)
        value = average.expand(cost.shape)
        current = cost.mean()
        updated = current if int(self.count) == 0 else self.decay * average + (1 - self.decay) * current
        self.average = updated.detach().to(self.average.dtype)
        self.count += 1
        return Prediction(value)
