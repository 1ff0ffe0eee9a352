"""``scgrad compare --list``: the estimators and problems it knows, one line each."""

from __future__ import annotations

from scgrad.compare.problems import DEFAULT, PROBLEMS
from scgrad.diagnostics.catalogue import CATALOGUE, Entry
from scgrad.diagnostics.recommend import usage


def meant_for(entry: Entry) -> str:
    """The distributions the entry serves, in words (from the name of its ``applies`` function)."""
    name = entry.applies.__name__
    kind = "some" if name == "<lambda>" else name.replace("_", " ")
    draws = f", needs --samples {entry.draws} or more" if entry.draws else ""
    return f"{kind} distributions{draws}"


def listing() -> str:
    """The text ``scgrad compare --list`` prints."""
    width = max(len(entry.name) for entry in CATALOGUE)
    column = max(len(meant_for(entry)) for entry in CATALOGUE)
    lines = ["Estimators (--estimators NAME,NAME,...; by default every one that applies to the problem):"]
    for entry in CATALOGUE:
        lines.append(f"  {entry.name:<{width}}  {'biased  ' if entry.biased else 'unbiased'}  "
                     f"{meant_for(entry):<{column}}  {usage(entry)}")
    lines += ["", "Problems (--problem NAME, or your own: --problem FILE.py:NAME or module:NAME, see "
                  "docs/user_problems.md):"]
    lines += [f"  {name}{' (default)' if name == DEFAULT else ''}" for name in PROBLEMS]
    return "\n".join(lines)
