"""VIMCO: the score function with VIMCO's baseline is unbiased on an IWAE-style bound over a batch of data
points, its baseline is the bound with a draw's log-weight replaced, and it lowers the variance.

Every parameter has a leading dim of ``R`` independent replicas, so one call gives ``R`` estimates.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad
from replicas import per_replica
from stats import assert_unbiased

R = 3000
K = 3
X = torch.tensor([0.1, 0.9, 0.4, 0.6, 0.3])


def params(replicas):
    return [torch.full((replicas, 1), value, requires_grad=True) for value in (1.5, -0.4, 0.8)]


def iwae(params, baseline):
    """q(z | x) = Bernoulli(σ(w x + b)); p(z) = Bernoulli(1/2), p(x | z) = Normal(scale * z, 0.5)."""
    w, b, scale = params
    q = D.Bernoulli(logits=w * X + b)

    def log_weights(z):                                                          # [K, R, 5]
        return D.Normal(scale * z, 0.5).log_prob(X) + math.log(0.5) - q.log_prob(z)

    z = scgrad.sample("z", q, scgrad.ScoreFunction(baseline(log_weights)), num_samples=K)
    # dim -3 is the draws' dim (exact enumerates to its left); one bound per data point: [1, R, 5]
    scgrad.cost("iwae", -(torch.logsumexp(log_weights(z), dim=-3, keepdim=True) - math.log(K)))


def test_unbiased_on_a_batch_of_data_points():
    torch.manual_seed(0)
    p = params(1)
    expected = per_replica(scgrad.diagnostics.exact(iwae, p, scgrad.VIMCO).loss, p)
    p = params(R)
    assert_unbiased(per_replica(scgrad.surrogate(iwae, p, scgrad.VIMCO).loss, p), expected)


def test_lowers_the_variance_of_the_score_function():
    variances = []
    for baseline in (scgrad.VIMCO, lambda log_weights: None):
        torch.manual_seed(0)
        p = params(R)
        variances.append(per_replica(scgrad.surrogate(iwae, p, baseline).loss, p)[:, :2].var(0))
    assert bool((variances[0] < variances[1]).all()), variances


def test_baseline_is_the_bound_without_the_draw():
    """With two draws, replacing one log-weight by the mean of the other leaves the other alone:
    b_k = −log w_{other}, on the downstream cost's scale (K per data point)."""
    log_w = torch.tensor([[0.3, -1.0], [-2.0, 0.5]])  # [2 draws, 2 data points]
    logits = torch.zeros(2)
    vimco = scgrad.VIMCO(lambda z: log_w)

    def program():
        scgrad.sample("z", D.Bernoulli(logits=logits), scgrad.ScoreFunction(vimco), num_samples=2)
        scgrad.cost("iwae", -(torch.logsumexp(log_w, 0, keepdim=True) - math.log(2)))

    baseline = scgrad.surrogate(program).parts["z"].baseline
    assert torch.allclose(baseline, -2 * log_w.flip(0))


def test_refuses_log_weights_of_another_shape():
    def program():
        scgrad.sample("z", D.Bernoulli(logits=torch.zeros(3)), scgrad.ScoreFunction(scgrad.VIMCO(lambda z: z.sum(-1))), num_samples=2)
        scgrad.cost("c", torch.zeros(1, 3))

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*shape \(2,\).*shape \(2, 3\)"):
        scgrad.surrogate(program)


def test_refuses_a_single_draw():
    def program():
        scgrad.sample("z", D.Bernoulli(logits=torch.zeros(3)), scgrad.ScoreFunction(scgrad.VIMCO(lambda z: z)))
        scgrad.cost("c", torch.zeros(3))

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*num_samples=None"):
        scgrad.surrogate(program)


def test_takes_a_function():
    with pytest.raises(scgrad.ScgradError, match="function"):
        scgrad.VIMCO(torch.zeros(3))


def hessian_per_replica(loss, p, replicas):
    """``[replicas, 9]``: each replica's Hessian of its objective with respect to its three parameters."""
    grads = torch.autograd.grad(loss, p, create_graph=True)
    rows = [torch.cat([h.reshape(replicas, -1) for h in torch.autograd.grad(g.sum(), p, retain_graph=True)], 1) for g in grads]
    return torch.stack(rows, 1).reshape(replicas, -1) * replicas


def test_second_derivatives_are_unbiased():
    torch.manual_seed(0)
    p = params(1)
    expected = hessian_per_replica(scgrad.diagnostics.exact(iwae, p, scgrad.VIMCO).loss, p, 1)[0]
    p = params(R)
    assert_unbiased(hessian_per_replica(scgrad.surrogate(iwae, p, scgrad.VIMCO).loss, p, R), expected)
