"""Gradient estimators, one family per file."""

from scgrad.estimators.base import Downstream, Estimator, Parts
from scgrad.estimators.defaults import Defaults
from scgrad.estimators.enumerate import Enumerate
from scgrad.estimators.gumbel_rao import GumbelRao
from scgrad.estimators.reinmax import ReinMax
from scgrad.estimators.relaxed import GumbelSoftmax, Relaxation, StraightThrough
from scgrad.estimators.reparam import Reparam
from scgrad.estimators.score_function import ScoreFunction
from scgrad.estimators.temperature import ExponentialAnnealing, Temperature

__all__ = [
    "Defaults",
    "Downstream",
    "Enumerate",
    "Estimator",
    "ExponentialAnnealing",
    "GumbelRao",
    "GumbelSoftmax",
    "Parts",
    "ReinMax",
    "Relaxation",
    "Reparam",
    "ScoreFunction",
    "StraightThrough",
    "Temperature",
]
