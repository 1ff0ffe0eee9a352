"""Default estimators: by capability, by registered type (most specific wins), kept across calls."""

from __future__ import annotations

import torch
import torch.distributions as D

import scgrad


def program():
    scgrad.sample("normal", D.Normal(torch.zeros(2), 1.0))
    scgrad.sample("bernoulli", D.Bernoulli(torch.full((2,), 0.5)))
    scgrad.sample("independent", D.Independent(D.Bernoulli(torch.full((2, 3), 0.5)), 1))
    scgrad.cost("c", torch.zeros(2))


def estimators(obj):
    return {name: node.estimator for name, node in obj.graph.nodes.items()}


def test_builtin_defaults_follow_rsample():
    chosen = estimators(scgrad.surrogate(program))
    assert isinstance(chosen["normal"], scgrad.Reparam)
    for name in ("bernoulli", "independent"):
        assert isinstance(chosen[name], scgrad.ScoreFunction)
        assert isinstance(chosen[name].baseline, scgrad.MovingAverage)


def test_registered_rules_most_specific_type_wins():
    defaults = scgrad.Defaults({D.ExponentialFamily: lambda d: scgrad.ScoreFunction()})
    defaults.register(D.Bernoulli, lambda d: scgrad.ScoreFunction(scgrad.BatchAverage()))
    with defaults:
        chosen = estimators(scgrad.surrogate(program))
    assert type(chosen["normal"]) is scgrad.ScoreFunction and chosen["normal"].baseline is None  # Normal is ExponentialFamily
    assert isinstance(chosen["bernoulli"].baseline, scgrad.BatchAverage)
    assert isinstance(chosen["independent"].baseline, scgrad.BatchAverage)  # Independent falls back to its base


def test_register_as_decorator_and_estimators_persist_across_calls():
    defaults = scgrad.Defaults()

    @defaults.register(D.Bernoulli)
    def moving(dist):
        return scgrad.ScoreFunction(scgrad.MovingAverage())

    with defaults:
        first = estimators(scgrad.surrogate(program))
        second = estimators(scgrad.surrogate(program))
    assert first["bernoulli"] is second["bernoulli"] is defaults.estimators["bernoulli"]
    assert first["bernoulli"].baseline.count.item() == 2


def test_an_explicit_estimator_beats_the_defaults():
    defaults = scgrad.Defaults({D.Bernoulli: lambda d: scgrad.ScoreFunction()})

    def explicit():
        scgrad.sample("b", D.Bernoulli(0.5), scgrad.Enumerate())
        scgrad.cost("c", torch.zeros(()))

    with defaults:
        assert isinstance(scgrad.surrogate(explicit).graph.nodes["b"].estimator, scgrad.Enumerate)
