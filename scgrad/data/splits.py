"""What a dataset loader returns."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Splits(NamedTuple):
    """Train, validation and test images, flattened, intensities in ``[0, 1]`` (``float32``, ``[N, pixels]``).

    Binarise them dynamically (a fresh ``torch.bernoulli`` draw each time an image is used), as the
    discrete-VAE literature does.
    """

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
