"""``scgrad.diagnose``: every applicable estimator on the user's own program, measured side by side."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from rich.console import Console, Group
from rich.text import Text

from scgrad.diagnostics.assignment import Assignment, applicable, sites
from scgrad.diagnostics.audit import Audit, audit
from scgrad.diagnostics.catalogue import CATALOGUE, Entry
from scgrad.diagnostics.measure import Measurement, cost_elements, estimate, exact_gradient, measure
from scgrad.diagnostics.recommend import recommend
from scgrad.diagnostics.table import estimator_table
from scgrad.errors import ScgradError


@dataclass(frozen=True)
class Row:
    """One estimator's line in a :class:`Diagnosis`.

    ``measurement`` is ``None`` when the estimator could not be run on the program; ``note`` then says why.
    """

    estimator: str
    biased: bool
    measurement: Measurement | None
    note: str | None = None

    def summary(self) -> dict:
        """The row as plain numbers (no tensors), with the keys the estimator table reads."""
        out = {"estimator": self.estimator, "biased": self.biased, "note": self.note}
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

    def __getitem__(self, name: str) -> Row:
        for row in self.rows:
            if row.estimator == name:
                return row
        raise KeyError(f"no estimator {name!r} in this diagnosis; it has {[row.estimator for row in self.rows]}.")

    def __rich__(self):
        title = f"scgrad.diagnose: {self.repeats} gradient estimates per estimator"
        if self.exact_note:
            title += f" (bias unknown: {self.exact_note})"
        table = estimator_table(title, [row.summary() for row in self.rows], self.recommendation)
        if self.audit is None:
            return table
        lines = [Text(str(self.audit))]
        if not self.audit.ok and self.recommendation is not None:
            lines.append(Text(f"WARNING: the program fails the audit; the recommendation ({self.recommendation}) "
                              f"assumes the contract the findings above break."))
        return Group(*lines, table)

    def __str__(self) -> str:
        console = Console(file=io.StringIO(), width=140, color_system=None)
        console.print(self)
        return console.file.getvalue()


def diagnose(program, *args, params, estimators: list[Entry] | None = None, repeats: int = 100,
             warmup: int = 10, seed: int = 0) -> Diagnosis:
    """Measure each estimator's gradient of ``params`` on ``program(*args)`` and recommend one.

    Each estimator (a :class:`~scgrad.diagnostics.catalogue.Entry`) replaces the estimator of the
    nodes it applies to; one estimator is made per node and kept for all calls, so moving averages
    settle during ``warmup`` calls and learned parts (critics) are fitted by Adam on their own loss
    throughout. Then ``repeats`` estimates at the same parameters give, per estimator: the bias against
    the exact gradient (by enumeration; unknown where a node can be neither enumerated nor is
    continuous-free), the variance (trace of the covariance), the signal-to-noise ratio, milliseconds
    and cost evaluations per step. The recommendation is the least ``variance * ms_per_step`` among
    estimators that are unbiased by design and showed no bias. First, :func:`scgrad.audit` checks the
    program against the contract the surrogate relies on; its findings are printed above the table.

    Args:
        program, args: the program and its positional arguments, as for :func:`scgrad.surrogate`.
        params: the tensors whose gradient is estimated (e.g. ``model.parameters()``); their ``.grad``
            is left untouched.
        estimators: entries to compare; default: every entry of ``CATALOGUE`` that applies to the program.
            An estimator given explicitly that cannot serve the program gets a row saying why.
        repeats: estimates per estimator (at least 2).
        warmup: calls before measuring, for estimators with state.
        seed: seeds torch's generator for the run; the caller's random state is restored afterwards.
    """
    params = list(params)
    if repeats < 2:
        raise ScgradError(f"diagnose: repeats must be at least 2 to measure a variance; got {repeats}.")
    if not params or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        raise ScgradError("diagnose: params must be a non-empty list of tensors that require grad, e.g. model.parameters().")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        checked = audit(program, *args, every_node=True)
        found = sites(program, *args)
        reference = cost_elements(program, *args)
        exact, exact_note = exact_gradient(program, args, params)
        rows = []
        for entry in CATALOGUE if estimators is None else estimators:
            reason = applicable(entry, found)
            if reason is None:
                rows.append(_diagnose_one(entry, program, args, params, repeats, warmup, reference, exact))
            elif estimators is not None:
                rows.append(Row(entry.name, entry.biased, None, f"not applicable: {reason}"))
    return Diagnosis(rows, recommend(row.summary() for row in rows), exact, exact_note, repeats, checked)


def _diagnose_one(entry: Entry, program, args, params, repeats, warmup, reference, exact_gradient) -> Row:
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
        return Row(entry.name, entry.biased, None, f"failed: {error}")
    return Row(entry.name, entry.biased, measurement)
