"""The mean downstream cost of the other, independent elements of the batch."""

from __future__ import annotations

from math import prod

from scgrad import distributed
from scgrad.baselines.base import Baseline, Prediction, mixing_costs
from scgrad.errors import ScgradError


class BatchAverage(Baseline):
    """Baseline ``b_i = `` mean downstream cost over the elements independent of element ``i``.

    Element ``j`` counts for ``i`` when they differ along a dimension on which no downstream cost
    mixes elements (each data point's cost depends on its own samples only). Elements that share a
    cost with ``i`` are left out, so ``b_i`` never depends on ``i``'s sample and the estimator stays
    unbiased. Stateless.

    Across processes: with ``group`` (a ``torch.distributed`` process group, or
    ``scgrad.distributed.WORLD`` for the default one), every element of the other ranks' batches counts
    too, so ``b_i`` is the mean over the independent elements of all ranks, as one process holding the
    concatenated batches would compute it (one all-reduce of the sum and the count; the ranks' batches
    may differ in size, but DDP's averaged gradient equals the single-process one only when they do not,
    see :mod:`scgrad.distributed`). It suits plain data parallelism (each rank its own data) as well as
    ranks that draw samples for the same data. The costs on a rank must depend on that rank's samples
    only. ``None`` (default): no communication.

    Args:
        group: ``None``, ``scgrad.distributed.WORLD`` or a ``torch.distributed.ProcessGroup``.
    """

    needs_independence = True

    def __init__(self, group=None):
        super().__init__(group)

    def forward(self, node, downstream) -> Prediction:
        cost, independent = downstream.cost, downstream.independent_dims
        group = self._process_group(node)
        if not independent and group is None:
            raise ScgradError(
                f"BatchAverage on node {node.name!r}: every element of its log-prob (shape "
                f"{tuple(cost.shape)}) shares a downstream cost with every other "
                f"({mixing_costs(downstream, list(range(-cost.dim(), 0)))} reduces over its dims), so no element is "
                f"independent of another. Keep one cost element per data point, or use LeaveOneOut() with "
                f"num_samples >= 2, or MovingAverage()."
            )
        shared = [d for d in range(-cost.dim(), 0) if d not in independent]
        same = cost.sum(shared, keepdim=True) if shared else cost
        count_same = prod([cost.shape[d] for d in shared])  # a list: torch.compile cannot pass a generator to math.prod
        total, count = cost.sum(), cost.numel()
        if group is not None:
            total, count = distributed.all_sum_and_count(total, count, group)
            total, count = total.to(cost.dtype), count.to(cost.dtype)
            if not independent and int(count) == count_same:  # only then can no other element exist
                raise ScgradError(
                    f"BatchAverage on node {node.name!r}: the other ranks of its process group hold no element and "
                    f"every element here (log-prob shape {tuple(cost.shape)}) shares a downstream cost with every "
                    f"other, so no element is independent of another. Keep one cost element per data point, or use "
                    f"MovingAverage()."
                )
        value = (total - same) / (count - count_same)
        return Prediction(value.expand(cost.shape))
