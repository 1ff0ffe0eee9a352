"""Checking estimators: exact gradients by enumeration, and side-by-side measurements of estimators."""

from scgrad.diagnostics.catalogue import CATALOGUE, Entry
from scgrad.diagnostics.diagnose import Diagnosis, diagnose
from scgrad.diagnostics.exact import exact

__all__ = ["CATALOGUE", "Diagnosis", "Entry", "diagnose", "exact"]
