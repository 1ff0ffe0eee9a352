"""Gradient estimators, one family per file."""

from scgrad.estimators.arm import ARM, DisARM
from scgrad.core.protocol import Downstream, Estimator, Parts
from scgrad.estimators.defaults import Defaults
from scgrad.estimators.enumerate import Enumerate
from scgrad.estimators.gumbel_rao import GumbelRao
from scgrad.estimators.indecater import IndeCateR
from scgrad.estimators.measure_valued import MeasureValued
from scgrad.estimators.muprop import MuProp
from scgrad.estimators.reinmax import ReinMax
from scgrad.estimators.lax import LAX
from scgrad.estimators.relax import REBAR, RELAX
from scgrad.estimators.relaxed import GumbelSoftmax, Relaxation, StraightThrough
from scgrad.estimators.reparam import Reparam
from scgrad.estimators.score_function import ScoreFunction
from scgrad.estimators.temperature import ExponentialAnnealing, Temperature
from scgrad.estimators.unordered_set import UnorderedSet

__all__ = [
    "ARM",
    "Defaults",
    "DisARM",
    "Downstream",
    "Enumerate",
    "Estimator",
    "ExponentialAnnealing",
    "GumbelRao",
    "GumbelSoftmax",
    "IndeCateR",
    "LAX",
    "MeasureValued",
    "MuProp",
    "Parts",
    "REBAR",
    "RELAX",
    "ReinMax",
    "Relaxation",
    "Reparam",
    "ScoreFunction",
    "StraightThrough",
    "Temperature",
    "UnorderedSet",
]
