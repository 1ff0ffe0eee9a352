"""Which estimator a node gets when it names none: a registry keyed by distribution type."""

from __future__ import annotations

from typing import Callable, Mapping

import torch.distributions as D

from scgrad.baselines.moving_average import MovingAverage
from scgrad.core.protocol import Estimator
from scgrad.core.runtime import Handler, Message
from scgrad.estimators.reparam import Reparam
from scgrad.estimators.score_function import ScoreFunction

Factory = Callable[[D.Distribution], Estimator]


def builtin_default(dist: D.Distribution) -> Estimator:
    """``Reparam()`` when ``dist.has_rsample``, else ``ScoreFunction(baseline=MovingAverage())``.

    A new estimator each call: outside a :class:`Defaults` handler a default moving average starts
    from zero at every ``surrogate`` call (an unbiased score function without memory).
    """
    return Reparam() if dist.has_rsample else ScoreFunction(baseline=MovingAverage())


class Defaults(Handler):
    """Choose estimators for nodes that name none, by distribution type, and keep them across calls.

    Rules map a distribution type to a factory ``dist -> Estimator``; the most specific type in the
    distribution's MRO wins (for ``Independent``, the base distribution's type is tried next), and
    :func:`builtin_default` applies where no rule matches. The estimator made for a node is kept by
    name, so stateful ones (a moving average) carry over from one training step to the next for as
    long as this object lives; :attr:`estimators` holds them for an optimiser or a checkpoint.

    Example::

        defaults = scgrad.Defaults({D.Bernoulli: lambda d: scgrad.Enumerate()})
        with defaults:
            obj = scgrad.surrogate(model, x)
    """

    def __init__(self, rules: Mapping[type, Factory] | None = None):
        self.rules: dict[type, Factory] = {}
        self.estimators: dict[str, Estimator] = {}
        for dist_type, factory in (rules or {}).items():
            self.register(dist_type, factory)

    def register(self, dist_type: type, factory: Factory | None = None):
        """Add a rule; usable as a decorator: ``@defaults.register(D.Poisson)``."""
        if not (isinstance(dist_type, type) and issubclass(dist_type, D.Distribution)):
            raise TypeError(f"Defaults.register: expected a Distribution subclass, got {dist_type!r}.")
        if factory is None:
            return lambda f: self.register(dist_type, f)
        self.rules[dist_type] = factory
        return factory

    def choose(self, dist: D.Distribution) -> Estimator:
        """The estimator the rules give for ``dist`` (a new one)."""
        candidates = list(type(dist).__mro__)
        if isinstance(dist, D.Independent):
            candidates[1:1] = type(dist.base_dist).__mro__
        for dist_type in candidates:
            if dist_type in self.rules:
                return self.rules[dist_type](dist)
        return builtin_default(dist)

    def process(self, msg: Message) -> None:
        if msg.kind == "sample" and msg.estimator is None:
            if msg.name not in self.estimators:
                self.estimators[msg.name] = self.choose(msg.fn)
            msg.estimator = self.estimators[msg.name]
