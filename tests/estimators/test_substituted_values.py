"""Estimators that draw their values in a form of their own, given a value by ``scgrad.substitute`` instead.

Found by ``tests/test_fuzz_errors.py``: UnorderedSet crashed on a substituted value without a sample dim and
weighted one with repeated outcomes silently; ARM and DisARM took an odd number of draws (the pairs then
misaligned, silently) or pairs no uniform draw gives; a relaxation's substituted value carried no gradient to
its parameters, silently. Now a value that can be served is served, and one that cannot is refused by name.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad


def _cost(b):
    return (b - 0.4) ** 2


# ---------------------------------------------------------------- UnorderedSet


def _set_program(logits, value, num_samples):
    def program():
        with scgrad.substitute({"c": value}):
            c = scgrad.sample("c", D.Categorical(logits=logits), scgrad.UnorderedSet(), num_samples=num_samples)
        scgrad.cost("k", (c.to(logits.dtype) - 1.5) ** 2)
    return program


def test_unordered_set_given_the_whole_support_is_exact():
    """With k = K the set is the whole support whatever its order, and the estimator is exact:
    d/dθ_j Σ_k p_k f(k) = p_j (f(j) − Σ_k p_k f(k)), by hand."""
    logits = torch.tensor([0.2, -0.5, 0.9], dtype=torch.float64, requires_grad=True)
    objective = scgrad.surrogate(_set_program(logits, torch.tensor([2, 0, 1]), 3))
    objective.backward()
    p = torch.softmax(logits.detach(), -1)
    f = (torch.arange(3.0, dtype=torch.float64) - 1.5) ** 2
    mean = (p * f).sum()
    torch.testing.assert_close(objective.cost, mean)
    torch.testing.assert_close(logits.grad, p * (f - mean))


def test_unordered_set_given_a_set_matches_the_same_set_drawn():
    logits = torch.tensor([[0.2, -0.5, 0.9, 0.1], [0.0, 0.3, -0.2, 0.4]], dtype=torch.float64, requires_grad=True)

    def drawn():
        c = scgrad.sample("c", D.Categorical(logits=logits), scgrad.UnorderedSet(), num_samples=2)
        scgrad.cost("k", (c.to(logits.dtype) - 1.5) ** 2)

    torch.manual_seed(3)
    objective = scgrad.surrogate(drawn)
    value = objective.graph.nodes["c"].value.clone()
    objective.backward()
    expected, logits.grad = logits.grad.clone(), None
    given = scgrad.surrogate(_set_program(logits, value, 2))
    given.backward()
    torch.testing.assert_close(given.cost, objective.cost)
    torch.testing.assert_close(logits.grad, expected)


@pytest.mark.parametrize("value, num_samples, match", [
    (torch.tensor([1, 2]), None, "needs 2 <= num_samples"),
    (torch.tensor([[1, 2]]), 1, "needs 2 <= num_samples"),
    (torch.tensor([[1, 2], [1, 0]]), 2, r"repeats an outcome along its sample dim .* at batch index \(0,\)"),
])
def test_unordered_set_refuses_a_given_value_that_is_no_set(value, num_samples, match):
    logits = torch.zeros(2, 4, requires_grad=True)
    with pytest.raises(scgrad.ScgradError, match=match):
        scgrad.surrogate(_set_program(logits, value, num_samples))


# ---------------------------------------------------------------- ARM, DisARM


def _pair_program(estimator, logits, value, num_samples):
    def program():
        with scgrad.substitute({"b": value}):
            b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=num_samples)
        scgrad.cost("c", _cost(b))
    return program


def test_disarm_given_a_pair_is_its_formula():
    """One component, the pair (b, b') = (1, 0): DisARM's estimate is ½ (f(1) − f(0)) (−1)^0 σ(|α|)."""
    alpha = 0.3
    logits = torch.tensor([alpha], dtype=torch.float64, requires_grad=True)
    scgrad.surrogate(_pair_program(scgrad.DisARM(), logits, torch.tensor([[1.0], [0.0]], dtype=torch.float64), 2)).backward()
    expected = 0.5 * (_cost(1.0) - _cost(0.0)) * (1 / (1 + math.exp(-abs(alpha))))
    torch.testing.assert_close(logits.grad, torch.tensor([expected], dtype=torch.float64))


@pytest.mark.parametrize("estimator", [scgrad.ARM, scgrad.DisARM])
@pytest.mark.parametrize("num_samples", [None, 1, 3])
def test_antithetic_estimators_refuse_a_given_value_without_pairs(estimator, num_samples):
    logits = torch.zeros(3, requires_grad=True)
    shape = (3,) if num_samples is None else (num_samples, 3)
    with pytest.raises(scgrad.ScgradError, match=f"num_samples must be even; got num_samples={num_samples}"):
        scgrad.surrogate(_pair_program(estimator(), logits, torch.ones(shape), num_samples))


@pytest.mark.parametrize("estimator", [scgrad.ARM, scgrad.DisARM])
@pytest.mark.parametrize("outcome, logit", [(1.0, -0.5), (0.0, 0.5)])
def test_antithetic_estimators_refuse_a_pair_no_uniform_gives(estimator, outcome, logit):
    """Two ones need p > 1/2 (1 − u < p and u < p), two zeros p < 1/2."""
    logits = torch.tensor([0.2, logit], requires_grad=True)
    value = torch.tensor([[1.0, outcome], [0.0, outcome]])
    with pytest.raises(scgrad.ScgradError, match=r"not a set of antithetic pairs.*at index \(0, 1\) of the first half"):
        scgrad.surrogate(_pair_program(estimator(), logits, value, 2))


# ---------------------------------------------------------------- relaxations


@pytest.mark.parametrize("estimator", [
    scgrad.GumbelSoftmax(), scgrad.GumbelSoftmax(hard=True), scgrad.StraightThrough(), scgrad.ReinMax(),
    scgrad.GumbelRao(k=3),
], ids=lambda e: type(e).__name__)
def test_a_relaxation_refuses_a_given_value(estimator):
    """The gradient of a relaxation flows through the value it draws; a given value has none, so the node's
    parameters would get no gradient at all, silently (next to another node's, or alone)."""
    logits = torch.zeros(3, requires_grad=True)
    other = torch.zeros(3, requires_grad=True)

    def program():
        with scgrad.substitute({"b": torch.tensor([1.0, 0.0, 1.0])}):
            b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator)
        a = scgrad.sample("a", D.Bernoulli(logits=other), scgrad.ScoreFunction())
        scgrad.cost("c", _cost(b) + a)

    with pytest.raises(scgrad.ScgradError, match=f"node 'b': {type(estimator).__name__} passes the gradient"):
        scgrad.surrogate(program)
