"""Statistical unbiasedness of the surrogate's gradients against ``exact`` on several graphs."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad
from stats import assert_unbiased, gradient_samples

REPEATS = 3000


def flat_grad(loss, params, **kwargs):
    grads = torch.autograd.grad(loss, params, materialize_grads=True, **kwargs)
    return torch.cat([g.reshape(-1) for g in grads])


def exact_grad(program, params, *args):
    return flat_grad(scgrad.diagnostics.exact(program, *args).loss, params)


# --- a chain of discrete nodes, costs before and after nodes, a deterministic cost -------------

def chain_params():
    return [
        torch.tensor(0.2, requires_grad=True),                                     # a
        torch.tensor([[0.1, -0.3, 0.5], [0.7, 0.0, -0.2]], requires_grad=True),    # W
        torch.tensor(-0.4, requires_grad=True),                                    # c
        torch.tensor(1.5, requires_grad=True),                                     # scale
    ]


def chain(params, estimators):
    a, W, c, scale = params
    z1 = scgrad.sample("z1", D.Bernoulli(logits=a), estimators["z1"])
    scgrad.cost("early", (z1 - 0.3) ** 2 * scale)
    z2 = scgrad.sample("z2", D.Categorical(logits=W[z1.long()]), estimators["z2"])
    z3 = scgrad.sample("z3", D.Bernoulli(logits=c + 0.5 * z2), estimators["z3"])
    scgrad.cost("late", (z3 - z1) * z2 + scale**2)
    scgrad.cost("deterministic", (scale - 1.0) ** 2)


def sf(baseline=None):
    return scgrad.ScoreFunction(baseline)


CHAIN_ESTIMATORS = {
    "score_function": lambda: {"z1": sf(), "z2": sf(), "z3": sf()},
    "moving_average": lambda: {n: sf(scgrad.MovingAverage(0.8)) for n in ("z1", "z2", "z3")},
    "enumerate_middle": lambda: {"z1": sf(scgrad.MovingAverage()), "z2": scgrad.Enumerate(), "z3": sf(scgrad.MovingAverage())},
    "enumerate_first": lambda: {"z1": scgrad.Enumerate(), "z2": sf(), "z3": scgrad.Enumerate()},
}


@pytest.mark.parametrize("choice", CHAIN_ESTIMATORS)
def test_chain_of_discrete_nodes(choice):
    params = chain_params()
    estimators = CHAIN_ESTIMATORS[choice]()
    expected = exact_grad(chain, params, params, estimators)
    samples = gradient_samples(lambda: flat_grad(scgrad.surrogate(chain, params, estimators).loss, params), REPEATS)
    assert_unbiased(samples, expected)


# --- a batch of independent data points ---------------------------------------------------------

X = torch.tensor([0.1, 0.9, 0.4, 0.6, 0.3])


def batch_params():
    return [torch.tensor(1.2, requires_grad=True), torch.tensor(-0.3, requires_grad=True),
            torch.tensor([[0.2, -0.5, 0.1], [-0.4, 0.3, 0.6]], requires_grad=True)]


def batch_program(params, z_estimator, y_estimator, num_samples=None):
    w, b, U = params
    z = scgrad.sample("z", D.Bernoulli(logits=w * X + b), z_estimator, num_samples=num_samples)
    y = scgrad.sample("y", D.Categorical(logits=U[z.long()]), y_estimator)
    scgrad.cost("fit", (z - X) ** 2 + y * X)


class Linear1(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x.unsqueeze(-1)).squeeze(-1)


BATCH_ESTIMATORS = {
    "batch_average": lambda: (sf(scgrad.BatchAverage()), sf(scgrad.BatchAverage()), None),
    "leave_one_out": lambda: (sf(scgrad.LeaveOneOut()), sf(scgrad.BatchAverage()), 3),
    "critic": lambda: (sf(scgrad.Critic(Linear1()).given(X)), sf(scgrad.MovingAverage()), None),
    "enumerate_and_loo": lambda: (scgrad.Enumerate(), sf(), None),
}


@pytest.mark.parametrize("choice", BATCH_ESTIMATORS)
def test_batch_of_data_points(choice):
    params = batch_params()
    z_est, y_est, num_samples = BATCH_ESTIMATORS[choice]()
    expected = exact_grad(batch_program, params, params, z_est, y_est, num_samples)

    def estimate():
        obj = scgrad.surrogate(batch_program, params, z_est, y_est, num_samples)
        if obj.aux_loss is not None:  # keep fitting the critic, as training would
            critic = z_est.baseline.module
            critic.zero_grad()
            obj.aux_loss.backward(retain_graph=True)
            with torch.no_grad():
                for p in critic.parameters():
                    p -= 0.05 * p.grad
        return flat_grad(obj.loss, params)

    assert_unbiased(gradient_samples(estimate, REPEATS), expected)


# --- several draws, and a cost that combines them ----------------------------------------------

def multi_sample(logits, estimator):
    z = scgrad.sample("z", D.Bernoulli(logits=logits), estimator, num_samples=3)
    per_draw = (z - torch.tensor([0.2, 0.7])) ** 2
    scgrad.cost("per_draw", per_draw)
    scgrad.cost("combined", -torch.logsumexp(-per_draw, dim=-2, keepdim=True))


@pytest.mark.parametrize("make", [lambda: sf(), lambda: sf(scgrad.MovingAverage())], ids=["plain", "moving_average"])
def test_cost_combining_draws(make):
    logits = torch.tensor([0.3, -0.8], requires_grad=True)
    estimator = make()
    expected = exact_grad(multi_sample, [logits], logits, estimator)
    samples = gradient_samples(lambda: flat_grad(scgrad.surrogate(multi_sample, logits, estimator).loss, [logits]), REPEATS)
    assert_unbiased(samples, expected)


def test_leave_one_out_refuses_a_cost_combining_draws():
    logits = torch.tensor([0.3, -0.8], requires_grad=True)
    with pytest.raises(scgrad.ScgradError, match="depends on its 3 draws together"):
        scgrad.surrogate(multi_sample, logits, sf(scgrad.LeaveOneOut()))


# --- second derivatives ------------------------------------------------------------------------

def two_step(params, est1, est2, num_samples=None):
    a, c = params
    z1 = scgrad.sample("z1", D.Bernoulli(logits=a), est1, num_samples=num_samples)
    z2 = scgrad.sample("z2", D.Bernoulli(logits=c + z1), est2)
    scgrad.cost("c", (z1 + 2 * z2 - 1.2) ** 2)


def hessian(loss, params):
    grad = flat_grad(loss, params, create_graph=True)
    return torch.stack([flat_grad(g, params, retain_graph=True) for g in grad])


def fixed_critic(value: float) -> scgrad.Critic:
    """A critic predicting ``value`` (weights set, not drawn, so the test is deterministic)."""
    module = Linear1()
    nn.init.zeros_(module.linear.weight)
    nn.init.constant_(module.linear.bias, value)
    return scgrad.Critic(module).given(torch.tensor(1.0))


SECOND_ORDER = {
    "score_function": lambda: (sf(), sf(), None),
    "critic": lambda: (sf(fixed_critic(0.6)), sf(fixed_critic(-0.4)), None),
    "moving_average": lambda: (sf(scgrad.MovingAverage()), sf(scgrad.MovingAverage()), None),
    "leave_one_out": lambda: (sf(scgrad.LeaveOneOut()), sf(scgrad.BatchAverage()), 4),
}


@pytest.mark.parametrize("choice", SECOND_ORDER)
def test_second_derivatives(choice):
    params = [torch.tensor(0.4, requires_grad=True), torch.tensor(-0.2, requires_grad=True)]
    est1, est2, num_samples = SECOND_ORDER[choice]()
    expected = hessian(scgrad.diagnostics.exact(two_step, params, est1, est2, num_samples).loss, params)
    assert expected.abs().min() > 0.01  # a problem where every second derivative matters
    samples = gradient_samples(lambda: hessian(scgrad.surrogate(two_step, params, est1, est2, num_samples).loss, params), REPEATS)
    assert_unbiased(samples, expected)


def test_the_checker_catches_a_biased_second_derivative():
    """Without the magic box (a plain log-prob weight) second derivatives are biased; the check must say so."""
    a = torch.tensor(0.4, requires_grad=True)

    def naive():
        b = D.Bernoulli(logits=a).sample()
        loss = D.Bernoulli(logits=a).log_prob(b) * (b - 0.2) ** 2
        g = torch.autograd.grad(loss, a, create_graph=True)[0]
        return torch.autograd.grad(g, a)[0].reshape(1)

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=a), sf())
        scgrad.cost("c", (b - 0.2) ** 2)

    expected = hessian(scgrad.diagnostics.exact(program).loss, [a])
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(gradient_samples(naive, REPEATS), expected)
