"""What a torch call is, by its name, for the provenance hook (:mod:`scgrad.core.provenance`): a read of the data in
Python, a call whose result's shape depends on the data, an in-place write, a reduction. The hook asks once per
call on a tracked value, so the answer is a few set lookups.
"""

from __future__ import annotations

from scgrad.core.collapsed import REDUCTIONS

# Calls whose result leaves torch as a Python value computed from the data.
PYTHON_READS = frozenset({
    "item", "tolist", "numpy", "__array__", "__int__", "__float__", "__bool__", "__index__", "__complex__",
    "__contains__", "__reduce_ex__", "data_ptr", "storage", "untyped_storage", "equal", "allclose",
    "is_nonzero",
})
# Calls whose result's shape depends on the data (a shape is read in Python without a torch call).
VALUE_SHAPES = frozenset({
    "nonzero", "argwhere", "unique", "unique_consecutive", "masked_select", "bincount", "repeat_interleave",
})
_WATCHED_NAMES = PYTHON_READS | VALUE_SHAPES | {"__getitem__"}
# In-place calls that are not named with a trailing underscore.
_IN_PLACE_NAMES = frozenset({
    "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__",
    "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__imatmul__",
})

# Bits of :func:`kind_of`'s answer.
IN_PLACE, WATCHED, REDUCTION = 1, 2, 4


def kind_of(name: str) -> int:
    """The bits of the call named ``name``: ``IN_PLACE`` (it writes into its first argument), ``WATCHED`` (a
    read in Python, a value-dependent shape or indexing, which the hook checks for escapes), ``REDUCTION``."""
    in_place = name in _IN_PLACE_NAMES or (name.endswith("_") and not name.startswith("_"))
    return in_place * IN_PLACE | (name in _WATCHED_NAMES) * WATCHED | (name in REDUCTIONS) * REDUCTION
