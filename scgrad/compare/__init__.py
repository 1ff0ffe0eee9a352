"""``scgrad compare``: train a problem's model with every estimator and measure them side by side."""

from scgrad.compare.problems import DEFAULT, PROBLEMS, problem
from scgrad.compare.run import compare, results
from scgrad.compare.train import Settings

__all__ = ["DEFAULT", "PROBLEMS", "Settings", "compare", "problem", "results"]
