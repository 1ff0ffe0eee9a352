"""Which estimator to use: the least variance per second of compute among the unbiased ones."""

from __future__ import annotations

from typing import Iterable, Mapping


def recommend(rows: Iterable[Mapping]) -> str | None:
    """The name of the row with the smallest ``variance * ms_per_step`` among the unbiased ones.

    Averaging ``n`` estimates divides the variance by ``n``, so an estimator that takes ``t`` seconds
    per step reaches variance ``variance * t`` in one second: the product is what a second of compute
    buys. A row counts when it was measured (``variance`` and ``ms_per_step`` are numbers), is not
    biased by design (``biased``) and showed no bias where the bias was measured (``bias_detected``).
    Estimators without variance (``variance == 0``, exact enumeration) win whenever they apply.
    Returns ``None`` when no row counts.
    """
    candidates = [
        row for row in rows
        if row.get("variance") is not None and row.get("ms_per_step") is not None
        and row["variance"] == row["variance"]  # not NaN
        and not row.get("biased") and not row.get("bias_detected")
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda row: row["variance"] * row["ms_per_step"])["estimator"]
