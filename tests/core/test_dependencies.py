"""Which costs credit which nodes: time order (linear), provenance (exact), batch independence."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.distributions as D

import scgrad
from stats import assert_unbiased, gradient_samples


def episode(logits, rewards):
    for t in range(logits.shape[0]):
        action = scgrad.sample(f"a{t}", D.Bernoulli(logits=logits[t]), scgrad.ScoreFunction())
        scgrad.cost(f"r{t}", -rewards[t] * action)


def test_time_order_gives_reward_to_go():
    steps = 5
    logits = torch.zeros(steps, requires_grad=True)
    rewards = torch.arange(1.0, steps + 1)
    actions = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    with scgrad.substitute({f"a{t}": actions[t] for t in range(steps)}):
        obj = scgrad.surrogate(episode, logits, rewards)
    (grad,) = torch.autograd.grad(obj.loss, logits)
    costs = -rewards * actions
    to_go = costs.flip(0).cumsum(0).flip(0)
    score = actions - torch.sigmoid(logits.detach())  # d log p(a_t) / d logit_t
    assert torch.allclose(grad, to_go * score)


def count_calls(function, *args):
    """Python function calls made while ``function(*args)`` runs (deterministic, unlike a timer)."""
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("baseline", [None, scgrad.MovingAverage()], ids=["plain", "moving_average"])
def test_surrogate_construction_is_linear_in_episode_length(baseline):
    estimator = scgrad.ScoreFunction(baseline)

    def program(steps):
        for t in range(steps):
            action = scgrad.sample(f"a{t}", D.Bernoulli(logits=torch.zeros(())), estimator)
            scgrad.cost(f"r{t}", -action)

    def build(steps):
        with scgrad.substitute({f"a{t}": torch.tensor(1.0) for t in range(steps)}):
            scgrad.surrogate(program, steps).loss.backward

    short, long = count_calls(build, 250), count_calls(build, 1000)
    assert long < 4.4 * short  # linear: x4 (plus a constant); quadratic would be x16


# Estimators whose term for one data point reads that data point's costs only (baselines that average
# over other data points, such as MovingAverage or BatchAverage, mix them by design, unbiased on average).
PER_POINT = {
    "score_function": (scgrad.ScoreFunction, None),
    "leave_one_out": (lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()), 3),
    "enumerate": (scgrad.Enumerate, None),
    "arm": (scgrad.ARM, 2),
    "disarm": (scgrad.DisARM, 4),
    "indecater": (scgrad.IndeCateR, None),
    "measure_valued": (scgrad.MeasureValued, None),
    "muprop": (scgrad.MuProp, None),
    "rebar": (scgrad.REBAR, None),
}


@pytest.mark.parametrize("name", PER_POINT)
def test_one_data_point_never_weights_another(name):
    make, num_samples = PER_POINT[name]
    p = torch.tensor([0.3, 0.6], requires_grad=True)
    estimator = make()

    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=p), estimator, num_samples=num_samples)
        scgrad.cost("c", b * torch.tensor([100.0, 0.0]))

    torch.manual_seed(0)
    grads = torch.stack([torch.autograd.grad(scgrad.surrogate(program).loss, p)[0] for _ in range(50)])
    assert bool((grads[:, 1] == 0.0).all())  # every sample, not only on average
    assert bool((grads[:, 0] != 0.0).any())  # while the data point with a cost does get gradients


def independent_parts(a, c, estimator):
    z1 = scgrad.sample("z1", D.Bernoulli(logits=a), estimator)
    z2 = scgrad.sample("z2", D.Bernoulli(logits=c), estimator)
    scgrad.cost("small", (z1 - 0.5) ** 2)
    scgrad.cost("large", 20.0 * z2)


def test_provenance_records_exact_dependencies():
    a, c = torch.tensor(0.1), torch.tensor(-0.2)

    def chained():
        z1 = scgrad.sample("z1", D.Bernoulli(logits=a))
        z2 = scgrad.sample("z2", D.Bernoulli(logits=c + z1))  # depends on z1 through its parameter
        z3 = scgrad.sample("z3", D.Bernoulli(logits=c))
        scgrad.cost("from_z2", z2 * 2)
        scgrad.cost("from_z3", z3.exp())
        scgrad.cost("constant", torch.ones(()))

    with scgrad.provenance():
        graph = scgrad.surrogate(chained).graph
    assert graph.nodes["z2"].upstream == {"z1"}
    assert graph.costs["from_z2"].upstream == {"z1", "z2"}
    assert graph.costs["from_z3"].upstream == {"z3"}
    assert graph.costs["constant"].upstream == frozenset()


def test_provenance_is_unbiased_and_cuts_variance():
    a = torch.tensor(0.3, requires_grad=True)
    c = torch.tensor(-0.5, requires_grad=True)
    estimator = scgrad.ScoreFunction()
    expected = torch.stack(torch.autograd.grad(scgrad.diagnostics.exact(independent_parts, a, c, estimator).loss, [a, c]))

    def estimate():
        return torch.stack(torch.autograd.grad(scgrad.surrogate(independent_parts, a, c, estimator).loss, [a, c]))

    def tracked():
        with scgrad.provenance():
            return estimate()

    time_order, exact_deps = gradient_samples(estimate, 3000), gradient_samples(tracked, 3000)
    assert_unbiased(time_order, expected)
    assert_unbiased(exact_deps, expected)
    # z1's gradient no longer carries the noise of the large cost it does not influence
    assert exact_deps[:, 0].var() < 0.05 * time_order[:, 0].var()
