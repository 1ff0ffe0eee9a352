"""Who makes a torch call the provenance hook sees: the program, a distribution validating its arguments, or
scgrad's own estimators.

Reads of a value that a distribution makes to check its parameters or a sample (``constraint.check(...).all()``)
are not escapes, and its normalisations and event sums are not the program's reductions. An estimator's own
computations with a node's parameters (noise drawn in their shape) are not the program's either.
"""

from __future__ import annotations

import os
import sys

import torch

# Code that reads parameters and values in Python only to validate them.
_VALIDATING = ("torch/distributions/", "pyro/distributions/", "torch\\distributions\\", "pyro\\distributions\\")
_CORE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the hook's own frames, and the checks it calls
_SCGRAD = os.path.dirname(_CORE.rstrip(os.sep)) + os.sep
_TORCH = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def validating() -> bool:
    """Whether the Python code making the call (the first frame outside ``scgrad/core``, where the hook and its
    checks run) is a distribution checking its arguments."""
    frame = _first_frame_outside(_CORE)
    filename = frame.f_code.co_filename if frame is not None else ""
    return any(part in filename for part in _VALIDATING)


def from_scgrad() -> bool:
    """Whether the call comes from scgrad's own code (an estimator drawing), directly or through torch's (a
    distribution it builds): the first frame outside the hook and outside torch is in the ``scgrad`` package."""
    frame = _first_frame_outside((_CORE, _TORCH))
    return frame is not None and frame.f_code.co_filename.startswith(_SCGRAD)


def _first_frame_outside(prefixes):
    """The innermost frame of the caller's stack whose file is under none of ``prefixes`` (``None`` if none)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(prefixes):
        frame = frame.f_back
    return frame
