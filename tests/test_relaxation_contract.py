"""One contract over every biased estimator of the catalogue (the relaxations): shapes, device, substitution,
higher derivatives as their flag says, and what each gives on a linear cost, where the truth is known."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from stats import assert_unbiased

REPLICAS = 4000
RELAXATIONS = {entry.name: entry for entry in scgrad.diagnostics.CATALOGUE if entry.biased}
# On a linear cost: straight-through is exact (no variance), ReinMax unbiased, the Gumbel relaxations biased.
ON_A_LINEAR_COST = {"straight_through": "exact", "reinmax": "unbiased", "gumbel_softmax": "biased", "gumbel_rao": "biased"}
KINDS = {
    "bernoulli": lambda logits: D.Bernoulli(logits=logits[..., 1]),
    "categorical": lambda logits: D.Categorical(logits=logits),
    "one_hot": lambda logits: D.OneHotCategorical(logits=logits),
}
VALUES = torch.tensor([0.0, 1.0, 2.0])


def test_every_relaxation_has_an_expectation_on_a_linear_cost():
    assert set(RELAXATIONS) == set(ON_A_LINEAR_COST)
    assert all(entry.make(None).pathwise for entry in RELAXATIONS.values())


def value_shape(kind, draws, batch):
    categories = () if kind == "bernoulli" else (3,)  # a relaxed Categorical hands the program a simplex vector
    return torch.Size(draws + batch + categories)


@pytest.mark.parametrize("num_samples", [None, 2])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", RELAXATIONS)
def test_shape_device_and_higher_derivatives(name, kind, num_samples, device):
    logits = torch.zeros(4, 3, device=device, requires_grad=True)
    estimator = RELAXATIONS[name].make(None).to(device)
    seen = []

    def program():
        z = scgrad.sample("z", KINDS[kind](logits), estimator, num_samples=num_samples)
        seen.append(z)
        scgrad.cost("c", ((z if kind == "bernoulli" else z @ VALUES.to(device)) - 0.3) ** 2)  # no draws cancel

    torch.manual_seed(0)
    objective = scgrad.surrogate(program)
    draws = () if num_samples is None else (num_samples,)
    assert seen[0].shape == value_shape(kind, draws, (4,)) and seen[0].device == logits.device
    (grad,) = torch.autograd.grad(objective.loss, logits, create_graph=not estimator.first_order_only)
    assert grad.device == logits.device and bool(torch.isfinite(grad).all()) and bool(grad.abs().sum() > 0)
    if estimator.first_order_only:
        with pytest.raises(scgrad.ScgradError, match="first derivatives only"):
            torch.autograd.grad(scgrad.surrogate(program).loss, logits, create_graph=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", RELAXATIONS)
def test_a_substituted_value_is_refused_naming_the_node(name, kind):
    """A given value carries no gradient to the parameters, which a pathwise estimator needs: refused."""
    logits = torch.zeros(4, 3, requires_grad=True)
    estimator = RELAXATIONS[name].make(None)
    dist = KINDS[kind](logits)

    def program():
        z = scgrad.sample("z", KINDS[kind](logits), estimator)
        scgrad.cost("c", z.sum(-1) if kind != "bernoulli" else z)

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*given"):
        with scgrad.substitute({"z": estimator.present(dist, dist.sample())}, check_support=False):
            scgrad.surrogate(program)


@pytest.mark.parametrize("kind", ["bernoulli", "one_hot", "categorical"])
@pytest.mark.parametrize("name", RELAXATIONS)
def test_what_each_relaxation_gives_on_a_linear_cost(name, kind):
    torch.manual_seed(0)
    a = torch.full((REPLICAS,), 0.2, requires_grad=True)
    logits = torch.stack([torch.zeros_like(a), a, -a], -1)
    estimator = RELAXATIONS[name].make(None)

    def program():
        z = scgrad.sample("z", KINDS[kind](logits), estimator)
        scgrad.cost("c", 3.0 * (z if kind == "bernoulli" else z @ VALUES))

    (grad,) = torch.autograd.grad(scgrad.surrogate(program).loss, a)
    samples = (grad * REPLICAS).unsqueeze(1)
    exact_a = torch.tensor(0.2, requires_grad=True)
    exact_logits = torch.stack([torch.zeros(()), exact_a, -exact_a])
    if kind == "bernoulli":  # logit a: E[3 z] = 3 sigmoid(a)
        expectation = 3.0 * torch.sigmoid(exact_logits[1])
    else:
        expectation = 3.0 * (exact_logits.softmax(-1) * VALUES).sum()
    exact = torch.autograd.grad(expectation, exact_a)[0].reshape(1)
    expected = ON_A_LINEAR_COST[name]
    if expected == "exact":
        assert torch.allclose(samples, exact.expand_as(samples), atol=1e-5)
    elif expected == "unbiased":
        assert_unbiased(samples, exact)
    else:
        with pytest.raises(AssertionError, match="biased"):
            assert_unbiased(samples, exact)
