"""Checkpoint files, written atomically: a run interrupted at any moment leaves the last one whole."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch


def save(state: dict, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    temporary = path.with_name(path.name + ".partial")
    torch.save(state, temporary)
    os.replace(temporary, path)


LAZY = [torch.nn.parameter.UninitializedParameter, torch.nn.parameter.UninitializedBuffer]
"""What a lazy module (``nn.LazyLinear``) not yet run holds: allowed in a checkpoint, which may be
written before an estimator's lazy network has seen its first input."""


def load(path: Path) -> dict | None:
    """What :func:`save` wrote at ``path``, or ``None`` if there is nothing."""
    if not path.exists():
        return None
    with torch.serialization.safe_globals(LAZY):
        return torch.load(path, weights_only=True)


def write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically."""
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_json(value, path: Path) -> None:
    """Write ``value`` as indented, strict JSON to ``path`` atomically (infinities and NaN become ``null``)."""
    write_text(json.dumps(_finite(value), indent=2, allow_nan=False) + "\n", path)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
