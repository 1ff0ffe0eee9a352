"""The estimators that ``scgrad.diagnose`` and ``scgrad compare`` know about: one line each.

Adding an estimator to the comparison is one :class:`Entry` in :data:`CATALOGUE`::

    Entry("gumbel_softmax", lambda dist: GumbelSoftmax(), discrete),

An entry names the estimator, builds a fresh one for a node (``make(dist)``; called once per node
name, so state such as a moving average lives as long as the comparison), and says which distributions
it is meant for and how many draws it needs; whether it is biased by design is the estimator class's
``biased`` flag. An estimator that refuses a node all the same (a :class:`~scgrad.ScgradError`, from
its ``check`` or while its surrogate terms are built) is reported as "not applicable" with its own
message; any other exception as "failed", with the traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.distributions as D

from scgrad.baselines import BatchAverage, LeaveOneOut, MovingAverage
from scgrad.errors import ScgradError
from scgrad.estimators import (Enumerate, Estimator, GumbelRao, GumbelSoftmax, ReinMax, Reparam, ScoreFunction,
                               StraightThrough)
from scgrad.estimators.arm import ARM, DisARM
from scgrad.estimators.indecater import IndeCateR
from scgrad.estimators.measure_valued import MeasureValued
from scgrad.estimators.muprop import MuProp
from scgrad.estimators.lax import LAX
from scgrad.estimators.relax import REBAR, RELAX
from scgrad.estimators.unordered_set import UnorderedSet


def discrete(dist: D.Distribution) -> bool:
    """Whether ``dist`` has a discrete support (Bernoulli, categorical, ``Independent`` of them, ...)."""
    return bool(getattr(dist.support, "is_discrete", False))


def reparameterisable(dist: D.Distribution) -> bool:
    """Whether ``dist`` has ``rsample``."""
    return bool(dist.has_rsample)


@dataclass(frozen=True)
class Entry:
    """One estimator in a comparison.

    Attributes:
        name: how reports and the ``--estimators`` option of ``scgrad compare`` name it.
        make: ``dist -> Estimator``, a new estimator for one node.
        applies: ``dist -> bool``, the distributions the estimator replaces the node's own on.
        draws: the ``num_samples`` the estimator needs at least (several draws to compare), or ``None``.
        biased: whether the estimator is biased by design (reported and kept out of recommendations);
            ``None`` (the default) takes the estimator class's own flag, from ``make(None)`` (give it
            where ``make`` needs the distribution).
    """

    name: str
    make: Callable[[D.Distribution], Estimator]
    applies: Callable[[D.Distribution], bool]
    draws: int | None = None
    biased: bool | None = None

    def __post_init__(self):
        if self.biased is None:
            object.__setattr__(self, "biased", bool(self.make(None).biased))


CATALOGUE: tuple[Entry, ...] = (
    Entry("reparam", lambda dist: Reparam(), reparameterisable),
    Entry("score_function", lambda dist: ScoreFunction(), discrete),
    Entry("moving_average", lambda dist: ScoreFunction(MovingAverage()), discrete),
    Entry("batch_average", lambda dist: ScoreFunction(BatchAverage()), discrete),
    Entry("leave_one_out", lambda dist: ScoreFunction(LeaveOneOut()), discrete, draws=2),
    Entry("enumerate", lambda dist: Enumerate(), discrete),
    Entry("arm", lambda dist: ARM(), discrete, draws=2),
    Entry("disarm", lambda dist: DisARM(), discrete, draws=2),
    Entry("muprop", lambda dist: MuProp(MovingAverage()), discrete),
    Entry("rebar", lambda dist: REBAR(), discrete),
    Entry("relax", lambda dist: RELAX(), discrete),
    Entry("relax_rebar", lambda dist: RELAX(relaxed_cost=True), discrete),
    Entry("lax", lambda dist: LAX(), reparameterisable),
    Entry("unordered_set", lambda dist: UnorderedSet(), discrete, draws=2),
    Entry("indecater", lambda dist: IndeCateR(), discrete),
    Entry("measure_valued", lambda dist: MeasureValued(), discrete),
    Entry("gumbel_softmax", lambda dist: GumbelSoftmax(), discrete),
    Entry("straight_through", lambda dist: StraightThrough(), discrete),
    Entry("reinmax", lambda dist: ReinMax(), discrete),
    Entry("gumbel_rao", lambda dist: GumbelRao(), discrete),
)
"""Every estimator scgrad has, once: ``diagnose`` and ``compare`` try them, and tests/test_contract.py
checks each (the unbiased ones against closed forms, the biased ones against their own contract)."""


def lookup(names, catalogue: tuple[Entry, ...] = CATALOGUE) -> list[Entry]:
    """The entries of ``catalogue`` with the given names, in the order given; an unknown name is an error."""
    by_name = {entry.name: entry for entry in catalogue}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ScgradError(f"unknown estimator(s) {unknown}; known: {sorted(by_name)}.")
    return [by_name[name] for name in names]
