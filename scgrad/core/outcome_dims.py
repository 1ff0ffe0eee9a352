"""Values of enumerated nodes, which know where their outcomes lie: a tensor lining a dim of its own up with them
is refused where the two meet.

Enumerate lays a node's outcomes on a dim left of every batch dim in use when it draws the node. A tensor the
program holds from elsewhere (data, a parameter) may have more dims than scgrad has seen, and one of them can sit
at that position with the outcomes' size (a data batch ``[2, 3]`` meeting a ``Bernoulli`` of batch ``[3]`` with
two outcomes). Broadcast with the value, its elements pair with the outcomes, and the cost's dim is then summed as
the node's outcomes: a wrong number with the shape it would have had anyway. So an enumerated node's value is an
:class:`OutcomeTensor`, which knows the position of each of its outcome dims in its own shape (counted from the
right, its event dims included). An elementwise call (:data:`~scgrad.core.call_kinds.ELEMENTWISE`, broadcasting
from the right, so a position holds from each argument to the result) refuses an argument that is not computed
from the node and has a dim larger than 1 at one of those positions, and its result knows the positions in turn.
Any other call (a matmul, an index, a reshape, a reduction) may move dims: its result is a plain
:class:`~scgrad.core.provenance.ProvenanceTensor`, no longer checked. A markov loop's values, whose steps reuse
dims by design, are not made outcome tensors.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from scgrad.core.call_kinds import ELEMENTWISE
from scgrad.core.callers import from_scgrad
from scgrad.core.provenance import ProvenanceTensor, _among, provenance_of, strip
from scgrad.errors import ScgradError


class OutcomeDim(NamedTuple):
    """Node ``node``'s ``size`` outcomes lie at dim ``position`` (negative) of the tensor that knows it."""

    position: int
    size: int
    node: str


class OutcomeTensor(ProvenanceTensor):
    """A :class:`~scgrad.core.provenance.ProvenanceTensor` that also knows ``_outcomes``: where the outcome dims of the
    enumerated nodes it varies along lie in its shape (a tuple of :class:`OutcomeDim`)."""

    @staticmethod
    def of(value: torch.Tensor, provenance: frozenset, outcomes: tuple) -> ProvenanceTensor:
        """``value`` carrying ``provenance`` and knowing ``outcomes`` (those it has the size of)."""
        out = ProvenanceTensor(strip(value), provenance)
        return _knowing(out, outcomes) if type(out) is ProvenanceTensor else out

    @classmethod
    def _checked_call(cls, func, name: str, args, kwargs):
        """The provenance hook's call (``ProvenanceTensor.__torch_function__`` hands it here) with the check of
        :func:`_met` first; a fresh result of an elementwise call knows the outcome dims it still has the size of."""
        outcomes = _met(name, args)
        result = ProvenanceTensor.__torch_function__(func, (), args, kwargs)
        if outcomes and type(result) is ProvenanceTensor and not _among(result, args):
            _knowing(result, outcomes)
        return result


def _met(name: str, args) -> tuple:
    """The outcome dims the arguments of an elementwise call know, after refusing an argument that lines a dim of its
    own up with one of them; ``()`` for any other call."""
    if name not in ELEMENTWISE:
        return ()
    known = {outcome for arg in args if isinstance(arg, OutcomeTensor) for outcome in arg._outcomes}
    for arg in args:
        if not isinstance(arg, torch.Tensor):
            continue
        held, shape = provenance_of(arg), _shape(arg)
        for outcome in known:
            suspect = outcome.node not in held and len(shape) >= -outcome.position and shape[outcome.position] > 1
            # scgrad's own estimators draw noise in the shape of a value's parameters: not the program's tensor
            if suspect and not from_scgrad() and _varies(arg, outcome.position):
                raise ScgradError(
                    f"torch.{name} combines the value of enumerated node {outcome.node!r}, whose {outcome.size} "
                    f"outcomes lie at dim {outcome.position}, with a tensor of shape {tuple(shape)} not computed from "
                    f"{outcome.node!r}, of size {shape[outcome.position]} at that dim. Enumerate lays a node's outcomes "
                    f"on the first dim left of the batch dims in use when it draws the node; this tensor has a dim of "
                    f"its own there, whose elements would pair with the outcomes and be summed as them: a wrong "
                    f"number. Draw {outcome.node!r} from a distribution with a leading size-1 batch dim for each dim "
                    f"of this tensor left of {outcome.node!r}'s own (dist.expand([1, ..., *dist.batch_shape])), so that "
                    f"its outcomes lie left of them; or record a cost or node with those dims before drawing it. If the "
                    f"tensor was made in the shape of a value (torch.randn(v.shape)), make it from the value itself "
                    f"(torch.randn_like(v), x.expand_as(v)), so that it is seen to be computed from it."
                )
    return tuple(known)


def _knowing(tensor: ProvenanceTensor, outcomes: tuple) -> ProvenanceTensor:
    """``tensor``, a fresh :class:`~scgrad.core.provenance.ProvenanceTensor`, made an :class:`OutcomeTensor` in place
    knowing those of ``outcomes`` at whose position it has their size (left as it is where it has none)."""
    shape = _shape(tensor)
    kept = tuple(o for o in outcomes if len(shape) >= -o.position and shape[o.position] == o.size)
    if kept:
        tensor.__class__ = OutcomeTensor
        tensor._outcomes = kept
    return tensor


def _varies(tensor: torch.Tensor, dim: int) -> bool:
    """Whether ``tensor`` differs along ``dim`` (a tensor equal along it pairs every outcome with the same values,
    as a size-1 dim would: zeros made in a value's shape, an expanded tensor)."""
    with torch._C.DisableTorchFunctionSubclass():
        if tensor.stride(dim) == 0:
            return False
        return bool((tensor != tensor.narrow(dim, 0, 1)).any())


def _shape(tensor: torch.Tensor) -> torch.Size:
    """``tensor.shape``, read without the provenance hook."""
    with torch._C.DisableTorchFunctionSubclass():  # asked of a tracked tensor, not through its hook
        return tensor.shape
