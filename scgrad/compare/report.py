"""``report.md`` of ``scgrad compare``: the setup, the table, the recommendation and the plots."""

from __future__ import annotations

from scgrad.compare.plots import OBJECTIVE_PNG, VARIANCE_PNG

COLUMNS = (  # key, heading, format
    ("biased", "biased", lambda v: "yes" if v else "no"),
    ("bias", "bias", lambda v: "unknown" if v is None else f"{v:.3g}"),
    ("variance", "variance", lambda v: "-" if v is None else f"{v:.4g}"),
    ("snr", "SNR", lambda v: "-" if v is None else f"{v:.3g}"),
    ("ms_per_step", "ms/step", lambda v: "-" if v is None else f"{v:.2f}"),
    ("evaluations", "evals/step", lambda v: "-" if v is None else f"{v:.3g}"),
    ("objective", "objective", lambda v: "-" if v is None else f"{v:.4f}"),
)


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
        "Variance is the trace of the covariance of the measured parameters' gradient over "
        f"{settings['repeats']} estimates on a fixed batch after the last step; SNR is |mean| / sqrt(variance); "
        "bias is |mean - exact| where the exact gradient is known (`!`: beyond noise); ms/step is training "
        "wall time; evals/step counts cost evaluations per data point; objective is the problem's objective "
        "after training (lower is better).",
        "",
        "| estimator | " + " | ".join(heading for _, heading, _ in COLUMNS) + " | note |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for row in results["estimators"]:
        cells = [fmt(row[key]) + (" !" if key == "bias" and row["bias_detected"] else "") for key, _, fmt in COLUMNS]
        note = (row["note"] or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {row['estimator']} | " + " | ".join(cells) + f" | {note} |")
    recommendation = results["recommendation"]
    audit = results.get("audit")
    warning = "" if audit is None or audit["ok"] else " **Warning: the program fails the audit above; this assumes the contract it breaks.**"
    lines += [
        "",
        f"Recommended: **{recommendation}** (least variance x time among the unbiased).{warning}" if recommendation
        else "No unbiased estimator was measured; no recommendation.",
        "",
        f"![gradient variance over training]({VARIANCE_PNG})",
        "",
        f"![objective against wall time]({OBJECTIVE_PNG})",
        "",
    ]
    return "\n".join(lines)


def _audit_lines(audit: dict | None) -> list[str]:
    """The audit's summary and findings, as a paragraph and a list."""
    if audit is None:
        return []
    head, *items = audit["text"].splitlines()
    return [f"Audit (`scgrad.audit`, before training): {head.removeprefix('audit: ')}.", "", *items, *([""] if items else [])]
