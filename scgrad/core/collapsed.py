"""Reductions over the batch elements of an enumerated node whose value broadcasts: refused as they happen.

An enumerated value has size 1 on its node's batch (and sample) dims: every element takes each outcome
along the node's own dim, so the program computes each outcome once and broadcasts. A cost that sums
over those elements would mix their outcomes; with the value expanded the cost's shape showed it, but
a reduction of a size-1 dim (``sum(-1, keepdim=True)``) leaves the shape as it was. So the values carry
a :class:`Collapsed` mark; a reduction of a tensor carrying one, over a dim at one of those positions,
marks its result :class:`Mixed`, and a cost or a node's distribution computed from it is refused,
naming both. Positions count from the right, as the program's batch
dims do; a tensor is taken to have no event dims (and is checked) when its rank is the number of batch
and enumeration dims in use, and a dim whose size is neither 1 nor the node's is not its batch dim.
"""

from __future__ import annotations

from typing import NamedTuple

from scgrad.core import runtime
from scgrad.errors import CombinedDrawsError

REDUCTIONS = frozenset({
    "sum", "mean", "nansum", "nanmean", "prod", "logsumexp", "amax", "amin", "max", "min", "aminmax", "std", "var",
    "std_mean", "var_mean", "norm", "vector_norm", "median", "nanmedian", "mode", "argmax", "argmin", "cumsum",
    "cumprod", "logcumsumexp", "cummax", "cummin", "softmax", "log_softmax", "count_nonzero", "any", "all",
})
_DIM_AT = {"norm": 2, "vector_norm": 2}  # the positional index of ``dim`` where it is not 1


class Collapsed(NamedTuple):
    """A provenance entry: computed from enumerated node ``node``, whose value has size 1 at the
    ``(position, elements)`` of ``dims`` (its batch dims, and ``sample`` for its ``num_samples`` draws)."""

    node: str
    dims: tuple
    sample: int | None


class Mixed(NamedTuple):
    """A provenance entry: computed by ``reduction`` over dim ``position`` (of a tensor of ``shape``), which
    combined the ``elements`` elements (draws, where ``draws``) of node ``node`` whose outcomes share one dim."""

    node: str
    reduction: str
    position: int
    shape: tuple
    elements: int
    draws: bool


def check_reduction(name: str, args, kwargs, provenance: frozenset, validating) -> Mixed | None:
    """The :class:`Mixed` mark of a reduction (:data:`REDUCTIONS`) over a collapsed batch dim of a node in
    ``provenance``, else ``None``. The mark travels with the result and is refused where it reaches a cost
    or a node (:func:`refuse_mixed`), so that the error can name both.

    ``validating()``: whether the code calling the reduction is a distribution's own (its normalisations and
    event sums are not the program's reductions). Called from the provenance hook's general path.
    """
    marks = [mark for mark in provenance if isinstance(mark, Collapsed)]
    if not marks or not args or validating():
        return None
    tensor, dims = args[0], _reduced_dims(name, args, kwargs)
    if dims is None or not hasattr(tensor, "dim") or tensor.dim() != _depth():
        return None
    rank = tensor.dim()
    for dim in dims:
        position = dim - rank if dim >= 0 else dim
        for mark in marks:
            for at, elements in mark.dims:
                if at == position and tensor.shape[position] in (1, elements):
                    return Mixed(mark.node, name, position, tuple(tensor.shape), elements, position == mark.sample)
    return None


def _reduced_dims(name: str, args, kwargs):
    at = _DIM_AT.get(name, 1)
    dim = kwargs.get("dim", args[at] if len(args) > at else None)
    if isinstance(dim, bool) or dim is None:
        return None  # every dim (the result loses the enumeration dims, refused when it is recorded), or no dim
    if isinstance(dim, int):
        return (dim,)
    if isinstance(dim, (tuple, list)) and all(isinstance(d, int) and not isinstance(d, bool) for d in dim):
        return tuple(dim)
    return None  # torch.max(a, b) and the like: elementwise


def _depth() -> int | None:
    for handler in runtime.handlers():
        layout = getattr(handler, "layout", None)
        if layout is not None:
            return layout.depth
    return None


def refuse_mixed(what: str, name: str, shape, provenance) -> None:
    """Raise :class:`~scgrad.CombinedDrawsError` if ``provenance`` (of ``what`` ``name``: a cost, or the
    distribution of a node) holds a :class:`Mixed` mark."""
    if not provenance:
        return
    mixed = [mark for mark in provenance if isinstance(mark, Mixed)]
    if not mixed:
        return
    label = f"{what} {name!r}"
    mark = min(mixed)
    what = f"its {mark.elements} draws (num_samples)" if mark.draws else f"its {mark.elements} batch elements"
    raise CombinedDrawsError(
        f"{label} (shape {tuple(shape)}) is computed with torch.{mark.reduction} over dim {mark.position} of a tensor "
        f"of shape {mark.shape} from enumerated node {mark.node!r}, which combines {what}: under Enumerate every "
        f"element takes each outcome along one shared dim, and the node's value broadcasts (size 1 on dim "
        f"{mark.position}), so this would mix their outcomes and give a wrong number. Keep one cost element per "
        f"element (reduce over event dims only, e.g. a likelihood's pixels)"
        + ("; to combine draws, use Enumerate(each_draw=True)" if mark.draws else "")
        + f"; or declare the dims as one event with D.Independent (enumerated jointly), or use ScoreFunction() for "
        f"{mark.node!r}. If dim {mark.position} of that tensor is not the node's batch dim, reduce it before the "
        f"tensor meets the node's value."
    )
