"""``scgrad compare``: train a problem's model with every estimator and measure them side by side.

A problem of your own subclasses :class:`Problem` (see docs/user_problems.md) and runs with
``scgrad compare --problem FILE.py:NAME``.
"""

from scgrad.compare.problem import Problem, generator
from scgrad.compare.problems import DEFAULT, PROBLEMS, problem
from scgrad.compare.run import Progress, compare, results
from scgrad.compare.train import Settings

__all__ = ["DEFAULT", "PROBLEMS", "Problem", "Progress", "Settings", "compare", "generator", "problem", "results"]
