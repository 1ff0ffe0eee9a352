"""An exponential moving average of past downstream costs."""

from __future__ import annotations

import torch

from scgrad import distributed
from scgrad.baselines.base import Baseline, Prediction
from scgrad.errors import ScgradError


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

    Per element (``per_element=True``): one average per element of the node's downstream cost, as
    Pyro keeps one baseline per site and plate element, for costs whose elements are the same data
    points at every call (a fixed dataset or batch, element ``i`` always data point ``i``): a data point
    whose cost is far from the others' is then not compared with their mean. The ``num_samples`` draws
    of a node are pooled (one average per data point, updated with the mean over its draws), since
    they are alike. The first call fixes the shape (``average`` then has the cost's shape, the draws'
    dim kept as 1, and lives on the costs' device); a later cost of another shape, or nodes of other
    shapes sharing the baseline, are refused, naming the node and both shapes. Read before it is
    updated, as the scalar average is: unbiased. Not with ``group`` (each process keeps the averages of
    its own data points).

    Args:
        decay: weight of the old average, in ``[0, 1)``.
        group: ``None``, ``scgrad.distributed.WORLD`` or a ``torch.distributed.ProcessGroup``.
        per_element: one average per element of the downstream cost, instead of one scalar.
    """

    def __init__(self, decay: float = 0.9, group=None, per_element: bool = False):
        super().__init__(group)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"MovingAverage(decay={decay!r}): decay must lie in [0, 1).")
        if per_element and group is not None:
            raise ValueError(
                "MovingAverage(per_element=True, group=...): the per-element averages belong to this process's "
                "own data points; leave group=None (each rank keeps those of its own), or use per_element=False "
                "(one scalar average shared by the ranks)."
            )
        self.decay = decay
        self.per_element = per_element
        self.register_buffer("average", torch.zeros(()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._pending: list[tuple[int, torch.Tensor]] = []  # (node order, cost) read but not yet absorbed
        self._prediction: tuple | None = None  # (average, shape, the average expanded to that shape)

    def forward(self, node, downstream) -> Prediction:
        cost = downstream.cost.detach()
        group = self._process_group(node)
        if group is not None:
            total, count = distributed.all_sum_and_count(cost.sum(), cost.numel(), group)
            cost = (total / count).to(cost.dtype)
        if self._pending and node.order <= self._pending[-1][0]:
            # Left by a build that failed before its updates. (Stale costs a later node of the next build
            # would not reveal are absorbed with it: a baseline of past costs, still unbiased.)
            self._pending.clear()
        if self.per_element:
            if node.sample_dim is not None:  # a node's draws are alike: one average per data point
                cost = cost.mean(node.sample_dim, keepdim=True)
            self._check_shape(node, downstream.cost.shape, cost.shape)
        self._pending.append((node.order, cost))
        return Prediction(self._predict(downstream.cost), update=self._absorb_per_element if self.per_element else self._absorb)

    def _check_shape(self, node, cost_shape, shape) -> None:
        """Refuse per-element costs of another shape than those the averages were kept for."""
        kept = self._pending[-1][1].shape if self._pending else self.average.shape
        if shape == kept or not (self._pending or bool(self.count)):
            return
        pooled = f" (its {node.num_samples} draws pooled: {tuple(shape)})" if node.sample_dim is not None else ""
        raise ScgradError(
            f"MovingAverage(per_element=True) on node {node.name!r}: the downstream cost has shape {tuple(cost_shape)}"
            f"{pooled}, but this baseline keeps one average per element of shape {tuple(kept)}, and element i must be "
            f"the same data point at every call. Keep the batch fixed (drop or pad an uneven last batch, e.g. "
            f"DataLoader(drop_last=True)), give nodes of other shapes a MovingAverage of their own, or use "
            f"MovingAverage() (one scalar average)."
        )

    def _predict(self, cost: torch.Tensor) -> torch.Tensor:
        """The average in the cost's shape: one view of the buffer, shared by the nodes of a build.

        A view follows the buffer when it changes in place (``load_state_dict``); a copy in another dtype
        or device would not, so it is made anew at each call, as it is under ``torch.compile``.
        """
        average = self.average
        if torch.compiler.is_compiling() or average.dtype != cost.dtype or average.device != cost.device:
            return average.to(dtype=cost.dtype, device=cost.device).expand(cost.shape)
        made = self._prediction
        if made is None or made[0] is not average or made[1] != cost.shape:
            made = self._prediction = (average, cost.shape, average.expand(cost.shape))
        return made[2]

    def _absorb(self) -> None:
        """Fold every cost read since the last update into the average, in the order the nodes read them.

        The nodes of one build that share this baseline all read the average first (their updates run
        once every node has its prediction), so their updates are applied together, at the first call:
        the mean costs ``c_1..c_n`` of ``n`` nodes (over every rank's elements with ``group``) give
        ``decay**n * average + (1 - decay) * sum_i decay**(n - i) * c_i``, or, with no history, the same
        sum started from ``c_1``: what ``n`` updates one by one give.
        """
        if not self._pending:
            return
        costs = _means([cost for _, cost in self._pending]).to(dtype=self.average.dtype, device=self.average.device)
        self._pending.clear()
        n = costs.shape[0]
        if n == 1:  # one node per build (a baseline of its own): the update as one lerp
            started, fresh = torch.lerp(self.average, costs[0], 1 - self.decay), costs[0]
        else:
            powers = self.decay ** torch.arange(n - 1, -1, -1, dtype=costs.dtype, device=costs.device)
            weighted = (1 - self.decay) * powers * costs
            started = self.decay**n * self.average + weighted.sum()
            fresh = self.decay ** (n - 1) * costs[0] + weighted[1:].sum()
        self.average = torch.where(self.count == 0, fresh, started)
        self.count += n

    def _absorb_per_element(self) -> None:
        """:meth:`_absorb` element by element: the same closed form, over the pending costs stacked."""
        if not self._pending:
            return
        costs = torch.stack([cost for _, cost in self._pending])
        self._pending.clear()
        if self.average.device != costs.device and not bool(self.count):  # a fresh baseline moves to the costs
            self.average, self.count = self.average.to(costs.device), self.count.to(costs.device)
        costs = costs.to(dtype=self.average.dtype, device=self.average.device)
        n = costs.shape[0]
        powers = self.decay ** torch.arange(n - 1, -1, -1, dtype=costs.dtype, device=costs.device)
        weighted = (1 - self.decay) * powers.reshape((n,) + (1,) * (costs.dim() - 1)) * costs
        started = self.decay**n * self.average + weighted.sum(0)
        fresh = self.decay ** (n - 1) * costs[0] + weighted[1:].sum(0)
        self.average = torch.where(self.count == 0, fresh, started)
        self.count += n

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A per-element average takes the shape of the one it is loaded from (its own is fixed by its first cost)."""
        saved = state_dict.get(prefix + "average")
        if self.per_element and isinstance(saved, torch.Tensor) and saved.shape != self.average.shape:
            self.average = torch.zeros(saved.shape, dtype=self.average.dtype, device=self.average.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _means(costs: list[torch.Tensor]) -> torch.Tensor:
    """``[c.mean() for c in costs]`` as one tensor; one reduction when several costs share a shape.

    A single cost takes its own ``mean()``, which sums a broadcast view in the order the one-by-one update
    always did (a stacked copy would sum it in another, and move the average by rounding).
    """
    if len(costs) > 1 and all(cost.shape == costs[0].shape for cost in costs):
        return torch.stack(costs).reshape(len(costs), -1).mean(1)
    return torch.stack([cost.mean() for cost in costs])
