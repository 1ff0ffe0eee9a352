"""Every stateful part round-trips through state_dict, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad

TARGETS = torch.tensor([0.2, 0.45, 0.8])


def critic():
    return scgrad.Critic(nn.Linear(3, 1))


STATEFUL = {
    "moving_average": (lambda: scgrad.ScoreFunction(scgrad.MovingAverage()), "bernoulli"),
    "critic": (lambda: scgrad.ScoreFunction(critic()), "bernoulli"),
    "muprop_moving_average": (lambda: scgrad.MuProp(scgrad.MovingAverage()), "bernoulli"),
    "rebar": (scgrad.REBAR, "bernoulli"),
    "relax": (scgrad.RELAX, "bernoulli"),
    "relax_rebar": (lambda: scgrad.RELAX(relaxed_cost=True), "bernoulli"),
    "learnable_temperature": (lambda: scgrad.GumbelSoftmax(scgrad.Temperature(0.7, learnable=True)), "bernoulli"),
    "lax": (scgrad.LAX, "normal"),
}


def program(logits, estimator, kind):
    if isinstance(estimator, scgrad.ScoreFunction) and isinstance(estimator.baseline, scgrad.Critic):
        estimator = scgrad.ScoreFunction(estimator.baseline.given(torch.ones(1, 3)))
    if kind == "bernoulli":
        b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=2)
        scgrad.cost("c", (b - TARGETS) ** 2)
    else:
        z = scgrad.sample("z", D.Normal(logits, 1.0), estimator, num_samples=2)
        scgrad.cost("c", (z > TARGETS).float())


def start(name):
    make, kind = STATEFUL[name]
    logits = torch.zeros(3, requires_grad=True)
    estimator = make()
    scgrad.surrogate(program, logits, estimator, kind)  # builds lazy modules before the optimiser sees them
    optimiser = torch.optim.Adam([logits, *estimator.parameters()], lr=0.05)
    return logits, estimator, optimiser, kind


def run(logits, estimator, optimiser, kind, steps):
    for _ in range(steps):
        optimiser.zero_grad()
        scgrad.surrogate(program, logits, estimator, kind).backward()
        optimiser.step()


@pytest.mark.parametrize("name", STATEFUL)
def test_resumed_training_equals_uninterrupted(name):
    torch.manual_seed(0)
    logits, estimator, optimiser, kind = start(name)
    run(logits, estimator, optimiser, kind, 3)
    checkpoint = {
        "logits": logits.detach().clone(),
        "estimator": {k: v.clone() for k, v in estimator.state_dict().items()},
        "optimiser": copy.deepcopy(optimiser.state_dict()),
        "rng": torch.get_rng_state(),
    }
    run(logits, estimator, optimiser, kind, 3)

    torch.manual_seed(123)  # a different process would start elsewhere
    resumed_logits, resumed, resumed_optimiser, _ = start(name)
    with torch.no_grad():
        resumed_logits.copy_(checkpoint["logits"])
    resumed.load_state_dict(checkpoint["estimator"])
    resumed_optimiser.load_state_dict(checkpoint["optimiser"])
    torch.set_rng_state(checkpoint["rng"])
    run(resumed_logits, resumed, resumed_optimiser, kind, 3)

    assert torch.equal(resumed_logits, logits)
    for (key, value), (_, other) in zip(estimator.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(value, other), key
