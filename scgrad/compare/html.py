"""``report.html`` of ``scgrad compare``: the report in one self-contained page, plots embedded (base64)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from scgrad.compare.plots import OBJECTIVE_PNG, VARIANCE_PNG
from scgrad.compare.report import COLUMNS, cells, explanation, recommendation_text
from scgrad.diagnostics.failure import failures

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f0f0f0; } td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.recommended td { background: #e8f5e9; font-weight: bold; } tr.unmeasured td { color: #777; }
td.note { max-width: 32em; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.audit-failed { color: #b00020; font-weight: bold; }
"""


def html(results: dict, out: Path) -> str:
    """The page for a ``results.json`` dictionary, with the plots that :func:`~scgrad.compare.plots.plot`
    wrote in ``out`` embedded (a plot that is missing is left out)."""
    settings = ", ".join(f"{key} {value}" for key, value in results["settings"].items())
    audit = results.get("audit")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>scgrad compare: {escape(results['problem'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>scgrad compare: {escape(results['problem'])}</h1>",
        f"<p><b>Setup:</b> {escape(results['setup'])}.<br><b>Settings:</b> {escape(settings)}.</p>",
    ]
    if audit is not None:
        parts.append(f'<pre class="{"" if audit["ok"] else "audit-failed"}">{escape(audit["text"])}</pre>')
    parts += [f"<p>{escape(explanation(results))}</p>", _table(results),
              f"<p>{recommendation_text(results, lambda name: f'<strong>{escape(name)}</strong>')}</p>"]
    if results.get("usage"):
        parts.append(f"<pre>{escape(results['usage'])}</pre>")
    for names, text in failures(results["estimators"]):
        parts += [f"<h2>Failure of {escape(', '.join(names))}</h2>", f"<pre>{escape(text)}</pre>"]
    for name, alt in ((VARIANCE_PNG, "gradient variance over training"), (OBJECTIVE_PNG, "objective against wall time")):
        path = out / name
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts += [f"<h2>{escape(alt.capitalize())}</h2>", f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">']
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _table(results: dict) -> str:
    head = "".join(f"<th>{escape(heading)}</th>" for heading in ("estimator", *(h for _, h, _ in COLUMNS), "note"))
    lines = ["<table>", f"<tr>{head}</tr>"]
    for row in results["estimators"]:
        kind = "recommended" if row["estimator"] == results["recommendation"] else "unmeasured" if row["note"] else ""
        numbers = "".join(f'<td class="number">{escape(cell)}</td>' for cell in cells(row))
        lines.append(f'<tr class="{kind}"><td>{escape(row["estimator"])}</td>{numbers}'
                     f'<td class="note">{escape(row["note"] or "")}</td></tr>')
    lines.append("</table>")
    return "\n".join(lines)
