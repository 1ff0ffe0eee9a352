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

# Out-of-place calls that broadcast their tensor arguments from the right and combine them element by element (or
# map one element by element, or expand it): a dim keeps its position, counted from the right, from each argument
# to the result.
ELEMENTWISE = frozenset({
    "neg", "__neg__", "negative", "__pos__", "abs", "__abs__", "exp", "exp2", "expm1", "log", "log2", "log10",
    "log1p", "sqrt", "rsqrt", "square", "reciprocal", "sigmoid", "logit", "tanh", "sin", "cos", "tan", "sinh",
    "cosh", "asin", "acos", "atan", "erf", "erfc", "erfinv", "lgamma", "digamma", "floor", "ceil", "round",
    "trunc", "frac", "sign", "sgn", "relu", "softplus", "logsigmoid", "silu", "gelu", "elu", "leaky_relu",
    "nan_to_num", "isnan", "isinf", "isfinite", "logical_not", "bitwise_not", "__invert__", "float", "double",
    "half", "bfloat16", "long", "int", "bool", "to", "type", "type_as", "clone", "detach", "contiguous",
    "expand", "expand_as", "broadcast_to",
    "add", "__add__", "__radd__", "sub", "__sub__", "__rsub__", "rsub", "subtract", "mul", "__mul__", "__rmul__",
    "multiply", "div", "__truediv__", "__rtruediv__", "divide", "true_divide", "__floordiv__", "__rfloordiv__",
    "floor_divide", "__mod__", "__rmod__", "remainder", "fmod", "pow", "__pow__", "__rpow__", "float_power",
    "where", "eq", "__eq__", "ne", "__ne__", "lt", "__lt__", "le", "__le__", "gt", "__gt__", "ge", "__ge__",
    "maximum", "minimum", "fmax", "fmin", "logaddexp", "logaddexp2", "atan2", "hypot", "copysign", "xlogy",
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "addcmul", "addcdiv", "lerp", "clamp", "clip", "broadcast_tensors",
    "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
})

# Bits of :func:`kind_of`'s answer.
IN_PLACE, WATCHED, REDUCTION = 1, 2, 4


def kind_of(name: str) -> int:
    """The bits of the call named ``name``: ``IN_PLACE`` (it writes into its first argument), ``WATCHED`` (a
    read in Python, a value-dependent shape or indexing, which the hook checks for escapes), ``REDUCTION``."""
    in_place = name in _IN_PLACE_NAMES or (name.endswith("_") and not name.startswith("_"))
    return in_place * IN_PLACE | (name in _WATCHED_NAMES) * WATCHED | (name in REDUCTIONS) * REDUCTION
