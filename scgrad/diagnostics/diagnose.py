"""``scgrad.diagnose``: every applicable estimator on the user's own program, measured side by side."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
import torch.distributions as D
from rich.console import Console, Group
from rich.text import Text
from tqdm import tqdm

from scgrad.diagnostics.assignment import Assignment, applicable, sites
from scgrad.diagnostics.audit import Audit, audit
from scgrad.diagnostics.catalogue import CATALOGUE, Entry
from scgrad.diagnostics.failure import failed, failures, summary
from scgrad.diagnostics.measure import Measurement, cost_elements, estimate, exact_gradient, measure
from scgrad.diagnostics.recommend import recommend, recommended_usage
from scgrad.diagnostics.table import estimator_table
from scgrad.errors import ScgradError

PROGRESS_AFTER = 3.0
"""Seconds after which a diagnosis shows a progress bar (on stderr)."""


@dataclass(frozen=True)
class Row:
    """One estimator's line in a :class:`Diagnosis`.

    ``measurement`` is ``None`` when the estimator could not be run on the program; ``note`` then says
    why: "not applicable" where it refused the program (its :class:`~scgrad.ScgradError`), "failed"
    where running it raised anything else, whose ``traceback`` (from the program's frames on) is kept.
    """

    estimator: str
    biased: bool
    measurement: Measurement | None
    note: str | None = None
    traceback: str | None = None

    def summary(self) -> dict:
        """The row as plain numbers (no tensors), with the keys the estimator table reads."""
        out = {"estimator": self.estimator, "biased": self.biased, "note": self.note, "traceback": self.traceback}
        m = self.measurement
        if m is not None:
            out.update(bias=m.bias, bias_stderr=m.bias_stderr, bias_detected=m.bias_detected, variance=m.variance,
                       snr=m.snr, ms_per_step=m.ms_per_step, evaluations=m.evaluations, objective=m.cost)
        return out


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found; ``print()`` shows it as a table.

    Attributes:
        rows: one :class:`Row` per estimator, in the order tried.
        recommendation: the name of the unbiased estimator with the least variance per second, or ``None``.
        usage: the code that puts the recommended estimator on the program's nodes, or ``None``.
        exact_gradient: the exact gradient (flat) where the program could be enumerated, else ``None``.
        exact_note: why the bias is unknown, or ``None``.
        repeats: the estimates behind each row.
        audit: the program checked against the surrogate's contract (:func:`scgrad.audit`), first; where it
            fails, every estimator that relies on the contract may be biased beyond what the bias column shows.
    """

    rows: list[Row]
    recommendation: str | None
    exact_gradient: torch.Tensor | None
    exact_note: str | None
    repeats: int
    audit: Audit | None = None
    usage: str | None = None

    def __getitem__(self, name: str) -> Row:
        for row in self.rows:
            if row.estimator == name:
                return row
        raise KeyError(f"no estimator {name!r} in this diagnosis; it has {[row.estimator for row in self.rows]}.")

    def __rich__(self):
        title = f"scgrad.diagnose: {self.repeats} gradient estimates per estimator"
        if self.exact_note:
            title += f" (bias unknown: {self.exact_note})"
        rows = [row.summary() for row in self.rows]
        parts = [] if self.audit is None else [Text(str(self.audit))]
        if self.audit is not None and not self.audit.ok and self.recommendation is not None:
            parts.append(Text(f"WARNING: the program fails the audit; the recommendation ({self.recommendation}) "
                              f"assumes the contract the findings above break."))
        parts.append(estimator_table(title, rows, self.recommendation))
        parts += [Text(f"failure of {', '.join(names)}:\n{text}") for names, text in failures(rows)]
        if self.usage is not None:
            parts.append(Text(f"recommended: {self.recommendation}; in your program:\n{self.usage}"))
        return Group(*parts)

    def __str__(self) -> str:
        console = Console(file=io.StringIO(), width=140, color_system=None)
        console.print(self)
        return console.file.getvalue()


def audit_or_note(program, *args) -> Audit:
    """:func:`scgrad.audit` of every node; where the audit itself raises, an :class:`Audit` that says it
    audited nothing and why (so that the measurements still run)."""
    try:
        return audit(program, *args, every_node=True)
    except Exception as error:  # noqa: BLE001 -- the audit re-runs the program at values it may not take
        return Audit(notes=[f"the audit raised {summary(error)}."], replays=False)


def diagnose(program, *args, params, estimators: list[Entry] | None = None, repeats: int = 100,
             warmup: int = 10, seed: int = 0, progress: bool = True) -> Diagnosis:
    """Measure each estimator's gradient of ``params`` on ``program(*args)`` and recommend one.

    Each estimator (a :class:`~scgrad.diagnostics.catalogue.Entry`) replaces the estimator of the
    nodes it applies to; one estimator is made per node and kept for all calls, so moving averages
    settle during ``warmup`` calls and learned parts (critics) are fitted by Adam on their own loss
    throughout. Then ``repeats`` estimates at the same parameters give, per estimator: the bias against
    the exact gradient (by enumeration; unknown where a node can be neither enumerated nor is
    continuous-free), the variance (trace of the covariance), the signal-to-noise ratio, milliseconds
    and cost evaluations per step. The recommendation is the least ``variance * ms_per_step`` among
    estimators that are unbiased by design and showed no bias, given with the code that uses it. First,
    :func:`scgrad.audit` checks the program against the contract the surrogate relies on; its findings
    are printed above the table.

    An estimator that refuses the program (:class:`~scgrad.ScgradError`) is reported as not applicable,
    with its reason; one that raises anything else (a relaxation handing a simplex vector to a program
    that indexes with the value, say) as failed, with the traceback: neither ends the diagnosis.

    Args:
        program, args: the program and its positional arguments, as for :func:`scgrad.surrogate`.
        params: the tensors whose gradient is estimated (e.g. ``model.parameters()``); their ``.grad``
            is left untouched.
        estimators: entries to compare; default: every entry of ``CATALOGUE`` that applies to the program.
            An estimator given explicitly that cannot serve the program gets a row saying why.
        repeats: estimates per estimator (at least 2).
        warmup: calls before measuring, for estimators with state.
        seed: seeds torch's generator for the run; the caller's random state is restored afterwards.
        progress: show a progress bar (on stderr) once the run has taken more than ``PROGRESS_AFTER`` seconds.
    """
    params = list(params)
    if repeats < 2:
        raise ScgradError(f"diagnose: repeats must be at least 2 to measure a variance; got {repeats}.")
    if not params or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        raise ScgradError("diagnose: params must be a non-empty list of tensors that require grad, e.g. model.parameters().")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        checked = audit_or_note(program, *args)
        found = sites(program, *args)
        reference = cost_elements(program, *args)
        exact, exact_note = exact_gradient(program, args, params)
        tried = CATALOGUE if estimators is None else estimators
        rows = []
        with tqdm(tried, desc="scgrad.diagnose", unit="estimator", delay=PROGRESS_AFTER, leave=False,
                  disable=not progress) as bar:
            for entry in bar:
                bar.set_postfix_str(entry.name, refresh=False)
                reason = applicable(entry, found)
                if reason is None:
                    rows.append(_diagnose_one(entry, program, args, params, repeats, warmup, reference, exact, found))
                elif estimators is not None:
                    rows.append(Row(entry.name, entry.biased, None, f"not applicable: {reason}"))
    best = recommend(row.summary() for row in rows)
    return Diagnosis(rows, best, exact, exact_note, repeats, checked, recommended_usage(best, tried, found))


def _diagnose_one(entry: Entry, program, args, params, repeats, warmup, reference, exact_gradient,
                  found: dict[str, D.Distribution]) -> Row:
    assignment = Assignment(entry)
    try:
        assignment.prepare(program, *args)
        learned = list(assignment.parameters())
        fit = torch.optim.Adam(learned, lr=1e-2) if learned else None
        with assignment:
            for _ in range(warmup):
                estimate(program, args, params, fit)
            measurement = measure(program, args, params, repeats, reference, exact_gradient, fit)
    except ScgradError as error:
        return Row(entry.name, entry.biased, None, f"not applicable: {error}")
    except Exception as error:  # noqa: BLE001 -- one estimator's fault must not end the diagnosis
        return Row(entry.name, entry.biased, None, *failed(error, entry, found))
    return Row(entry.name, entry.biased, measurement)
