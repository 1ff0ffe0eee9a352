"""MuProp, REBAR, RELAX and LAX: unbiased before and after tuning, and tuning cuts variance."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad
from stats import assert_unbiased

REPLICAS = 2000
T = 0.45


def replicate_grads(obj, params):
    grads = torch.autograd.grad(obj.loss, params)
    return torch.cat([(g * REPLICAS).reshape(REPLICAS, -1) for g in grads], dim=1)


def tune(program, estimator, steps, lr=0.05):
    optimiser = torch.optim.Adam(estimator.parameters(), lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        scgrad.surrogate(program).backward()
        optimiser.step()


def bernoulli_batch(estimator):
    """Replicas of a node over a batch of 3 data points, each with its own target; a direct cost term too."""
    logits = torch.tensor([0.4, -0.6, 1.1]).repeat(REPLICAS, 1).requires_grad_()
    scale = torch.ones(REPLICAS, 1, requires_grad=True)
    targets = torch.tensor([0.2, 0.45, 0.9])

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator)
        scgrad.cost("fit", scale * (b - targets) ** 2)

    def expected():
        p = torch.sigmoid(logits[0].detach())
        value = p * (1 - targets) ** 2 + (1 - p) * targets**2
        d_logits = p * (1 - p) * ((1 - targets) ** 2 - targets**2)
        return torch.cat([d_logits, value.sum().reshape(1)]) / 3

    return program, [logits, scale], expected


def categorical_batch(estimator):
    """Replicas of two data points with a one-hot latent over 3 categories, read through a table."""
    logits = torch.tensor([[0.2, -0.3, 0.5], [1.0, 0.0, -1.0]]).repeat(REPLICAS, 1, 1).requires_grad_()
    table = torch.tensor([[1.0, -2.0, 0.5], [0.3, 2.0, -1.0]])

    def program():
        z = scgrad.sample("z", D.OneHotCategorical(logits=logits), estimator)
        scgrad.cost("read", (z * table).sum(-1) ** 2)

    def expected():
        l0 = logits[0].detach().requires_grad_()
        value = (l0.softmax(-1) * table**2).sum() / 2
        return torch.autograd.grad(value, l0)[0].reshape(-1)

    return program, [logits], expected


CASES = {
    "muprop-bernoulli": (lambda: scgrad.MuProp(), bernoulli_batch),
    "muprop_ma-bernoulli": (lambda: scgrad.MuProp(scgrad.MovingAverage()), bernoulli_batch),
    "rebar-bernoulli": (lambda: scgrad.REBAR(), bernoulli_batch),
    "relax-bernoulli": (lambda: scgrad.RELAX(), bernoulli_batch),
    "muprop-categorical": (lambda: scgrad.MuProp(), categorical_batch),
    "rebar-categorical": (lambda: scgrad.REBAR(), categorical_batch),
    "relax-categorical": (lambda: scgrad.RELAX(), categorical_batch),
}


@pytest.mark.parametrize("case", CASES)
def test_unbiased_before_and_after_tuning(case):
    make, problem = CASES[case]
    estimator = make()
    program, params, expected = problem(estimator)
    torch.manual_seed(0)
    scgrad.surrogate(program)  # builds lazy controls, warms up moving averages
    assert_unbiased(replicate_grads(scgrad.surrogate(program), params), expected())
    if list(estimator.parameters()):
        tune(program, estimator, steps=15)
        assert_unbiased(replicate_grads(scgrad.surrogate(program), params), expected())


def test_lax_with_an_indicator_cost():
    mu = torch.full((REPLICAS,), 0.5, requires_grad=True)
    sigma = torch.full((REPLICAS,), 1.2, requires_grad=True)
    estimator = scgrad.LAX()

    def program():
        z = scgrad.sample("z", D.Normal(mu, sigma), estimator)
        scgrad.cost("above", (z > 0.3).float())

    standard = D.Normal(0.0, 1.0)
    u = (0.3 - 0.5) / 1.2
    density = standard.log_prob(torch.tensor(u)).exp()
    expected = torch.stack([density / 1.2, density * u / 1.2])  # d/dmu, d/dsigma of P(z > 0.3)
    torch.manual_seed(0)
    scgrad.surrogate(program)
    for steps in (0, 20):
        tune(program, estimator, steps)
        assert_unbiased(replicate_grads(scgrad.surrogate(program), [mu, sigma]), expected)


def toy_variance(make, steps, dims=10, replicas=500, seed=0):
    """Summed gradient variance on E[mean_i (b_i - t)^2] over `dims` Bernoulli variables, after tuning."""
    torch.manual_seed(seed)
    logits = torch.zeros(replicas, dims, requires_grad=True)
    estimator = make()

    def program():
        b = scgrad.sample("b", D.Independent(D.Bernoulli(logits=logits), 1), estimator)
        scgrad.cost("c", ((b - T) ** 2).mean(-1))

    scgrad.surrogate(program)
    if list(estimator.parameters()):
        tune(program, estimator, steps)
    grads = torch.autograd.grad(scgrad.surrogate(program).loss, logits)[0] * replicas
    return grads.var(0).sum().item()


def test_tuned_rebar_and_relax_beat_reinforce_on_the_toy():
    reinforce = toy_variance(scgrad.ScoreFunction, 0)
    rebar = toy_variance(scgrad.REBAR, 100)
    relax = toy_variance(scgrad.RELAX, 100)
    assert rebar < 0.25 * reinforce, (rebar, reinforce)
    assert relax < 0.05 * reinforce, (relax, reinforce)


def test_backward_tunes_only_the_estimator_and_leaves_the_model_gradient_alone():
    logits = torch.zeros(50, requires_grad=True)
    estimator = scgrad.REBAR()

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator)
        scgrad.cost("c", (b - T) ** 2)

    torch.manual_seed(0)
    obj = scgrad.surrogate(program)
    model_grad = torch.autograd.grad(obj.loss, logits, retain_graph=True)[0]
    tuning = torch.autograd.grad(obj.aux_loss, list(estimator.parameters()), retain_graph=True)
    obj.backward()
    assert torch.allclose(logits.grad, model_grad)
    for param, expected in zip(estimator.parameters(), tuning):
        assert torch.allclose(param.grad, expected)


def test_errors_name_the_node_and_the_fix():
    def program(dist, estimator):
        x = scgrad.sample("x", dist, estimator)
        scgrad.cost("c", x.float().sum(-1) if x.dim() > 1 else x.float())

    cases = [
        (D.Categorical(logits=torch.zeros(3)), scgrad.REBAR(), "index cannot hold: use OneHotCategorical"),
        (D.Categorical(logits=torch.zeros(3)), scgrad.MuProp(), "an index has no mean"),
        (D.Normal(0.0, 1.0), scgrad.RELAX(), "RELAX serves Bernoulli, Categorical"),
        (D.Bernoulli(0.5), scgrad.LAX(), "LAX needs a reparameterisable distribution"),
    ]
    for dist, estimator, match in cases:
        with pytest.raises(scgrad.ScgradError, match=match):
            scgrad.surrogate(program, dist, estimator)
    with pytest.raises(scgrad.ScgradError, match="must return the log-prob shape"):
        scgrad.surrogate(program, D.Bernoulli(torch.full((4,), 0.5)), scgrad.RELAX(nn.Linear(1, 2)))


def test_re_evaluation_re_draws_a_later_node_that_depends_on_this_one():
    """w ~ Normal(b, 1) after b: E[w**2] = p + 1, so d/dlogit = p (1 - p); REBAR re-draws w at its relaxed values."""
    logits = torch.full((4000,), 0.3, requires_grad=True)
    rebar = scgrad.REBAR()

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), rebar)
        w = scgrad.sample("w", D.Normal(b, 1.0))
        scgrad.cost("c", w**2)

    torch.manual_seed(0)
    (grad,) = torch.autograd.grad(scgrad.surrogate(program).loss, logits)
    p = torch.sigmoid(torch.tensor(0.3))
    assert_unbiased((grad * 4000).unsqueeze(1), (p * (1 - p)).reshape(1))
