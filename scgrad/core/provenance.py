"""Exact dependency tracking: tensors that carry the names of the nodes they were computed from.

Opt in with ``with scgrad.provenance(): obj = scgrad.surrogate(...)``. Each sampled value then
carries its node's name (and those its distribution's parameters came from); every torch operation
unites the names of its inputs, so a cost knows exactly which nodes it depends on. The surrogate then
gives each node credit only for the costs it influences (Rao-Blackwellised), instead of every cost
recorded after it. The price is a Python-level hook on every torch call that touches a tracked value.

Without ``provenance()``, the surrogate still tracks the values of the nodes whose estimators ask for
it (``Estimator.wants_dependencies``: enumeration, leave-one-out and batch-average baselines), so that
a cost computed without them is not counted as theirs.

A dependency that leaves torch is lost to the tracking, so every way out that ``__torch_function__``
sees is caught where it happens (an *escape*): reading a value in Python (``item``, ``tolist``,
``numpy``, ``int``, ``float``, ``bool``, ``__index__``, ``torch.equal``...), shapes that depend on values
(``nonzero``, ``unique``, masking by a tracked boolean tensor), and in-place writes of tracked values
into a tensor that does not carry them (``buf[0] = b``, ``torch.add(..., out=buf)``) or into a view of
one. The handler recording the program decides what an escape means (see ``GraphRecorder``): an error
naming the node under ``provenance()``, a fall-back to time order for the node otherwise. Reads made by
``torch.distributions`` to validate their arguments are not escapes. What ``__torch_function__`` cannot
see is not caught: an in-place write into a tensor's storage through a view taken before it carried
the value, raw storage and pointer access outside torch, custom C++ code reading the data directly.
``scgrad.audit`` checks the dependencies a program really has by substitution.
"""

from __future__ import annotations

import torch
from torch.utils._pytree import tree_flatten, tree_map

from scgrad.core import runtime
from scgrad.core.callers import validating
from scgrad.core.call_kinds import IN_PLACE, PYTHON_READS, REDUCTION, VALUE_SHAPES, WATCHED, kind_of
from scgrad.core.collapsed import check_reduction


class ProvenanceTensor(torch.Tensor):
    """A ``torch.Tensor`` that also carries ``provenance``: a frozenset of node names.

    ``_view`` notes whether the tensor it wraps is a view of another (an in-place write into it that adds
    provenance would reach that other tensor unseen).
    """

    @staticmethod
    def __new__(cls, data: torch.Tensor, provenance: frozenset):
        if not provenance:
            return data
        out = data.as_subclass(cls)
        out._provenance = provenance
        out._view = data._is_view()  # a view of another tensor, which an in-place write would change unseen
        return out

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if cls is not ProvenanceTensor:  # a subclass's call (:mod:`scgrad.core.outcome_dims`): its checks, then this
            return cls._checked_call(func, name, args, kwargs)
        kind = kind_of(name)
        if kind or kwargs:
            return _hooked_call(cls, func, name, kind, args, kwargs or {})
        # The common call: nothing to watch and positional arguments only. Unless one is a container (then the
        # general path), the result carries the union of their provenance; a fresh one tagged in place (no alias,
        # so no extra autograd node).
        provenance = _NOTHING
        for arg in args:
            if isinstance(arg, cls):
                if not arg._provenance <= provenance:
                    provenance = arg._provenance if not provenance else provenance | arg._provenance
            elif isinstance(arg, _CONTAINERS):
                return _hooked_call(cls, func, name, kind, args, {})
        with torch._C.DisableTorchFunctionSubclass():  # torch's own ops on the data, results plain tensors
            result = func(*args)
        if type(result) is torch.Tensor and name != "__get__" and not _among(result, args):
            return _tag(result, provenance)  # the common result, without the rest of _wrap's questions
        return _wrap(result, provenance, args if name != "__get__" else None)

    def __repr__(self) -> str:
        return f"ProvenanceTensor({strip(self)!r}, provenance={set(self._provenance)})"


_NOTHING = frozenset()
_CONTAINERS = (list, tuple, dict)


def _hooked_call(cls, func, name: str, kind: int, args, kwargs: dict):
    """:meth:`ProvenanceTensor.__torch_function__` for any call: escapes checked, reductions over collapsed
    dims marked, containers of arguments opened, results tagged (see :func:`_wrap`)."""
    flat = not kwargs and not any(isinstance(arg, _CONTAINERS) for arg in args)  # the arguments are their own leaves
    leaves = args if flat else list(_leaves(args, kwargs))
    provenance = _NOTHING
    for leaf in leaves:
        if isinstance(leaf, cls) and not leaf._provenance <= provenance:
            provenance = provenance | leaf._provenance
    target = _written(kind, args, kwargs)
    if kind & WATCHED or target is not None:
        _check_escape(func, name, args, target, provenance)
    if kind & REDUCTION:
        mixed = check_reduction(name, args, kwargs, provenance, validating)
        provenance = provenance if mixed is None else provenance | {mixed}
    with torch._C.DisableTorchFunctionSubclass():  # torch's own ops on the data, results plain tensors
        result = func(*args, **kwargs)
    if isinstance(target, ProvenanceTensor):
        target._provenance = target._provenance | provenance
    # A fresh result is tagged in place; one that is an argument (``x.type_as(y)``, an attribute) is wrapped
    # in an alias, so the caller's tensor stays as it was.
    return _wrap(result, provenance, leaves if name != "__get__" else None)


def _leaves(args, kwargs):
    """The arguments of a call, with lists, tuples and dicts of them opened (the pytree's leaves)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple)):
            if any(isinstance(item, (list, tuple, dict)) for item in value):
                yield from tree_flatten(value)[0]
            else:
                yield from value
        elif isinstance(value, dict):
            yield from tree_flatten(value)[0]
        else:
            yield value


_AS_THEY_ARE = (ProvenanceTensor, bool, int, float, complex, str, type(None), torch.dtype, torch.device)  # tagged, or no tensor


def _wrap(result, provenance: frozenset, inputs):
    """A call's results carrying ``provenance`` (a tensor already carrying it, written in place, as it is).

    A result that is none of ``inputs`` (the call's arguments; ``None``: treat every result as
    possibly held elsewhere) is made a :class:`ProvenanceTensor` in place: no alias, so no extra node in
    the autograd graph. Any other is wrapped in an alias (:class:`ProvenanceTensor` itself).
    """
    if isinstance(result, _AS_THEY_ARE):
        return result
    if isinstance(result, torch.Tensor):
        if inputs is None or _among(result, inputs):
            return ProvenanceTensor(result, provenance)
        return _tag(result, provenance)
    if isinstance(result, (list, tuple)):
        if not any(isinstance(item, torch.Tensor) for item in result):  # a shape, a list of numbers
            return result
        if type(result) in (list, tuple):
            return type(result)(_wrap(item, provenance, inputs) if isinstance(item, torch.Tensor) else item for item in result)
    return tree_map(lambda out: _wrap(out, provenance, inputs) if isinstance(out, torch.Tensor) else out, result)


def _tag(result: torch.Tensor, provenance: frozenset) -> torch.Tensor:
    """``result``, a fresh tensor (no argument of the call), made a :class:`ProvenanceTensor` carrying ``provenance``
    in place."""
    view = result._is_view()
    result.__class__ = ProvenanceTensor
    result._provenance, result._view = provenance, view
    return result


def _among(result, inputs) -> bool:
    for given in inputs:
        if result is given:
            return True
    return False


def _written(kind: int, args, kwargs):
    """The tensor an in-place call (of :func:`~scgrad.core.call_kinds.kind_of` ``kind``) writes into, or ``None``
    for an out-of-place call."""
    if "out" in kwargs:
        return kwargs["out"]
    if kind & IN_PLACE and args and isinstance(args[0], torch.Tensor):
        return args[0]
    return None


def _check_escape(func, name: str, args, target, provenance: frozenset) -> None:
    """Report to the recording handler a call through which tracked values leave the tracking."""
    how = None
    if name in PYTHON_READS:
        how = f"read in Python ({_call(func, name)})"
    elif name in VALUE_SHAPES:
        how = f"made into a shape ({_call(func, name)}: the shape of its result depends on the values)"
    elif name == "__getitem__" and any(
        isinstance(index, ProvenanceTensor) and strip(index).dtype in (torch.bool, torch.uint8) for index in _leaves(args[1:], {})
    ):
        how = "made into a shape (indexing with a boolean mask computed from them)"
    elif isinstance(target, torch.Tensor):
        held = provenance_of(target)
        if not held:
            how = f"written in place into a tensor that does not carry them ({_call(func, name)})"
        elif target._view and not provenance <= held:
            how = f"written in place into a view of another tensor ({_call(func, name)}), whose base would not carry them"
    if how is None or validating():
        return
    for handler in runtime.handlers():
        report = getattr(handler, "provenance_escaped", None)
        if report is not None:
            report(provenance, how)
            return


def _call(func, name: str) -> str:
    owner = "torch.Tensor." if "Tensor" in getattr(func, "__qualname__", "") else "torch."
    return f"{owner}{name}"


def strip(value):
    """The plain ``torch.Tensor`` under a :class:`ProvenanceTensor`; anything else unchanged."""
    if isinstance(value, ProvenanceTensor):
        return value.as_subclass(torch.Tensor)
    return value


def with_provenance(tensor: torch.Tensor, names: frozenset) -> torch.Tensor:
    """``tensor`` carrying ``names`` besides its own provenance: for values that come back into torch from
    outside it (an environment's step) and depend on the nodes named."""
    return ProvenanceTensor(strip(tensor), provenance_of(tensor) | names)


def provenance_of(value) -> frozenset:
    """Node names a tensor (or a distribution, through its tensors and transforms) was computed from."""
    if isinstance(value, ProvenanceTensor):
        return value._provenance
    if isinstance(value, (torch.distributions.Distribution, torch.distributions.transforms.Transform)):
        return _object_provenance(value, set())
    return frozenset()


def _object_provenance(obj, seen: set) -> frozenset:
    """The provenance of every tensor a distribution or transform holds, through nested ones."""
    if id(obj) in seen:
        return frozenset()
    seen.add(id(obj))
    found = frozenset()
    for attr in vars(obj).values():
        items = attr if isinstance(attr, (list, tuple)) else attr.values() if isinstance(attr, dict) else (attr,)
        for item in items:
            if isinstance(item, ProvenanceTensor):
                found |= item._provenance
            elif isinstance(item, (torch.distributions.Distribution, torch.distributions.transforms.Transform)):
                found |= _object_provenance(item, seen)
    return found


class provenance(runtime.Handler):
    """Ask ``surrogate`` to track exact dependencies (see the module's docstring).

    Under it, a value of a node that leaves torch (see the module's docstring) raises
    :class:`~scgrad.ScgradError` naming the node, rather than losing the dependency in silence.
    """
