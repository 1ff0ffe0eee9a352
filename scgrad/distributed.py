"""Baselines across processes: what ``group=`` means, and the few collectives the baselines use.

A baseline built with ``group=`` (LeaveOneOut, BatchAverage, MovingAverage, VIMCO) combines what every
rank of that ``torch.distributed`` process group holds, so ``N`` processes drawing ``S`` samples each
get the baseline of one process drawing ``N * S``. ``group`` is

- ``None`` (the default): no communication, each process on its own;
- :data:`WORLD`: the default group, looked up when the baseline is called (so the baseline can be
  built before ``torch.distributed.init_process_group``);
- any ``torch.distributed.ProcessGroup``, e.g. ``torch.distributed.group.WORLD`` once the process
  group is initialised, or one from ``torch.distributed.new_group``.

Every rank must run the same program (the same nodes with these baselines, in the same order): each
call is a collective. Only detached tensors are communicated; the tensors live on the cost's device,
so the backend must support it (gloo for CPU, nccl for CUDA).

Which gradient the ranks' surrogates give:

- Costs with one element per draw (``[S, *batch]``): each rank's ``loss`` is the mean over its own
  elements, so the *average* of the ranks' gradients (what ``DistributedDataParallel`` computes) is
  the single-process gradient on all ``N * S`` draws, provided every rank has the same number of
  elements.
- A cost that combines the draws of every rank into one value per data point (the IWAE bound that
  VIMCO serves, computed from :func:`gather`): every rank reports the same cost and holds the part of
  its gradient that flows through its own draws, so the *sum* of the ranks' gradients is the
  single-process gradient (with DDP, backpropagate ``world_size * loss``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from scgrad.errors import ScgradError

MAX_DIMS = 64  # the length of the shape descriptor ranks exchange (tensors with more dims are refused)


class _World:
    """The default process group, resolved when used; see :data:`WORLD`."""

    def __repr__(self) -> str:
        return "scgrad.distributed.WORLD"

    def __reduce__(self):
        return "WORLD"

    def __deepcopy__(self, memo):
        return self


WORLD = _World()
"""``group=WORLD``: the default process group of ``torch.distributed``, resolved at each call."""


def check_group(group, owner: str):
    """Return ``group`` if it is ``None``, :data:`WORLD` or a ``ProcessGroup``; raise otherwise."""
    if group is None or group is WORLD or (dist.is_available() and isinstance(group, dist.ProcessGroup)):
        return group
    raise ScgradError(
        f"{owner}(group=...) takes a torch.distributed process group, scgrad.distributed.WORLD (the default "
        f"group) or None (no communication); got {type(group).__name__}."
    )


def resolve(group, owner: str):
    """The ``ProcessGroup`` to communicate over, or ``None`` for no communication."""
    if group is None:
        return None
    if not (dist.is_available() and dist.is_initialized()):
        raise ScgradError(
            f"{owner} was given group={group!r}, but torch.distributed is not initialised; call "
            f"torch.distributed.init_process_group(...) first, or pass group=None to combine nothing across processes."
        )
    return dist.group.WORLD if group is WORLD else group


def size(group) -> int:
    """The number of ranks in ``group`` (a resolved group)."""
    return dist.get_world_size(group)


def rank(group) -> int:
    """This process's rank within ``group`` (a resolved group)."""
    return dist.get_rank(group)


def all_sum(tensor: torch.Tensor, group) -> torch.Tensor:
    """The sum over the ranks of ``group`` of ``tensor`` (detached; same shape on every rank)."""
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return total


def all_sum_and_count(total: torch.Tensor, count: int, group) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum of total, sum of count)`` over the ranks of ``group``, in float64, in one all-reduce."""
    stats = torch.stack([total.detach().double(), total.new_tensor(float(count), dtype=torch.double)])
    return tuple(all_sum(stats, group).unbind())


def shapes(tensor: torch.Tensor, group) -> list[tuple[int, ...]]:
    """The shape of ``tensor`` on each rank of ``group``, in rank order (one small collective)."""
    if tensor.dim() > MAX_DIMS:
        raise ScgradError(f"scgrad.distributed: a tensor of {tensor.dim()} dims; at most {MAX_DIMS} can be combined.")
    mine = torch.full((MAX_DIMS + 1,), -1, dtype=torch.long, device=tensor.device)
    mine[0] = tensor.dim()
    mine[1:tensor.dim() + 1] = torch.tensor(tensor.shape, dtype=torch.long)
    every = [torch.empty_like(mine) for _ in range(size(group))]
    dist.all_gather(every, mine, group=group)
    return [tuple(int(n) for n in row[1:int(row[0]) + 1].tolist()) for row in every]


def require_same_shape(tensor: torch.Tensor, group, what: str, fix: str) -> None:
    """Raise on every rank, naming each rank's shape, unless ``tensor`` has one shape on all ranks."""
    found = shapes(tensor, group)
    if len(set(found)) > 1:
        listed = ", ".join(f"rank {r}: {s}" for r, s in enumerate(found))
        raise ScgradError(f"{what} has a different shape on the ranks of its process group ({listed}). {fix}")


def all_gather(tensor: torch.Tensor, group, what: str, fix: str) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (detached), in rank order, after a check that its shape is the same on all."""
    require_same_shape(tensor, group, what, fix)
    pieces = [torch.empty_like(tensor) for _ in range(size(group))]
    dist.all_gather(pieces, tensor.detach().contiguous(), group=group)
    return pieces


def gather(tensor: torch.Tensor, dim: int = 0, group=WORLD) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along ``dim``, in rank order.

    The gradient flows to this rank's own piece only; the other ranks' pieces are constants. Summing
    the ranks' gradients therefore gives the gradient of the concatenation, as one process would have
    it. Use it to compute a cost that combines the draws of all ranks, e.g. the IWAE bound over every
    rank's log-weights for :class:`~scgrad.VIMCO`. ``tensor`` must have the same shape on every rank.
    """
    group = resolve(group, "scgrad.distributed.gather")
    pieces = all_gather(
        tensor, group, "scgrad.distributed.gather: the tensor",
        "Give it the same shape on every rank (the same num_samples and batch).",
    )
    pieces[rank(group)] = tensor
    return torch.cat(pieces, dim)
