"""The discrete VAE of the design, with the score function and a leave-one-out or batch-average baseline.

``z ~ Independent(Bernoulli)`` (4 latents) or ``Independent(OneHotCategorical)`` (2 latents of 3
categories), ``num_samples=4`` draws per data point, a batch of 3; then ``cost("nll", ...)`` of
shape ``[4, B]`` and, recorded after the sample but not computed from ``z``, ``cost("kl", ...)`` of
shape ``[B]``: the analytic KL of q to a uniform prior, from the encoder's logits. Both baselines
must give unbiased gradients. A cost that really combines the draws (the IWAE bound) with
``LeaveOneOut`` must give an unbiased gradient or a ScgradError naming the cost, never a biased number.

Expected gradients never come from scgrad: :func:`brute_force` runs the program, written once as
``model(draw, cost, ...)``, once per joint outcome. Every data point's costs depend on its own
latents only, and with per-draw costs the expectation of the mean over draws is the single-draw
expectation; so the VAE's exact objective is the mean over data points of a one-point, one-draw
program (16 or 9 outcomes each). The IWAE bound combines the draws, so its reference enumerates
all of one data point's draws jointly (2 latents, 3 draws: 64 outcomes per data point).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad
from brute_force import brute_force
from stats import assert_unbiased, gradient_samples

DTYPE = torch.float64
B, DATA = 3, 6
X = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 0, 1]], dtype=DTYPE)


# ------------------------------------------------------------------------------------------------
# The independent reference (as in tests/diagnostics/test_exact_ground_truth.py).


def flat_grad(loss, params):
    out = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, out)])


# ------------------------------------------------------------------------------------------------
# The model: linear encoder and decoder with fixed seeds.


class Latent:
    """Bernoulli latents (4) or one-hot latents (2 of 3 categories): their q, KL to uniform, code size."""

    def __init__(self, kind):
        self.kind = kind
        self.shape = (4,) if kind == "bernoulli" else (2, 3)
        self.code = math.prod(self.shape)

    def q(self, logits):
        logits = logits.reshape(logits.shape[:-1] + self.shape)
        if self.kind == "bernoulli":
            return D.Independent(D.Bernoulli(logits=logits), 1)
        return D.Independent(D.OneHotCategorical(logits=logits), 1)

    def kl_to_uniform(self, logits):
        logits = logits.reshape(logits.shape[:-1] + self.shape)
        if self.kind == "bernoulli":
            p, log_p, log_1mp = torch.sigmoid(logits), torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)
            return (p * (log_p - math.log(0.5)) + (1 - p) * (log_1mp - math.log(0.5))).sum(-1)
        log_q = logits.log_softmax(-1)
        return (log_q.exp() * (log_q + math.log(self.shape[-1]))).sum((-2, -1))


def make_params(latent, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(latent.code, DATA), (latent.code,), (DATA, latent.code), (DATA,)]
    return [(0.6 * torch.randn(s, generator=gen, dtype=DTYPE)).requires_grad_() for s in shapes]


def vae(draw, cost, latent, params, x, num_samples):
    w_enc, b_enc, w_dec, b_dec = params
    logits = x @ w_enc.T + b_enc  # [B, code]
    z = draw("z", latent.q(logits), num_samples)  # [S, B, *latent]
    recon = z.reshape(z.shape[: z.dim() - len(latent.shape)] + (latent.code,)) @ w_dec.T + b_dec
    cost("nll", -D.Bernoulli(logits=recon).log_prob(x).sum(-1))  # [S, B]
    cost("kl", latent.kl_to_uniform(logits))  # [B]: recorded after z, not computed from it


def scgrad_program(model, estimator):
    def program(*args):
        def draw(name, dist, num_samples=None):
            return scgrad.sample(name, dist, estimator, num_samples=num_samples)

        model(draw, scgrad.cost, *args)

    return program


def exact_vae_objective(latent, params):
    """mean over data points of E[nll] + kl, each data point's single draw enumerated on its own."""
    return sum(brute_force(vae, latent, params, X[i : i + 1], None) for i in range(B)) / B


def test_reference_against_a_hand_sum():
    """The per-point decomposition against one enumeration of all three points jointly, for the one-hot
    latent (9 outcomes per point, 729 jointly), one draw."""
    latent = Latent("onehot")
    params = make_params(latent)
    joint = brute_force(vae, latent, params, X, None)
    per_point = exact_vae_objective(latent, params)
    torch.testing.assert_close(joint, per_point)
    torch.testing.assert_close(flat_grad(joint, params), flat_grad(per_point, params))


@pytest.mark.parametrize("latent", ["bernoulli", "onehot"])
@pytest.mark.parametrize("baseline", ["leave_one_out", "batch_average"])
def test_design_vae_is_unbiased(baseline, latent):
    latent = Latent(latent)
    params = make_params(latent)
    expected = flat_grad(exact_vae_objective(latent, params), params)
    make = {"leave_one_out": scgrad.LeaveOneOut, "batch_average": scgrad.BatchAverage}[baseline]
    program = scgrad_program(vae, scgrad.ScoreFunction(make()))

    def estimate():
        return flat_grad(scgrad.surrogate(program, latent, params, X, 4).loss, params)

    assert_unbiased(gradient_samples(estimate, 1000, seed=3), expected)


# ------------------------------------------------------------------------------------------------
# The IWAE bound: a cost that combines the draws.

IWAE_DRAWS = 3


def iwae(draw, cost, params, x):
    w_enc, b_enc, w_dec, b_dec = params
    q = D.Independent(D.Bernoulli(logits=x @ w_enc.T + b_enc), 1)
    z = draw("z", q, IWAE_DRAWS)  # [K, B, 2]
    log_w = D.Bernoulli(logits=z @ w_dec.T + b_dec).log_prob(x).sum(-1) + 2 * math.log(0.5) - q.log_prob(z)  # [K, B]
    cost("iwae_bound", -(torch.logsumexp(log_w, 0) - math.log(IWAE_DRAWS)))  # [B]


def iwae_params():
    gen = torch.Generator().manual_seed(1)
    shapes = [(2, DATA), (2,), (DATA, 2), (DATA,)]
    return [(0.6 * torch.randn(s, generator=gen, dtype=DTYPE)).requires_grad_() for s in shapes]


def test_iwae_bound_with_leave_one_out_is_unbiased_or_refused():
    params = iwae_params()
    x = X[:2]
    expected = flat_grad(sum(brute_force(iwae, params, x[i : i + 1]) for i in range(2)) / 2, params)
    program = scgrad_program(iwae, scgrad.ScoreFunction(scgrad.LeaveOneOut()))
    try:
        scgrad.surrogate(program, params, x)
    except scgrad.ScgradError as error:
        assert "iwae_bound" in str(error), f"the refusal does not name the cost 'iwae_bound': {error}"
        return

    def estimate():
        return flat_grad(scgrad.surrogate(program, params, x).loss, params)

    assert_unbiased(gradient_samples(estimate, 1500, seed=4), expected)


def test_iwae_bound_with_vimco_is_unbiased():
    """A control: the IWAE reference against the baseline made for it (unbiased before and after the fix)."""
    params = iwae_params()
    x = X[:2]
    expected = flat_grad(sum(brute_force(iwae, params, x[i : i + 1]) for i in range(2)) / 2, params)
    w_enc, b_enc, w_dec, b_dec = params

    def program():
        q = D.Independent(D.Bernoulli(logits=x @ w_enc.T + b_enc), 1)

        def log_weights(z):
            return D.Bernoulli(logits=z @ w_dec.T + b_dec).log_prob(x).sum(-1) + 2 * math.log(0.5) - q.log_prob(z)

        z = scgrad.sample("z", q, scgrad.ScoreFunction(scgrad.VIMCO(log_weights)), num_samples=IWAE_DRAWS)
        scgrad.cost("iwae_bound", -(torch.logsumexp(log_weights(z), 0) - math.log(IWAE_DRAWS)))

    def estimate():
        return flat_grad(scgrad.surrogate(program).loss, params)

    assert_unbiased(gradient_samples(estimate, 1500, seed=4), expected)
