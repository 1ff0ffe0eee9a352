"""scgrad: gradients of expected costs in stochastic computation graphs, for PyTorch.

Write the program as a generative story with :func:`sample` and :func:`cost`; :func:`surrogate`
turns one run of it into an :class:`Objective` whose ``backward()`` estimates the gradient of the
expected total cost, each random choice through the estimator it names.
"""

from importlib.metadata import PackageNotFoundError, version

from scgrad import diagnostics, distributed, distributions, rl
from scgrad.baselines import VIMCO, Baseline, BatchAverage, Critic, LeaveOneOut, MovingAverage, Prediction
from scgrad.core.handlers import block, override_estimators, substitute
from scgrad.core.markov import markov
from scgrad.core.primitives import cost, sample
from scgrad.core.provenance import provenance
from scgrad.core.objective import Objective
from scgrad.diagnostics.audit import audit
from scgrad.diagnostics.diagnose import diagnose
from scgrad.distributions import GumbelSinkhorn
from scgrad.errors import ScgradError
from scgrad.program import surrogate
from scgrad.estimators import (
    ARM,
    LAX,
    REBAR,
    RELAX,
    Defaults,
    DisARM,
    Downstream,
    Enumerate,
    Estimator,
    ExponentialAnnealing,
    GumbelRao,
    GumbelSoftmax,
    IndeCateR,
    MeasureValued,
    MuProp,
    Parts,
    ReinMax,
    Reparam,
    ScoreFunction,
    StraightThrough,
    Temperature,
    UnorderedSet,
)

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
    "audit",
    "block",
    "cost",
    "diagnose",
    "diagnostics",
    "distributed",
    "distributions",
    "markov",
    "override_estimators",
    "provenance",
    "rl",
    "sample",
    "substitute",
    "surrogate",
]
