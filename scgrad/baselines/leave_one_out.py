"""The mean downstream cost of the other draws of the same node (RLOO)."""

from __future__ import annotations

from scgrad.baselines.base import Baseline, Prediction
from scgrad.errors import ScgradError


class LeaveOneOut(Baseline):
    """Baseline ``b_k = `` mean downstream cost of the other ``num_samples - 1`` draws.

    Requires ``num_samples >= 2`` and costs that keep the sample dimension (each draw's cost depends on
    that draw only); for costs that combine the draws (e.g. an IWAE bound) use VIMCO instead.
    Stateless.

    Paper: Kool, van Hoof & Welling 2019 ("Buy 4 REINFORCE samples, get a baseline for free!").
    """

    def forward(self, node, downstream) -> Prediction:
        count = node.num_samples
        if count is None or count < 2:
            raise ScgradError(
                f"LeaveOneOut on node {node.name!r} needs several draws to leave one out, but the node was "
                f"drawn with num_samples={count}; pass num_samples >= 2 to scgrad.sample, or use MovingAverage()."
            )
        if node.sample_dim not in downstream.independent_dims:
            raise ScgradError(
                f"LeaveOneOut on node {node.name!r}: a downstream cost combines its {count} draws (it lacks the "
                f"sample dim {node.sample_dim} of log-prob shape {tuple(downstream.cost.shape)}), so the other "
                f"draws are not independent of each one. Use a multi-sample baseline such as VIMCO, or MovingAverage()."
            )
        cost = downstream.cost
        axis = cost.dim() + node.sample_dim
        value = (cost.sum(axis, keepdim=True) - cost) / (count - 1)
        return Prediction(value)
