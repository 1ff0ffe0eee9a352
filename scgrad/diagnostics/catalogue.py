"""The estimators that ``scgrad.diagnose`` and ``scgrad compare`` know about: one line each.

Adding an estimator to the comparison is one :class:`Entry` in :data:`CATALOGUE`::

    Entry("gumbel_softmax", lambda dist: GumbelSoftmax(), biased=True, applies=discrete),

An entry names the estimator, builds a fresh one for a node (``make(dist)``; called once per node
name, so state such as a moving average lives as long as the comparison), says whether it is biased
by design, and which distributions it is meant for. An estimator that refuses a node all the same
is reported with its own message: "not applicable" where its ``check`` raises
:class:`~scgrad.ScgradError`, "failed" where building its surrogate terms does.
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
from scgrad.estimators.relax import LAX, REBAR, RELAX
from scgrad.estimators.unordered_set import UnorderedSet


def discrete(dist: D.Distribution) -> bool:
    """Whether ``dist`` has a discrete support (Bernoulli, categorical, ``Independent`` of them, ...)."""
    return bool(getattr(dist.support, "is_discrete", False))


def reparameterisable(dist: D.Distribution) -> bool:
    """Whether ``dist`` has ``rsample``."""
    return bool(dist.has_rsample)


def any_distribution(dist: D.Distribution) -> bool:
    """Every distribution."""
    return True


@dataclass(frozen=True)
class Entry:
    """One estimator in a comparison.

    Attributes:
        name: how reports and the ``--estimators`` option of ``scgrad compare`` name it.
        make: ``dist -> Estimator``, a new estimator for one node.
        biased: whether the estimator is biased by design (reported and kept out of recommendations).
        applies: ``dist -> bool``, the distributions the estimator replaces the node's own on.
    """

    name: str
    make: Callable[[D.Distribution], Estimator]
    biased: bool
    applies: Callable[[D.Distribution], bool]


CATALOGUE: tuple[Entry, ...] = (
    Entry("reparam", lambda dist: Reparam(), biased=False, applies=reparameterisable),
    Entry("score_function", lambda dist: ScoreFunction(), biased=False, applies=discrete),
    Entry("moving_average", lambda dist: ScoreFunction(MovingAverage()), biased=False, applies=discrete),
    Entry("batch_average", lambda dist: ScoreFunction(BatchAverage()), biased=False, applies=discrete),
    Entry("leave_one_out", lambda dist: ScoreFunction(LeaveOneOut()), biased=False, applies=discrete),
    Entry("enumerate", lambda dist: Enumerate(), biased=False, applies=discrete),
    Entry("arm", lambda dist: ARM(), biased=False, applies=discrete),
    Entry("disarm", lambda dist: DisARM(), biased=False, applies=discrete),
    Entry("muprop", lambda dist: MuProp(MovingAverage()), biased=False, applies=discrete),
    Entry("rebar", lambda dist: REBAR(), biased=False, applies=discrete),
    Entry("relax", lambda dist: RELAX(), biased=False, applies=discrete),
    Entry("lax", lambda dist: LAX(), biased=False, applies=reparameterisable),
    Entry("unordered_set", lambda dist: UnorderedSet(), biased=False, applies=discrete),
    Entry("indecater", lambda dist: IndeCateR(), biased=False, applies=discrete),
    Entry("measure_valued", lambda dist: MeasureValued(), biased=False, applies=discrete),
    Entry("gumbel_softmax", lambda dist: GumbelSoftmax(), biased=True, applies=discrete),
    Entry("straight_through", lambda dist: StraightThrough(), biased=True, applies=discrete),
    Entry("reinmax", lambda dist: ReinMax(), biased=True, applies=discrete),
    Entry("gumbel_rao", lambda dist: GumbelRao(), biased=True, applies=discrete),
)


def lookup(names, catalogue: tuple[Entry, ...] = CATALOGUE) -> list[Entry]:
    """The entries of ``catalogue`` with the given names, in the order given; an unknown name is an error."""
    by_name = {entry.name: entry for entry in catalogue}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ScgradError(f"unknown estimator(s) {unknown}; known: {sorted(by_name)}.")
    return [by_name[name] for name in names]
