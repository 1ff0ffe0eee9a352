"""Gumbel-max views: unconditional and conditional sampling of the perturbed logits.

The conditional sampler must (1) reproduce the unconditional law once the outcome is marginalised,
checked against exact moments and CDF values of the Gumbel / logistic noise and, for the relaxed value,
against torch's own ``RelaxedOneHotCategorical`` / ``RelaxedBernoulli``; and (2) give a perturbation
whose outcome is the conditioning one on every draw, at extreme logits and in float32 too.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D
from scipy.stats import ks_2samp

from scgrad.distributions import BinaryConcrete, Concrete, concrete
from stats import assert_unbiased

EULER = 0.5772156649015329
N = 60_000
LOGITS = torch.tensor([0.5, -1.0, 1.2, -0.3])


def gumbel_features(z: torch.Tensor, logits: torch.Tensor):
    """Per-sample features of ``z`` and their exact means under independent Gumbel(logits_i) coordinates."""
    K = logits.shape[-1]
    feats, expected = [z], [logits + EULER]
    for shift in (-0.5, 1.0):
        t = logits + shift
        feats.append((z <= t).to(z.dtype))
        expected.append(torch.exp(-torch.exp(-(t - logits))))
    i, j = torch.triu_indices(K, K, 1)
    feats.append(z[:, i] * z[:, j])  # independence of coordinates
    expected.append((logits[i] + EULER) * (logits[j] + EULER))
    return torch.cat(feats, dim=1), torch.cat(expected)


def test_categorical_perturbation_is_gumbel():
    torch.manual_seed(0)
    z = Concrete(LOGITS).perturb((N,))
    assert z.shape == (N, 4)
    assert_unbiased(*gumbel_features(z, LOGITS))


def test_categorical_conditional_marginal_is_gumbel():
    """b ~ Categorical(softmax θ) drawn by torch, then z ~ p(z | b): z must be iid Gumbel(θ_i)."""
    torch.manual_seed(1)
    b = D.OneHotCategorical(logits=LOGITS).sample((N,))
    z = Concrete(LOGITS).perturb_given(b)
    assert_unbiased(*gumbel_features(z, LOGITS))


def test_the_marginal_check_catches_a_wrong_conditional():
    """Conditioning on outcomes drawn with the wrong probabilities (uniform) must fail the same check."""
    torch.manual_seed(1)
    b = D.OneHotCategorical(logits=torch.zeros(4)).sample((N,))
    z = Concrete(LOGITS).perturb_given(b)
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(*gumbel_features(z, LOGITS))


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
def test_categorical_conditional_relaxed_is_concrete(temperature):
    """softmax(z / τ) with z ~ p(z | b), b ~ p, against torch's RelaxedOneHotCategorical(τ, θ)."""
    torch.manual_seed(2)
    logits = LOGITS.double()  # float32 saturates where torch clamps
    view = Concrete(logits)
    b = D.OneHotCategorical(logits=logits).sample((N,))
    ours = view.relax(view.perturb_given(b), temperature)
    torch_samples = D.RelaxedOneHotCategorical(torch.tensor(temperature).double(), logits=logits).sample((N,))
    assert torch.allclose(ours.sum(-1), torch.ones(N, dtype=torch.float64))
    for k in range(4):
        assert ks_2samp(ours[:, k].numpy(), torch_samples[:, k].numpy()).pvalue > 1e-4


def test_binary_conditional_marginal_is_logistic():
    torch.manual_seed(3)
    logits = torch.tensor([-2.0, 0.0, 0.7, 3.0])
    view = BinaryConcrete(logits)
    b = D.Bernoulli(logits=logits).sample((N,))
    z = view.perturb_given(b)
    feats = [z] + [(z <= logits + s).double() for s in (-1.0, 0.5)] + [z**2]
    expected = [logits] + [torch.sigmoid(torch.tensor(s)).expand(4) for s in (-1.0, 0.5)] + [logits**2 + math.pi**2 / 3]
    assert_unbiased(torch.cat(feats, 1), torch.cat(expected))
    unconditional = view.perturb((N,))
    assert_unbiased(torch.cat([unconditional, (unconditional > 0).double()], 1), torch.cat([logits, logits.sigmoid()]))


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
def test_binary_conditional_relaxed_is_binary_concrete(temperature):
    torch.manual_seed(4)
    logits = torch.tensor([-2.0, 0.7], dtype=torch.float64)  # float32 saturates at 1 where torch clamps to 1 - eps
    view = BinaryConcrete(logits)
    ours = view.relax(view.perturb_given(D.Bernoulli(logits=logits).sample((N,))), temperature)
    torch_samples = D.RelaxedBernoulli(torch.tensor(temperature, dtype=torch.float64), logits=logits).sample((N,))
    for k in range(2):
        assert ks_2samp(ours[:, k].numpy(), torch_samples[:, k].numpy()).pvalue > 1e-4


EXTREME = torch.tensor([
    [1000.0, 1000.0, 999.0, 1000.5, 990.0],  # large logits: z_b + (tiny gap) rounds to z_b without care
    [-20.0, 0.0, 15.0, 0.0, -3.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [30.0, 29.999, -30.0, 1.0, 2.0],
    [-80.0, -80.0, -79.0, -100.0, -80.5],
])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conditional_outcome_equals_b_every_time(dtype):
    torch.manual_seed(5)
    logits = EXTREME.to(dtype)
    view = Concrete(logits)
    b = view.outcome(view.perturb((200_000,)))
    b[:100] = torch.eye(5, dtype=dtype)[torch.arange(100) % 5].unsqueeze(1)  # improbable outcomes too
    z = view.perturb_given(b)
    assert torch.isfinite(z).all()
    assert torch.equal(view.outcome(z), b)

    binary = BinaryConcrete(torch.tensor([-30.0, -8.0, 0.0, 1e-3, 8.0, 30.0], dtype=dtype))
    outcomes = torch.randint(0, 2, (50_000, 6)).to(dtype)  # every outcome, however improbable
    z = binary.perturb_given(outcomes)
    assert torch.isfinite(z).all()
    assert torch.equal(binary.outcome(z), outcomes)


def test_concrete_view_of_distributions():
    logits = torch.randn(2, 3)
    assert isinstance(concrete(D.Bernoulli(logits=logits)), BinaryConcrete)
    assert isinstance(concrete(D.Categorical(logits=logits)), Concrete)
    assert isinstance(concrete(D.Independent(D.OneHotCategorical(logits=logits), 1)), Concrete)
    assert concrete(D.Normal(0.0, 1.0)) is None
    assert torch.allclose(concrete(D.Categorical(logits=logits)).probs, logits.softmax(-1))
