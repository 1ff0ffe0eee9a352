"""scikit-learn's bundled 8x8 handwritten digits (1797 images), split 1297 / 250 / 250 (fixed permutation).

The images are read from the file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``, as
its ``load_digits`` does) without importing scikit-learn, and their pixel values checked by SHA-256.
"""

from __future__ import annotations

import numpy as np
import torch

from scgrad.data.files import package_file, verify_sha256
from scgrad.data.splits import Splits

DISTRIBUTION = "scikit-learn"
MEMBER = "sklearn/datasets/data/digits.csv.gz"
INSTALL = ".venv/bin/pip install scikit-learn==1.9.1 (or bash scripts/setup.sh, which does it)"
SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"  # of the 1797 x 64 pixels as uint8
VALID, TEST = 250, 250


def load_digits() -> Splits:
    """The digits with intensities scaled to ``[0, 1]``; the split is the same on every machine."""
    table = np.loadtxt(package_file(DISTRIBUTION, MEMBER, INSTALL), delimiter=",", dtype=np.uint8)
    pixels = np.ascontiguousarray(table[:, :-1])  # the last column is the label
    verify_sha256(pixels.tobytes(), SHA256, "scikit-learn's digits")
    images = torch.from_numpy(pixels.astype(np.float32) / 16.0)
    images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))]
    train = len(images) - VALID - TEST
    return Splits(images[:train], images[train:train + VALID], images[train + VALID:])
