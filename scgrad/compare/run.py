"""``scgrad compare``: every estimator trains the same model on the same data; results, report and plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from scgrad.compare import checkpoint
from scgrad.compare.html import html
from scgrad.compare.plots import plot
from scgrad.compare.problem import Problem
from scgrad.compare.report import markdown
from scgrad.compare.train import Settings, train
from scgrad.diagnostics.assignment import applicable, sites
from scgrad.diagnostics.diagnose import audit_or_note
from scgrad.diagnostics.catalogue import Entry
from scgrad.diagnostics.failure import failed
from scgrad.diagnostics.recommend import recommend, recommended_usage
from scgrad.errors import ScgradError

CONFIG, RESULTS, REPORT, HTML = "config.json", "results.json", "report.md", "report.html"


class Progress(NamedTuple):
    """What :func:`compare` yields as it trains: ``estimator`` has done ``step`` steps; it is the
    ``index``-th (from 1) of the ``total`` estimators that train."""

    estimator: str
    step: int
    index: int
    total: int


def compare(problem: Problem, entries: Sequence[Entry], settings: Settings, out: Path, resume: bool = False,
            skip_inapplicable: bool = True) -> Iterator[Progress]:
    """Train ``problem`` with each entry in turn, yielding a :class:`Progress` after every step.

    Writes ``out/results.json`` (``"estimators"``: one row per estimator with ``estimator``, ``biased``,
    ``variance``, ``snr``, ``bias`` (``None`` where unknown), ``ms_per_step`` (the median training step,
    so that one-off start-up costs do not count), ``evaluations``, ``objective``, ``train_objective``,
    ``note`` (why it was not measured), ``traceback`` (of its failure, from the program's frames on)
    and the ``history`` of measurements; ``"audit"``: the problem's program checked by
    :func:`scgrad.audit` before training; ``"recommendation"`` and its ``"usage"``, the code that puts
    it on the nodes), ``out/report.md``, ``out/report.html`` and the plots when every estimator is done.
    Per-estimator checkpoints live in ``out/checkpoints/``; with ``resume`` a run with the same
    configuration continues from them (an interrupted run gives the same final numbers as an
    uninterrupted one, timings aside), and without it they are discarded.

    An estimator that needs more draws (``Entry.draws``) than ``settings.samples`` is "not applicable",
    as is one that refuses the program (:class:`~scgrad.ScgradError`) before its first step; any
    other error while training one "failed" in its row, with the traceback, and the run goes on with
    the next. Entries meant for none of the problem's distributions are left out when
    ``skip_inapplicable``, else reported with the reason.
    """
    out.mkdir(parents=True, exist_ok=True)
    folder = out / "checkpoints"
    folder.mkdir(exist_ok=True)
    config = {"problem": problem.name, "estimators": [e.name for e in entries], "settings": vars(settings)}
    _start(out / CONFIG, folder, config, resume)
    setup = problem.describe()  # before training: a problem that cannot describe itself fails at once

    probe = (problem.program, problem.model(), problem.probe(settings.seed), settings.samples)
    found = sites(*probe)
    checked = audit_or_note(*probe)
    rows: dict[str, dict] = {}
    trained = []
    for entry in entries:
        reason = applicable(entry, found)
        if reason is None and settings.samples < (entry.draws or 1):
            rows[entry.name] = _row(entry, None, f"not applicable: needs at least {entry.draws} draws per data point "
                                                 f"(num_samples) and this run has {settings.samples}; run scgrad "
                                                 f"compare with --samples {entry.draws} or more")
        elif reason is None:
            trained.append(entry)
        elif not skip_inapplicable:
            rows[entry.name] = _row(entry, None, f"not applicable: {reason}")
    for index, entry in enumerate(trained, 1):
        path = folder / f"{entry.name}.pt"
        step = None
        try:
            for step in train(problem, entry, settings, path):
                yield Progress(entry.name, step, index, len(trained))
        except ScgradError as error:
            refused = "not applicable" if step is None else f"failed after step {step}"
            rows[entry.name] = _row(entry, None, f"{refused}: {error}")
        except Exception as error:  # noqa: BLE001 -- one estimator's fault must not end the others' runs
            where = "" if step is None else f" after step {step}"
            rows[entry.name] = _row(entry, None, *failed(error, entry, found, where))
        else:
            rows[entry.name] = _row(entry, checkpoint.load(path), None)
    ordered = [rows[entry.name] for entry in entries if entry.name in rows]

    best = recommend(ordered)
    results = {"problem": problem.name, "setup": setup, "settings": vars(settings),
               "objective_label": problem.objective_label,
               "audit": {"ok": checked.ok, "findings": checked.findings, "notes": checked.notes, "text": str(checked)},
               "recommendation": best, "usage": recommended_usage(best, entries, found),
               "estimators": ordered}
    checkpoint.write_json(results, out / RESULTS)
    plot(results, out)
    checkpoint.write_text(markdown(results), out / REPORT)
    checkpoint.write_text(html(results, out), out / HTML)


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


def _row(entry: Entry, state: dict | None, note: str | None, traceback: str | None = None) -> dict:
    row = {"estimator": entry.name, "biased": entry.biased, "note": note, "traceback": traceback, "variance": None,
           "snr": None, "bias": None, "bias_detected": None, "ms_per_step": None, "evaluations": None,
           "objective": None, "train_objective": None, "history": []}
    if state is not None:
        last = state["history"][-1]
        row.update({key: last[key] for key in ("variance", "snr", "bias", "bias_detected", "evaluations",
                                               "objective", "train_objective")})
        row["ms_per_step"] = 1000 * statistics.median(state["durations"])
        row["history"] = state["history"]
    return row


def measured(rows: Sequence[dict]) -> bool:
    """Whether any estimator of a run was measured (the others failed or did not apply)."""
    return any(row["note"] is None for row in rows)


def results(out: Path) -> dict:
    """The ``results.json`` that :func:`compare` wrote in ``out``."""
    return json.loads((out / RESULTS).read_text())
