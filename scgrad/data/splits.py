"""What a dataset loader returns, and the checksum every loader verifies."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import torch

from scgrad.errors import ScgradError


class Splits(NamedTuple):
    """Train, validation and test images, flattened, intensities in ``[0, 1]`` (``float32``, ``[N, pixels]``).

    Binarise them dynamically (a fresh ``torch.bernoulli`` draw each time an image is used), as the
    discrete-VAE literature does.
    """

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor


def verify_sha256(content: bytes | Path, expected: str, what: str) -> None:
    """Raise :class:`~scgrad.ScgradError` unless the SHA-256 of ``content`` (bytes, or a file) is ``expected``."""
    digest = hashlib.sha256(content.read_bytes() if isinstance(content, Path) else content).hexdigest()
    if digest != expected:
        raise ScgradError(
            f"{what}: SHA-256 {digest} does not match the expected {expected}; the data differ from the "
            f"version scgrad was tested with. Reinstall it (bash scripts/setup.sh)."
        )
