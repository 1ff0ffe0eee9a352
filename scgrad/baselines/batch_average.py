"""The mean downstream cost of the other, independent elements of the batch."""

from __future__ import annotations

from math import prod

from scgrad.baselines.base import Baseline, Prediction
from scgrad.errors import ScgradError


class BatchAverage(Baseline):
    """Baseline ``b_i = `` mean downstream cost over the elements independent of element ``i``.

    Element ``j`` counts for ``i`` when they differ along a dimension on which no downstream cost
    mixes elements (each data point's cost depends on its own samples only). Elements that share a
    cost with ``i`` are left out, so ``b_i`` never depends on ``i``'s sample and the estimator stays
    unbiased. Stateless.
    """

    def forward(self, node, downstream) -> Prediction:
        cost, independent = downstream.cost, downstream.independent_dims
        if not independent:
            raise ScgradError(
                f"BatchAverage on node {node.name!r}: every element of its log-prob (shape "
                f"{tuple(cost.shape)}) shares a downstream cost with every other, so no element is "
                f"independent of another. Keep one cost element per data point, or use LeaveOneOut() with "
                f"num_samples >= 2, or MovingAverage()."
            )
        shared = [d for d in range(-cost.dim(), 0) if d not in independent]
        same = cost.sum(shared, keepdim=True) if shared else cost
        count_same = prod(cost.shape[d] for d in shared)
        value = (cost.sum() - same) / (cost.numel() - count_same)
        return Prediction(value.expand(cost.shape))
