"""``scgrad compare``: every estimator trains the same model on the same data; results, report and plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Iterator, Sequence

from scgrad.compare import checkpoint
from scgrad.compare.plots import plot
from scgrad.compare.problem import Problem
from scgrad.compare.report import markdown
from scgrad.compare.train import Settings, train
from scgrad.diagnostics.assignment import applicable, sites
from scgrad.diagnostics.audit import audit
from scgrad.diagnostics.catalogue import Entry
from scgrad.diagnostics.recommend import recommend
from scgrad.errors import ScgradError

CONFIG, RESULTS, REPORT = "config.json", "results.json", "report.md"


def compare(problem: Problem, entries: Sequence[Entry], settings: Settings, out: Path, resume: bool = False,
            skip_inapplicable: bool = True) -> Iterator[tuple[str, int]]:
    """Train ``problem`` with each entry in turn, yielding ``(estimator name, steps done)`` as it goes.

    Writes ``out/results.json`` (``"estimators"``: one row per estimator with ``estimator``, ``biased``,
    ``variance``, ``snr``, ``bias`` (``None`` where unknown), ``ms_per_step`` (the median training step,
    so that one-off start-up costs do not count), ``evaluations``,
    ``objective``, ``train_objective``, ``note`` and the ``history`` of measurements; ``"audit"``: the
    problem's program checked by :func:`scgrad.audit` before training), ``out/report.md``
    and the plots when every estimator is done. Per-estimator checkpoints live in
    ``out/checkpoints/``; with ``resume`` a run with the same configuration continues from them
    (an interrupted run gives the same final numbers as an uninterrupted one, timings aside), and
    without it they are discarded. Entries that apply to none of the problem's nodes are left out
    when ``skip_inapplicable``, else reported with the reason.
    """
    out.mkdir(parents=True, exist_ok=True)
    folder = out / "checkpoints"
    folder.mkdir(exist_ok=True)
    config = {"problem": problem.name, "estimators": [e.name for e in entries], "settings": vars(settings)}
    _start(out / CONFIG, folder, config, resume)

    probe = (problem.program, problem.model(), problem.probe(settings.seed), settings.samples)
    found = sites(*probe)
    checked = audit(*probe, every_node=True)
    rows = []
    for entry in entries:
        reason = applicable(entry, found)
        if reason is not None:
            if not skip_inapplicable:
                rows.append(_row(entry, None, f"not applicable: {reason}"))
            continue
        path = folder / f"{entry.name}.pt"
        try:
            for step in train(problem, entry, settings, path):
                yield entry.name, step
        except ScgradError as error:
            rows.append(_row(entry, None, f"failed: {error}"))
            continue
        rows.append(_row(entry, checkpoint.load(path), None))

    results = {"problem": problem.name, "setup": problem.describe(), "settings": vars(settings),
               "audit": {"ok": checked.ok, "findings": checked.findings, "notes": checked.notes, "text": str(checked)},
               "recommendation": recommend(rows), "estimators": rows}
    checkpoint.write_json(results, out / RESULTS)
    plot(rows, out)
    checkpoint.write_text(markdown(results), out / REPORT)


def _start(config_path: Path, folder: Path, config: dict, resume: bool) -> None:
    if resume and config_path.exists():
        previous = json.loads(config_path.read_text())
        if previous != config:
            raise ScgradError(
                f"--resume: {config_path} was written by a run with another configuration ({previous}); this run "
                f"is {config}. Repeat the earlier command with --resume, or drop --resume to start afresh."
            )
        return
    for stale in folder.glob("*.pt"):
        stale.unlink()
    checkpoint.write_json(config, config_path)


def _row(entry: Entry, state: dict | None, note: str | None) -> dict:
    row = {"estimator": entry.name, "biased": entry.biased, "note": note, "variance": None, "snr": None,
           "bias": None, "bias_detected": None, "ms_per_step": None, "evaluations": None, "objective": None,
           "train_objective": None, "history": []}
    if state is not None:
        last = state["history"][-1]
        row.update({key: last[key] for key in ("variance", "snr", "bias", "bias_detected", "evaluations",
                                               "objective", "train_objective")})
        row["ms_per_step"] = 1000 * statistics.median(state["durations"])
        row["history"] = state["history"]
    return row


def results(out: Path) -> dict:
    """The ``results.json`` that :func:`compare` wrote in ``out``."""
    return json.loads((out / RESULTS).read_text())
