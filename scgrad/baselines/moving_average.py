"""An exponential moving average of past downstream costs."""

from __future__ import annotations

import torch

from scgrad import distributed
from scgrad.baselines.base import Baseline, Prediction


class MovingAverage(Baseline):
    """Baseline ``b = `` exponential moving average of the mean downstream cost of earlier calls.

    The average is read before it is updated with the current cost, and updated only once every node
    of the objective has read it, so ``b`` never depends on the current samples (updating first would
    shrink the gradient; one instance shared by the nodes of an episode would otherwise give a later
    node an average of costs its own action changed). The first call, with no history, predicts zero.
    State: buffers ``average`` and ``count`` (in ``state_dict()``).

    Across processes: with ``group`` (a ``torch.distributed`` process group, or
    ``scgrad.distributed.WORLD`` for the default one), the average is updated with the mean downstream
    cost over the elements of every rank (one all-reduce of the sum and the count per call), as one
    process holding all of them would update it, so every rank keeps the same average (start them
    from the same state, e.g. a fresh baseline or the same checkpoint). ``None`` (default): each
    process averages its own costs.

    Args:
        decay: weight of the old average, in ``[0, 1)``.
        group: ``None``, ``scgrad.distributed.WORLD`` or a ``torch.distributed.ProcessGroup``.
    """

    def __init__(self, decay: float = 0.9, group=None):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"MovingAverage(decay={decay!r}): decay must lie in [0, 1).")
        self.decay = decay
        self.group = distributed.check_group(group, "MovingAverage")
        self.register_buffer("average", torch.zeros(()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, node, downstream) -> Prediction:
        cost = downstream.cost
        value = self.average.to(dtype=cost.dtype, device=cost.device).expand(cost.shape)
        group = self._process_group(node)
        if group is None:
            current = cost.detach().mean()
        else:
            total, count = distributed.all_sum_and_count(cost.detach().sum(), cost.numel(), group)
            current = (total / count).to(cost.dtype)
        return Prediction(value, update=lambda: self._observe(current))

    def _observe(self, current: torch.Tensor) -> None:
        current = current.to(dtype=self.average.dtype, device=self.average.device)
        blended = torch.lerp(self.average, current, 1 - self.decay)  # decay * average + (1 - decay) * current
        self.average = torch.where(self.count == 0, current, blended)
        self.count += 1
