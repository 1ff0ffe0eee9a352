"""ARM and DisARM: unbiased on a batch of data points and on a vector sharing one cost, the sign of the
gradient, DisARM's variance against ARM's, and its exactness on one component at p = 1/2.

Every parameter has a leading dim of ``R`` independent replicas, so one call gives ``R`` estimates.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributions as D

import scgrad
from replicas import per_replica
from stats import assert_unbiased

R = 3000
T = 0.45
X = torch.tensor([0.1, 0.9, 0.4, 0.6, 0.3])  # data points, each with its own cost
ESTIMATORS = {"arm": scgrad.ARM, "disarm": scgrad.DisARM}


# --- a batch of data points, a node downstream of the pair, a pathwise parameter -------------------------

def batch_params(replicas):
    return [torch.full((replicas, 1), value, requires_grad=True) for value in (1.2, -0.3, 0.7)] + [
        torch.tensor([[[0.2, -0.5, 0.1]], [[-0.4, 0.3, 0.6]]]).repeat(replicas, 1, 1, 1).requires_grad_()
    ]


def batch_program(params, z_estimator, num_samples):
    w, b, scale, U = params                                                    # U: [R, 2, 1, 3]
    z = scgrad.sample("z", D.Bernoulli(logits=w * X + b), z_estimator, num_samples=num_samples)  # [S, R, 5]
    logits = torch.where(z.unsqueeze(-1) > 0, U[:, 1], U[:, 0])
    y = scgrad.sample("y", D.Categorical(logits=logits), scgrad.ScoreFunction(scgrad.BatchAverage()))
    scgrad.cost("fit", (scale * z - X) ** 2 + y * X)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("num_samples", [2, 4])
def test_unbiased_on_a_batch_of_data_points(name, num_samples):
    torch.manual_seed(0)
    estimator = ESTIMATORS[name]()
    params = batch_params(1)
    expected = per_replica(scgrad.diagnostics.exact(batch_program, params, estimator, num_samples).loss, params)
    params = batch_params(R)
    samples = per_replica(scgrad.surrogate(batch_program, params, estimator, num_samples).loss, params)
    assert_unbiased(samples, expected)


# --- a vector of Bernoulli components sharing one cost (Independent), against a sum over its 8 outcomes ------

WEIGHTS = torch.tensor([1.0, -2.0, 0.5])


def shared_cost(b):
    return (b @ WEIGHTS - 0.3) ** 2 + 2.0 * b[..., 0] * b[..., 2]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_independent_components_sharing_a_cost(name):
    torch.manual_seed(0)
    logits = torch.tensor([0.4, -1.1, 0.8]).repeat(R, 1).requires_grad_()
    outcomes = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))
    probs = torch.sigmoid(logits[:1]).unsqueeze(-2)
    exact = ((probs**outcomes * (1 - probs) ** (1 - outcomes)).prod(-1) * shared_cost(outcomes)).sum()
    expected = torch.autograd.grad(exact, logits)[0][0]
    estimator = ESTIMATORS[name]()

    def program():
        b = scgrad.sample("b", D.Independent(D.Bernoulli(logits=logits), 1), estimator, num_samples=2)
        scgrad.cost("c", shared_cost(b))

    assert_unbiased(per_replica(scgrad.surrogate(program).loss, [logits]), expected)


# --- the one-dimensional toy E[(b - t)^2]: sign, variance, exactness --------------------------------------

def toy_gradients(make, p: float, seed: int = 0) -> torch.Tensor:
    """``[R, 1]`` estimates of d/dp E[(b - T)^2], b ~ Bernoulli(p), one pair each."""
    torch.manual_seed(seed)
    prob = torch.full((R,), p, requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=prob), make(), num_samples=2)
        scgrad.cost("c", (b - T) ** 2)

    return per_replica(scgrad.surrogate(program).loss, [prob])


@pytest.mark.parametrize("name", ESTIMATORS)
def test_gradient_points_uphill(name):
    """d/dp E[(b - 0.45)^2] = 1 - 2 * 0.45 = +0.1: an estimator with a sign error has a negative mean."""
    samples = toy_gradients(ESTIMATORS[name], 0.3)
    assert samples.mean() > 0
    assert_unbiased(samples, torch.tensor([1 - 2 * T]))


def test_disarm_is_exact_on_one_component_at_one_half():
    samples = toy_gradients(scgrad.DisARM, 0.5)
    assert torch.allclose(samples, torch.full_like(samples, 1 - 2 * T), atol=1e-5)


def test_disarm_variance_is_not_above_arm():
    """Same seed: DisARM is ARM's expectation given the pair, so its variance is no larger."""
    for p in (0.1, 0.3, 0.5, 0.8):
        arm, disarm = toy_gradients(scgrad.ARM, p), toy_gradients(scgrad.DisARM, p)
        assert disarm.var() <= arm.var()
    assert toy_gradients(scgrad.ARM, 0.5).var() > 1e-3  # ARM is not exact where DisARM is


# --- what the estimators refuse ----------------------------------------------------------------------------

@pytest.mark.parametrize("num_samples", [None, 3])
def test_refuses_a_number_of_draws_that_is_not_pairs(num_samples):
    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=torch.tensor(0.3)), scgrad.DisARM(), num_samples=num_samples)
        scgrad.cost("c", b)

    with pytest.raises(scgrad.ScgradError, match=r"node 'b'.*num_samples must be even.*num_samples=2"):
        scgrad.surrogate(program)


def test_refuses_other_distributions():
    def program():
        scgrad.sample("k", D.Categorical(logits=torch.zeros(3)), scgrad.ARM(), num_samples=2)

    with pytest.raises(scgrad.ScgradError, match=r"node 'k'.*Bernoulli.*Categorical"):
        scgrad.surrogate(program)


def test_refuses_a_cost_that_combines_the_pair():
    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=torch.full((3,), 0.3)), scgrad.ARM(), num_samples=2)
        scgrad.cost("c", b.sum(0, keepdim=True))

    with pytest.raises(scgrad.ScgradError, match=r"node 'b': cost 'c' \(shape \(1, 3\)\) combines its 2 draws.*\(2, 3\)"):
        scgrad.surrogate(program)


def test_a_cost_recorded_after_the_node_in_time_order_is_told_how_to_leave_it_out():
    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=torch.full((3,), 0.3)), scgrad.ARM(), num_samples=2)
        scgrad.cost("c", b)
        scgrad.cost("kl", torch.full((3,), 0.1))  # not computed from b, but recorded after it

    with pytest.raises(scgrad.ScgradError, match=r"cost 'kl'.*record it before sampling 'b' or run under scgrad.provenance"):
        scgrad.surrogate(program)
    with scgrad.provenance():
        scgrad.surrogate(program)
