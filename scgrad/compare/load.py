"""``scgrad compare --problem FILE.py:NAME`` (or ``module:NAME``): the user's own problem, loaded and checked."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from scgrad.compare.problem import Problem
from scgrad.errors import ScgradError

METHODS = ("model", "program", "batch", "measured", "describe", "objective")
ATTRIBUTES = ("name", "steps", "learning_rate")


def is_reference(text: str) -> bool:
    """Whether a ``--problem`` value names a problem of the user's (``FILE.py:NAME``, ``module:NAME``)."""
    return ":" in text


def load(reference: str) -> Problem:
    """The problem ``reference`` names: ``path/to/file.py:NAME`` or ``package.module:NAME``.

    ``NAME`` is a class (called without arguments) or an instance, with the methods and attributes of
    :class:`Problem`; one that does not subclass it gets its defaults (``probe``, ``objective_label``).
    A file is run as ``python FILE.py`` would run it, its folder first on ``sys.path`` while it loads.
    What the file (or the class) raises while loading propagates unchanged, its traceback with it; a
    reference that names nothing, or an object that lacks a member, is a :class:`ScgradError`.
    """
    source, _, name = reference.rpartition(":")
    if not source or not name:
        raise ScgradError(f"{reference}: give FILE.py:NAME or module:NAME, e.g. examples/bandit_problem.py:Bandit.")
    module = _load_file(source, reference) if source.endswith(".py") or Path(source).is_file() else _import(source, reference)
    if not hasattr(module, name):
        defined = sorted(key for key, value in vars(module).items() if inspect.isclass(value) and not key.startswith("_"))
        raise ScgradError(f"{reference}: {source} defines no {name!r}; its classes: {defined}.")
    found = getattr(module, name)
    problem = found() if inspect.isclass(found) else found
    _check(problem, reference)
    return problem if isinstance(problem, Problem) else Borrowed(problem)


def _load_file(source: str, reference: str):
    path = Path(source)
    if not path.is_file():
        raise ScgradError(f"{reference}: no file {path.resolve()}; give the path to a .py file, then :NAME.")
    spec = importlib.util.spec_from_file_location(f"scgrad_user_problem_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as for any imported module (dataclasses and pickle look it up there)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _import(source: str, reference: str):
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as error:
        if error.name is None or not source.startswith(error.name):
            raise  # the module exists, and one of its own imports is missing: its traceback says which
        raise ScgradError(f"{reference}: no module {source!r} on sys.path, and no file of that name; "
                          f"give a path ending in .py, or a module importable from here.") from None


def _check(problem, reference: str) -> None:
    missing = [m for m in METHODS if not callable(getattr(problem, m, None))]
    missing += [a for a in ATTRIBUTES if not hasattr(problem, a)]
    if missing:
        raise ScgradError(f"{reference}: {type(problem).__name__} lacks {missing}; a problem has the "
                          f"methods {list(METHODS)} and the attributes {list(ATTRIBUTES)} "
                          f"(subclass scgrad.compare.Problem; see docs/user_problems.md).")
    if not isinstance(problem.name, str) or not problem.name:
        raise ScgradError(f"{reference}: name is {problem.name!r}; set it to a non-empty string "
                          f"(it names the reports and the default output folder).")
    if isinstance(problem.steps, bool) or not isinstance(problem.steps, int) or problem.steps < 1:
        raise ScgradError(f"{reference}: steps is {problem.steps!r}; set it to the default number "
                          f"of training steps, a positive integer.")
    rate = problem.learning_rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ScgradError(f"{reference}: learning_rate is {rate!r}; set it to Adam's learning rate, "
                          f"a positive number.")


class Borrowed(Problem):
    """A :class:`Problem` made of an object that has its members without subclassing it (duck typing)."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.steps, self.learning_rate = inner.name, inner.steps, inner.learning_rate
        self.objective_label = getattr(inner, "objective_label", Problem.objective_label)

    def model(self):
        return self.inner.model()

    def program(self, model, data, num_samples):
        return self.inner.program(model, data, num_samples)

    def batch(self, step, seed):
        return self.inner.batch(step, seed)

    def probe(self, seed):
        return self.inner.probe(seed) if callable(getattr(self.inner, "probe", None)) else self.batch(-1, seed)

    def measured(self, model):
        return self.inner.measured(model)

    def describe(self):
        return self.inner.describe()

    def objective(self, model):
        return self.inner.objective(model)
