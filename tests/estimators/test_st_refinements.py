"""ReinMax and Gumbel-Rao against exact gradients: the bias and variance each is documented to have.

On a small problem (a 3-way one-hot variable, replicated as independent batch elements so that one
call gives many independent gradient estimates) every straight-through-style estimator's bias and
variance is measured against ``scgrad.diagnostics.exact``. The documented orderings are asserted:
Gumbel-Rao has ST Gumbel-softmax's bias with less variance at the same temperature, and ReinMax is
exact for quadratic costs at temperature one, where straight-through is biased.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from stats import Z_LIMIT, assert_unbiased

REPLICAS = 4000
INIT = torch.tensor([0.3, -0.2, 0.8])
A = torch.tensor([[1.0, 0.5, -0.3], [0.5, 2.0, 0.2], [-0.3, 0.2, 0.7]])
C = torch.tensor([0.4, -1.0, 0.3])

COSTS = {
    "quadratic": lambda y: ((y @ A) * y).sum(-1) + (y * C).sum(-1),
    "smooth": lambda y: torch.exp((y * C).sum(-1) * 2) + torch.sin(3 * (y * A[0]).sum(-1)),
}


def program(logits, estimator, cost):
    y = scgrad.sample("y", D.OneHotCategorical(logits=logits), estimator)
    scgrad.cost("c", cost(y))


def gradient_samples(estimator, cost, seed=0, replicas=REPLICAS):
    """``replicas`` independent gradient estimates, each ``[K]``: one surrogate over independent copies."""
    logits = INIT.expand(replicas, 3).clone().requires_grad_()
    torch.manual_seed(seed)
    grad, = torch.autograd.grad(scgrad.surrogate(program, logits, estimator, cost).loss, logits)
    return grad * replicas


def exact_gradient(cost):
    logits = INIT.expand(REPLICAS, 3).clone().requires_grad_()
    grad, = torch.autograd.grad(scgrad.diagnostics.exact(program, logits, scgrad.StraightThrough(), cost).loss, logits)
    return (grad * REPLICAS)[0]


def report(samples, exact):
    """Bias (norm of the mean error), its standard error, and variance (trace of the covariance)."""
    error = samples.mean(0) - exact
    stderr = (samples.var(0).sum() / samples.shape[0]).sqrt()
    return error.norm().item(), stderr.item(), samples.var(0).sum().item()


def estimators(temperature):
    return {
        "StraightThrough": scgrad.StraightThrough(),
        "ReinMax(tau=1)": scgrad.ReinMax(1.0),
        f"GumbelSoftmax(tau={temperature})": scgrad.GumbelSoftmax(temperature),
        f"ST-Gumbel(tau={temperature})": scgrad.GumbelSoftmax(temperature, hard=True),
        f"GumbelRao(k=10, tau={temperature})": scgrad.GumbelRao(k=10, temperature=temperature),
    }


@pytest.mark.parametrize("temperature", [0.5, 1.0])
@pytest.mark.parametrize("cost_name", COSTS)
def test_bias_and_variance_ordering(cost_name, temperature):
    cost = COSTS[cost_name]
    exact = exact_gradient(cost)
    samples = {name: gradient_samples(est, cost, seed=i) for i, (name, est) in enumerate(estimators(temperature).items())}
    rows = {name: report(s, exact) for name, s in samples.items()}
    table = "\n".join(f"{name:28s} bias {b:.4f} ± {se:.4f}   variance {v:.4f}" for name, (b, se, v) in rows.items())
    print(f"\n{cost_name} cost, exact gradient {exact.tolist()}\n{table}")

    st_gumbel, rao = samples[f"ST-Gumbel(tau={temperature})"], samples[f"GumbelRao(k=10, tau={temperature})"]
    # Gumbel-Rao estimates ST-Gumbel's conditional expectation given the sample: same mean, less variance.
    z = (st_gumbel.mean(0) - rao.mean(0)).abs() / (st_gumbel.var(0) / REPLICAS + rao.var(0) / REPLICAS).sqrt()
    assert (z < Z_LIMIT).all(), f"Gumbel-Rao's mean differs from ST-Gumbel's: |z| = {z.tolist()}\n{table}"
    assert rows[f"GumbelRao(k=10, tau={temperature})"][2] < rows[f"ST-Gumbel(tau={temperature})"][2], table
    if cost_name == "quadratic":
        # ReinMax at tau = 1 is exact in expectation for quadratic costs; straight-through is not.
        assert_unbiased(samples["ReinMax(tau=1)"], exact)
        with pytest.raises(AssertionError, match="biased"):
            assert_unbiased(samples["StraightThrough"], exact)


@pytest.mark.parametrize("cost_name", COSTS)
def test_gumbel_softmax_bias_falls_and_variance_grows_as_the_temperature_falls(cost_name):
    cost = COSTS[cost_name]
    exact = exact_gradient(cost)
    cold, hot = (report(gradient_samples(scgrad.GumbelSoftmax(tau), cost, replicas=20_000), exact) for tau in (0.25, 2.0))
    (cold_bias, cold_se, cold_var), (hot_bias, hot_se, hot_var) = cold, hot
    assert cold_bias + Z_LIMIT * cold_se < hot_bias, (cold, hot)
    assert cold_var > hot_var, (cold, hot)


def test_reinmax_is_exact_in_expectation_for_a_quadratic_bernoulli_cost():
    t = 0.45
    probs = torch.full((REPLICAS,), 0.3, requires_grad=True)

    def bernoulli(estimator):
        z = scgrad.sample("z", D.Bernoulli(probs=probs), estimator, num_samples=2)
        scgrad.cost("c", (z - t) ** 2)

    torch.manual_seed(0)
    grad, = torch.autograd.grad(scgrad.surrogate(bernoulli, scgrad.ReinMax()).loss, probs)
    exact, = torch.autograd.grad(scgrad.diagnostics.exact(bernoulli, scgrad.ReinMax()).loss, probs)
    assert torch.allclose(exact * REPLICAS, torch.tensor(1 - 2 * t))
    assert_unbiased((grad * REPLICAS).unsqueeze(1), torch.tensor([1 - 2 * t]))


def test_gumbel_rao_variance_falls_with_k():
    cost = COSTS["smooth"]
    variances = [gradient_samples(scgrad.GumbelRao(k=k, temperature=0.5), cost).var(0).sum().item() for k in (1, 4, 32)]
    assert variances[0] > variances[1] > variances[2], variances


def test_gumbel_rao_refuses_a_bad_k():
    with pytest.raises(scgrad.ScgradError, match="k must be a positive int"):
        scgrad.GumbelRao(k=0)
