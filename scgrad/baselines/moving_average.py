"""An exponential moving average of past downstream costs."""

from __future__ import annotations

import torch

from scgrad.baselines.base import Baseline, Prediction


class MovingAverage(Baseline):
    """Baseline ``b = `` exponential moving average of the mean downstream cost of earlier calls.

    The average is read before it is updated with the current cost, and updated only once every node
    of the objective has read it, so ``b`` never depends on the current samples (updating first would
    shrink the gradient; one instance shared by the nodes of an episode would otherwise give a later
    node an average of costs its own action changed). The first call, with no history, predicts zero. State: buffers ``average`` and ``count`` (in ``state_dict()``).

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
        value = self.average.to(dtype=cost.dtype, device=cost.device).expand(cost.shape)
        current = cost.detach().mean()
        return Prediction(value, update=lambda: self._observe(current))

    def _observe(self, current: torch.Tensor) -> None:
        current = current.to(dtype=self.average.dtype, device=self.average.device)
        blended = self.decay * self.average + (1 - self.decay) * current
        self.average = torch.where(self.count == 0, current, blended)
        self.count += 1
