"""Offline dataset loaders, one file per dataset, each checksummed; nothing is ever downloaded."""

from scgrad.data.digits import load_digits
from scgrad.data.mnist import load_mnist
from scgrad.data.splits import Splits

__all__ = ["Splits", "load_digits", "load_mnist"]
