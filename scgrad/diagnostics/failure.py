"""An estimator's failure as a report shows it: a one-line summary, the traceback from the user's code on, and
the failures of a table grouped by traceback."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Iterable, Mapping

import torch.distributions as D

import scgrad
from scgrad.diagnostics.catalogue import Entry, discrete

PACKAGE = Path(scgrad.__file__).resolve().parent


def summary(error: BaseException) -> str:
    """The exception as Python's last traceback line prints it (``IndexError: ...``), on one line."""
    return " ".join("".join(traceback.format_exception_only(error)).split())


def relaxed_hint(entry: Entry, found: dict[str, D.Distribution]) -> str:
    """Where ``entry`` is a relaxation of some of the discrete nodes ``found`` (its estimator is pathwise),
    a note that those nodes get a relaxed value, the likely cause of an error in a program written for
    samples; else ``""``."""
    relaxed = [name for name, dist in found.items() if entry.applies(dist) and discrete(dist) and entry.make(dist).pathwise]
    if not relaxed:
        return ""
    names = ", ".join(repr(name) for name in relaxed)
    return (f" (node {names} gets a relaxed value, e.g. a simplex vector, not a sample)" if len(relaxed) == 1 else
            f" (nodes {names} get relaxed values, e.g. simplex vectors, not samples)")


def failed(error: BaseException, entry: Entry, found: dict[str, D.Distribution],
           where: str = "") -> tuple[str, str]:
    """The ``(note, traceback)`` of a row whose estimator raised ``error`` (not a refusal): ``failed``,
    ``where`` (e.g. " after step 3"), the one-line summary and :func:`relaxed_hint`."""
    return f"failed{where}: {summary(error)}{relaxed_hint(entry, found)}", user_traceback(error)


def user_traceback(error: BaseException) -> str:
    """The traceback of ``error`` from its first frame outside scgrad on (the program that raised it),
    or the whole of it where every frame is scgrad's own (a fault of scgrad: nothing is hidden then)."""
    frames = traceback.extract_tb(error.__traceback__)
    first = next((i for i, frame in enumerate(frames) if not _ours(frame.filename)), 0)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames[first:]),
             *traceback.format_exception_only(error)]
    return "".join(lines).rstrip("\n")


def failures(rows: Iterable[Mapping]) -> list[tuple[list[str], str]]:
    """The distinct tracebacks of the rows (``estimator``, ``traceback`` or ``None``) that failed, each with
    the estimators that gave it, in row order: the same error of four relaxations is shown once."""
    grouped: dict[str, list[str]] = {}
    for row in rows:
        if row.get("traceback"):
            grouped.setdefault(row["traceback"], []).append(row["estimator"])
    return [(names, text) for text, names in grouped.items()]


def _ours(filename: str) -> bool:
    return Path(filename).resolve().is_relative_to(PACKAGE)
