"""scgrad: gradients of expected costs in stochastic computation graphs, for PyTorch.

Write the program as a generative story with :func:`sample` and :func:`cost`; :func:`surrogate`
turns one run of it into an :class:`Objective` whose ``backward()`` estimates the gradient of the
expected total cost, each random choice through the estimator it names.
"""

from importlib.metadata import PackageNotFoundError, version

from scgrad import diagnostics, distributions, rl
from scgrad.diagnostics.diagnose import diagnose
from scgrad.baselines import Baseline, BatchAverage, Critic, LeaveOneOut, MovingAverage, Prediction
from scgrad.core.handlers import block, override_estimators, substitute
from scgrad.core.primitives import cost, sample
from scgrad.core.provenance import provenance
from scgrad.core.surrogate import Objective, surrogate
from scgrad.errors import ScgradError
from scgrad.estimators import Defaults, Downstream, Enumerate, Estimator, Parts, Reparam, ScoreFunction
from scgrad.distributions import GumbelSinkhorn
from scgrad.estimators import ExponentialAnnealing, GumbelRao, GumbelSoftmax, ReinMax, StraightThrough, Temperature
from scgrad.baselines.vimco import VIMCO
from scgrad.estimators.arm import ARM, DisARM
from scgrad.estimators.indecater import IndeCateR
from scgrad.estimators.measure_valued import MeasureValued
from scgrad.estimators.muprop import MuProp
from scgrad.estimators.relax import LAX, REBAR, RELAX
from scgrad.estimators.unordered_set import UnorderedSet

try:
    __version__ = version("scgrad")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = [
    "ARM",
    "Baseline",
    "BatchAverage",
    "Critic",
    "Defaults",
    "DisARM",
    "Downstream",
    "Enumerate",
    "Estimator",
    "ExponentialAnnealing",
    "GumbelRao",
    "GumbelSinkhorn",
    "GumbelSoftmax",
    "IndeCateR",
    "LAX",
    "LeaveOneOut",
    "MeasureValued",
    "MovingAverage",
    "MuProp",
    "Objective",
    "Parts",
    "Prediction",
    "REBAR",
    "RELAX",
    "ReinMax",
    "Reparam",
    "ScgradError",
    "ScoreFunction",
    "StraightThrough",
    "Temperature",
    "UnorderedSet",
    "VIMCO",
    "__version__",
    "block",
    "cost",
    "diagnose",
    "diagnostics",
    "distributions",
    "override_estimators",
    "provenance",
    "rl",
    "sample",
    "substitute",
    "surrogate",
]
