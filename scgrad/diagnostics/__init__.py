"""Checking estimators: exact gradients by enumeration."""

from scgrad.diagnostics.exact import exact

__all__ = ["exact"]
