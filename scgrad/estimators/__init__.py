"""Gradient estimators, one family per file."""

from scgrad.estimators.base import Downstream, Estimator, Parts
from scgrad.estimators.defaults import Defaults
from scgrad.estimators.enumerate import Enumerate
from scgrad.estimators.reparam import Reparam
from scgrad.estimators.score_function import ScoreFunction

__all__ = ["Defaults", "Downstream", "Enumerate", "Estimator", "Parts", "Reparam", "ScoreFunction"]
