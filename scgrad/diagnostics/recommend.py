"""Which estimator to use: the least variance per second of compute among the unbiased ones; and its code."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import scgrad
from scgrad.diagnostics.catalogue import Entry


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


def usage(entry: Entry, nodes: Sequence[str] = ()) -> str:
    """The line of code that puts ``entry``'s estimator on a node, e.g.
    ``scgrad.sample("z", dist, scgrad.ScoreFunction(scgrad.LeaveOneOut()))``, one per name in ``nodes``
    (joined by newlines), or the estimator alone when ``nodes`` is empty.

    The estimator's expression is read from the source of ``entry.make`` (a lambda, or a function that
    returns one expression), its options included, names that scgrad exports written ``scgrad.NAME``;
    where the source cannot be read, the class of ``make(None)`` is given with ``...`` for its options.
    """
    expression = _made(entry.make)
    code = f"scgrad.{type(entry.make(None)).__name__}(...)" if expression is None else ast.unparse(
        _Qualify(entry.make.__globals__).visit(expression))
    if not nodes:
        return code
    return "\n".join(f"scgrad.sample({json.dumps(name)}, dist, {code})" for name in nodes)


def recommended_usage(best: str | None, entries: Sequence[Entry], found: Mapping) -> str | None:
    """:func:`usage` of the entry named ``best`` on the nodes ``found`` (name -> distribution) it is meant
    for; ``None`` where there is no recommendation."""
    chosen = next((entry for entry in entries if entry.name == best), None)
    if chosen is None:
        return None
    return usage(chosen, [name for name, dist in found.items() if chosen.applies(dist)])


def _made(make) -> ast.expr | None:
    """The expression ``make`` returns, parsed from its file; ``None`` where that is not one expression."""
    try:
        tree = ast.parse(Path(inspect.getsourcefile(make)).read_text())
    except (OSError, TypeError, SyntaxError):
        return None
    line, name = make.__code__.co_firstlineno, make.__code__.co_name
    found = [node.body for node in ast.walk(tree) if isinstance(node, ast.Lambda) and node.lineno == line]
    if name != "<lambda>":
        found = [node.body[-1].value for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef) and node.name == name and node.lineno <= line
                 and len(node.body) == 1 and isinstance(node.body[0], ast.Return) and node.body[0].value]
    return found[0] if len(found) == 1 else None


class _Qualify(ast.NodeTransformer):
    """Writes a name as ``scgrad.NAME`` where it is the object scgrad exports under that name."""

    def __init__(self, names: dict):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        value = self.names.get(node.id)
        if value is not None and getattr(scgrad, node.id, None) is value:
            return ast.copy_location(ast.Attribute(ast.Name("scgrad", ast.Load()), node.id, ast.Load()), node)
        return node
