"""Checking estimators: exact gradients by enumeration, and side-by-side measurements of estimators."""

from scgrad.diagnostics.audit import Audit, audit
from scgrad.diagnostics.catalogue import CATALOGUE, Entry
from scgrad.diagnostics.diagnose import Diagnosis, diagnose
from scgrad.diagnostics.exact import Exact, exact

__all__ = ["Audit", "CATALOGUE", "Diagnosis", "Entry", "Exact", "audit", "diagnose", "exact"]
