"""scikit-learn's bundled 8x8 handwritten digits (1797 images), split 1297 / 250 / 250 (fixed permutation)."""

from __future__ import annotations

import numpy as np
import torch

from scgrad.data.splits import Splits, verify_sha256
from scgrad.errors import ScgradError

SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"  # of the 1797 x 64 pixel values (0..16) as uint8 bytes
VALID, TEST = 250, 250


def load_digits() -> Splits:
    """The digits with intensities scaled to ``[0, 1]``; the split is the same on every machine.

    Needs scikit-learn (``pip install scikit-learn``, the ``data`` extra), which ships the images: nothing
    is downloaded.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise ScgradError(
            "the digits dataset comes with scikit-learn, which is not installed; run bash scripts/setup.sh "
            "or .venv/bin/pip install 'scikit-learn==1.9.1'."
        ) from error
    pixels = sklearn_digits().data.astype(np.uint8)
    verify_sha256(pixels.tobytes(), SHA256, "scikit-learn's digits")
    images = torch.from_numpy(pixels.astype(np.float32) / 16.0)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    images = images[order]
    train = len(images) - VALID - TEST
    return Splits(images[:train], images[train:train + VALID], images[train + VALID:])
