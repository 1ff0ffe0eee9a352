"""One contract over every estimator: constant, linear and quadratic costs with known gradients.

Adding an estimator means adding one line to ``EXAMPLES``. Each case draws ``REPLICAS`` independent
copies of the node as batch elements, each with its own parameter, so one call gives ``REPLICAS``
independent gradient estimates (batch independence is tested on its own in tests/core).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad
from stats import assert_unbiased

REPLICAS = 4000
T = 0.45


@dataclass
class Family:
    """A distribution family with closed-form expectations of a few costs."""

    params: Callable[[], dict]
    dist: Callable[[dict], D.Distribution]
    costs: dict  # name -> (cost of z, exact gradient per parameter name at the initial values)


BERNOULLI = Family(
    params=lambda: {"p": torch.full((REPLICAS,), 0.3)},
    dist=lambda P: D.Bernoulli(probs=P["p"]),
    costs={
        "constant": (lambda z: torch.full_like(z, 2.0), {"p": 0.0}),
        "linear": (lambda z: 3.0 * z, {"p": 3.0}),
        "quadratic": (lambda z: (z - T) ** 2, {"p": 1 - 2 * T}),
    },
)
NORMAL = Family(
    params=lambda: {"mu": torch.full((REPLICAS,), 0.5), "sigma": torch.full((REPLICAS,), 1.3)},
    dist=lambda P: D.Normal(P["mu"], P["sigma"]),
    costs={
        "constant": (lambda z: torch.full_like(z, 2.0), {"mu": 0.0, "sigma": 0.0}),
        "linear": (lambda z: 3.0 * z, {"mu": 3.0, "sigma": 0.0}),
        "quadratic": (lambda z: z**2, {"mu": 2 * 0.5, "sigma": 2 * 1.3}),
    },
)


def critic():
    return scgrad.Critic(nn.Sequential(nn.Linear(1, 1), nn.Flatten(0))).given(torch.ones(REPLICAS, 1))


# (id, estimator factory, families, num_samples)
EXAMPLES = [
    ("reparam", scgrad.Reparam, (NORMAL,), None),
    ("score_function", scgrad.ScoreFunction, (BERNOULLI, NORMAL), None),
    ("moving_average", lambda: scgrad.ScoreFunction(scgrad.MovingAverage()), (BERNOULLI, NORMAL), None),
    ("batch_average", lambda: scgrad.ScoreFunction(scgrad.BatchAverage()), (BERNOULLI, NORMAL), None),
    ("leave_one_out", lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()), (BERNOULLI, NORMAL), 4),
    ("critic", lambda: scgrad.ScoreFunction(critic()), (BERNOULLI, NORMAL), None),
    ("enumerate", scgrad.Enumerate, (BERNOULLI,), None),
    ("enumerate_draws", scgrad.Enumerate, (BERNOULLI,), 3),
    ("arm", scgrad.ARM, (BERNOULLI,), 2),
    ("disarm", scgrad.DisARM, (BERNOULLI,), 4),
    ("indecater", scgrad.IndeCateR, (BERNOULLI,), None),
    ("measure_valued", scgrad.MeasureValued, (BERNOULLI, NORMAL), None),
]

CASES = [
    pytest.param(make, family, num_samples, cost_name, id=f"{name}-{'bernoulli' if family is BERNOULLI else 'normal'}-{cost_name}")
    for name, make, families, num_samples in EXAMPLES
    for family in families
    for cost_name in family.costs
]


@pytest.mark.parametrize("make, family, num_samples, cost_name", CASES)
def test_estimator_contract(make, family, num_samples, cost_name):
    torch.manual_seed(0)
    cost_fn, expected = family.costs[cost_name]
    params = {k: v.requires_grad_() for k, v in family.params().items()}
    estimator = make()

    def program():
        z = scgrad.sample("z", family.dist(params), estimator, num_samples=num_samples)
        scgrad.cost("c", cost_fn(z))

    scgrad.surrogate(program)  # a first call warms up stateful baselines
    obj = scgrad.surrogate(program)
    assert torch.allclose(obj.loss.detach(), obj.cost)
    if obj.loss.requires_grad:
        grads = torch.autograd.grad(obj.loss, list(params.values()), materialize_grads=True)
    else:  # e.g. a constant cost through a pathwise node: nothing to differentiate
        grads = [torch.zeros(REPLICAS) for _ in params]
    samples = torch.stack([g * REPLICAS for g in grads], dim=1)  # [REPLICAS, n_params]
    assert_unbiased(samples, torch.tensor([expected[k] for k in params]))
