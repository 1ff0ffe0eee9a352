"""Exact dependency tracking: tensors that carry the names of the nodes they were computed from.

Opt in with ``with scgrad.provenance(): obj = scgrad.surrogate(...)``. Each sampled value then
carries its node's name (and those its distribution's parameters came from); every torch operation
unites the names of its inputs, so a cost knows exactly which nodes it depends on. The surrogate then
gives each node credit only for the costs it influences (Rao-Blackwellised), instead of every cost
recorded after it. The price is a Python-level hook on every torch call while the program runs.
"""

from __future__ import annotations

import torch
from torch.utils._pytree import tree_flatten, tree_map

from scgrad.core.runtime import Handler


class ProvenanceTensor(torch.Tensor):
    """A ``torch.Tensor`` that also carries ``provenance``: a frozenset of node names."""

    @staticmethod
    def __new__(cls, data: torch.Tensor, provenance: frozenset):
        if not provenance:
            return data
        out = data.as_subclass(cls)
        out._provenance = provenance
        return out

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        leaves, _ = tree_flatten((args, kwargs))
        provenance = frozenset().union(*(provenance_of(leaf) for leaf in leaves))
        args, kwargs = tree_map(strip, (args, kwargs))
        result = func(*args, **kwargs)
        return tree_map(lambda out: ProvenanceTensor(out, provenance) if isinstance(out, torch.Tensor) else out, result)

    def __repr__(self) -> str:
        return f"ProvenanceTensor({strip(self)!r}, provenance={set(self._provenance)})"


def strip(value):
    """The plain ``torch.Tensor`` under a :class:`ProvenanceTensor`; anything else unchanged."""
    if isinstance(value, ProvenanceTensor):
        return value.as_subclass(torch.Tensor)
    return value


def provenance_of(value) -> frozenset:
    """Node names a tensor (or a distribution, through its tensors) was computed from."""
    if isinstance(value, ProvenanceTensor):
        return value._provenance
    if isinstance(value, torch.distributions.Distribution):
        return _distribution_provenance(value, set())
    return frozenset()


def _distribution_provenance(dist, seen: set) -> frozenset:
    if id(dist) in seen:
        return frozenset()
    seen.add(id(dist))
    found = frozenset()
    for attr in vars(dist).values():
        items = attr if isinstance(attr, (list, tuple)) else (attr,)
        for item in items:
            if isinstance(item, ProvenanceTensor):
                found |= item._provenance
            elif isinstance(item, torch.distributions.Distribution):
                found |= _distribution_provenance(item, seen)
    return found


class provenance(Handler):
    """Ask ``surrogate`` to track exact dependencies (see the module's docstring)."""
