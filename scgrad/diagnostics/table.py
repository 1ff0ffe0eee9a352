"""The table of estimators that ``diagnose`` and ``scgrad compare`` print."""

from __future__ import annotations

from typing import Iterable, Mapping

from rich.table import Table

COLUMNS = (  # key, heading
    ("estimator", "estimator"),
    ("biased", "biased"),
    ("bias", "bias"),
    ("variance", "variance"),
    ("snr", "SNR"),
    ("ms_per_step", "ms/step"),
    ("evaluations", "evals/step"),
    ("objective", "objective"),
)


def _format(key: str, value) -> str:
    if value is None:
        return "unknown" if key == "bias" else "-"
    if key == "biased":
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def estimator_table(title: str, rows: Iterable[Mapping], recommended: str | None) -> Table:
    """A rich table, one row per estimator; the recommended one is marked, skipped ones give their reason.

    A row is a mapping with the keys of :data:`COLUMNS` (missing columns are left out) and ``note``
    (why an estimator was not measured, or ``None``; the column shows only when some row has one). A
    measured bias beyond noise shows with ``!``.
    """
    rows = list(rows)
    keys = [(key, heading) for key, heading in COLUMNS if any(key in row for row in rows)]
    notes = any(row.get("note") for row in rows)
    table = Table(title=title, caption="* recommended: least variance x time among the unbiased")
    for key, heading in keys:
        table.add_column(heading, justify="left" if key == "estimator" else "right", no_wrap=True)
    if notes:
        table.add_column("note", overflow="fold")
    for row in rows:
        cells = []
        for key, _ in keys:
            cell = _format(key, row.get(key))
            if key == "estimator" and row["estimator"] == recommended:
                cell += " *"
            if key == "bias" and row.get("bias_detected"):
                cell += " !"
            cells.append(cell)
        table.add_row(*cells, *([row.get("note") or ""] if notes else []))
    return table
