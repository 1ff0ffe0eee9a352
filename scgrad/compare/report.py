"""``report.md`` of ``scgrad compare``: the setup, the table, the recommendation, the failures and the plots."""

from __future__ import annotations

from scgrad.compare.plots import OBJECTIVE_PNG, VARIANCE_PNG
from scgrad.diagnostics.failure import failures

COLUMNS = (  # key, heading, format
    ("biased", "biased", lambda v: "yes" if v else "no"),
    ("bias", "bias", lambda v: "unknown" if v is None else f"{v:.3g}"),
    ("variance", "variance", lambda v: "-" if v is None else f"{v:.4g}"),
    ("snr", "SNR", lambda v: "-" if v is None else f"{v:.3g}"),
    ("ms_per_step", "ms/step", lambda v: "-" if v is None else f"{v:.2f}"),
    ("evaluations", "evals/step", lambda v: "-" if v is None else f"{v:.3g}"),
    ("objective", "objective", lambda v: "-" if v is None else f"{v:.4f}"),
)


def cells(row: dict) -> list[str]:
    """The row's numbers as the report's columns show them (``!`` after a bias beyond noise)."""
    return [fmt(row[key]) + (" !" if key == "bias" and row["bias_detected"] else "") for key, _, fmt in COLUMNS]


def explanation(results: dict) -> str:
    """What the columns mean, for the reports."""
    label = results.get("objective_label") or "the problem's objective (lower is better)"
    return ("Variance is the trace of the covariance of the measured parameters' gradient over "
            f"{results['settings']['repeats']} estimates on a fixed batch after the last step; SNR is "
            "|mean| / sqrt(variance); bias is |mean - exact| where the exact gradient is known (marked ! where "
            "beyond noise); ms/step is training wall time (the median step); evals/step counts cost evaluations per "
            f"data point; objective is {label}, after training.")


def recommendation_text(results: dict, strong=str) -> str:
    """The recommendation in a sentence (without the code that uses it), its name marked by ``strong``."""
    best = results["recommendation"]
    if best is None:
        return "No unbiased estimator was measured; no recommendation."
    warning = "" if results.get("audit") is None or results["audit"]["ok"] else (
        " Warning: the program fails the audit above; this assumes the contract it breaks.")
    return f"Recommended: {strong(best)} (least variance x time among the unbiased).{warning}"


def markdown(results: dict) -> str:
    """The report for a ``results.json`` dictionary."""
    settings = results["settings"]
    lines = [
        f"# scgrad compare: {results['problem']}",
        "",
        f"Setup: {results['setup']}.",
        "",
        "Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()) + ".",
        "",
        *_audit_lines(results.get("audit")),
        explanation(results),
        "",
        "| estimator | " + " | ".join(heading for _, heading, _ in COLUMNS) + " | note |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for row in results["estimators"]:
        note = (row["note"] or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {row['estimator']} | " + " | ".join(cells(row)) + f" | {note} |")
    lines += ["", recommendation_text(results, lambda name: f"**{name}**")]
    if results.get("usage"):
        lines += ["", "```python", results["usage"], "```"]
    for names, text in failures(results["estimators"]):
        lines += ["", f"Failure of {', '.join(names)}:", "", "```", text, "```"]
    lines += [
        "",
        f"![gradient variance over training]({VARIANCE_PNG})",
        "",
        f"![objective against wall time]({OBJECTIVE_PNG})",
        "",
        "The same in one page, plots included: report.html.",
        "",
    ]
    return "\n".join(lines)


def _audit_lines(audit: dict | None) -> list[str]:
    """The audit's summary and findings, as a paragraph and a list."""
    if audit is None:
        return []
    head, *items = audit["text"].splitlines()
    return [f"Audit (`scgrad.audit`, before training): {head.removeprefix('audit: ')}.", "", *items, *([""] if items else [])]
