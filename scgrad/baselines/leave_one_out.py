"""The mean downstream cost of the other draws of the same node (RLOO)."""

from __future__ import annotations

from scgrad import distributed
from scgrad.baselines.base import Baseline, Prediction, mixing_costs
from scgrad.errors import ScgradError


class LeaveOneOut(Baseline):
    """Baseline ``b_k = `` mean downstream cost of the other ``num_samples - 1`` draws.

    Requires ``num_samples >= 2`` and costs that keep the sample dimension (each draw's cost depends on
    that draw only); for costs that combine the draws (e.g. an IWAE bound) use VIMCO instead.
    Stateless.

    Across processes: with ``group`` (a ``torch.distributed`` process group, or
    ``scgrad.distributed.WORLD`` for the default one), the ``N`` ranks' draws of the same data points
    count as one pool: ``b_k`` is the mean over the other ``N * num_samples - 1`` draws of every rank,
    as one process drawing ``N * num_samples`` would compute it (one all-reduce of the per-draw sum of
    the downstream cost, after a check that the log-prob has the same shape on every rank; a
    mismatch raises on every rank). Use it when each rank draws samples for the same batch; when ranks
    hold different data (plain data parallelism) each data point's draws are on one rank, so leave
    ``group=None``. ``num_samples=1`` per rank is enough when ``N >= 2``. With DDP, the averaged
    gradient is the single-process one on all ``N * num_samples`` draws (see :mod:`scgrad.distributed`).
    ``None`` (default): no communication.

    Paper: Kool, van Hoof & Welling 2019 ("Buy 4 REINFORCE samples, get a baseline for free!").

    Args:
        group: ``None``, ``scgrad.distributed.WORLD`` or a ``torch.distributed.ProcessGroup``.
    """

    needs_independence = True

    def __init__(self, group=None):
        super().__init__(group)

    def forward(self, node, downstream) -> Prediction:
        count = node.num_samples
        group = self._process_group(node)
        if count is None or (count < 2 and group is None):
            raise ScgradError(
                f"LeaveOneOut on node {node.name!r} needs several draws to leave one out, but the node was "
                f"drawn with num_samples={count}; pass num_samples >= 2 to scgrad.sample, or use MovingAverage()."
            )
        if node.sample_dim not in downstream.independent_dims and downstream.cost.shape[node.sample_dim] > 1:
            raise ScgradError(
                f"LeaveOneOut on node {node.name!r}: {mixing_costs(downstream, [node.sample_dim])} depends on its "
                f"{count} draws together (lacking its sample dim {node.sample_dim} of log-prob shape "
                f"{tuple(downstream.cost.shape)}), so the other draws' costs are not independent of each draw. For a "
                f"cost that combines the draws (an IWAE bound), use ScoreFunction(VIMCO(log_weights)). For a cost "
                f"computed without {node.name!r} (an analytic KL), make sure it is not computed from its value: scgrad "
                f"follows the value through torch operations, and takes every later cost as dependent once the value "
                f"has left torch (.item(), .numpy(), a Python branch) or under torch.compile; or record that cost "
                f"before sampling {node.name!r}."
            )
        cost = downstream.cost
        axis = cost.dim() + node.sample_dim
        total = cost.sum(axis, keepdim=True)
        if group is not None:
            distributed.require_same_shape(
                cost, group, f"LeaveOneOut on node {node.name!r}: the log-prob",
                "Leaving one out across ranks needs the same num_samples and the same batch on every rank "
                "(each rank draws for the same data points); drop or pad an uneven last batch.",
            )
            total = distributed.all_sum(total, group)
            count = count * distributed.size(group)
            if count < 2:
                raise ScgradError(
                    f"LeaveOneOut on node {node.name!r} needs several draws to leave one out, but its process group "
                    f"holds {count} in all; pass num_samples >= 2 to scgrad.sample, or use MovingAverage()."
                )
        value = (total - cost) / (count - 1)
        return Prediction(value)
