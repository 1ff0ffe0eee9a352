"""Data files that installed packages ship: found through the package's metadata, checked by SHA-256."""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path

from scgrad.errors import ScgradError


def package_file(distribution: str, member: str, install: str) -> Path:
    """The installed file ``member`` (a path inside the package, e.g. ``mnist/data/mnist.pkl.gz``) of
    ``distribution``; a :class:`~scgrad.ScgradError` that says ``install`` if it is not there. The
    package's code is never imported."""
    try:
        installed = files(distribution) or []
    except PackageNotFoundError:
        installed = []
    for candidate in installed:
        if candidate.as_posix().endswith(member):
            path = Path(candidate.locate())
            if path.is_file():
                return path
    raise ScgradError(f"{member} not found: it comes with the {distribution} package, which is not installed. "
                      f"Install it with {install}.")


def verify_sha256(content: bytes | Path, expected: str, what: str) -> None:
    """Raise :class:`~scgrad.ScgradError` unless the SHA-256 of ``content`` (bytes, or a file) is ``expected``."""
    digest = hashlib.sha256(content.read_bytes() if isinstance(content, Path) else content).hexdigest()
    if digest != expected:
        raise ScgradError(
            f"{what}: SHA-256 {digest} does not match the expected {expected}; the data differ from the "
            f"version scgrad was tested with. Reinstall it (bash scripts/setup.sh)."
        )
