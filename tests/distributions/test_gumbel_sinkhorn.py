"""Gumbel-Sinkhorn: doubly-stochastic samples, hard permutations, and use as a scgrad node."""

from __future__ import annotations

import itertools

import pytest
import torch

import scgrad
from scgrad.distributions import GumbelSinkhorn, matching, sinkhorn


def log_alpha(*shape, seed=0):
    return (2 * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))).requires_grad_()


@pytest.mark.parametrize("temperature, n_iters, tol", [(1.0, 200, 1e-4), (0.3, 500, 2e-3)])
def test_samples_are_doubly_stochastic(temperature, n_iters, tol):
    torch.manual_seed(0)
    sample = GumbelSinkhorn(log_alpha(4, 6, 6), temperature, n_iters).rsample((5,))
    assert sample.shape == (5, 4, 6, 6)
    assert (sample >= 0).all()
    assert torch.allclose(sample.sum(-2), torch.ones(5, 4, 6), atol=1e-5)  # columns: the last normalisation
    assert torch.allclose(sample.sum(-1), torch.ones(5, 4, 6), atol=tol)


def test_row_error_shrinks_with_iterations():
    torch.manual_seed(0)
    scores = log_alpha(16, 7, 7).detach()
    errors = [(sinkhorn(scores, n).sum(-1) - 1).abs().max().item() for n in (5, 20, 80, 320)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-5


def test_hard_samples_are_permutations_with_the_soft_gradient():
    scores = log_alpha(3, 5, 5)
    weights = torch.randn(3, 5, 5)
    torch.manual_seed(1)
    hard = GumbelSinkhorn(scores, 0.5, 30, hard=True).rsample((4,))
    torch.manual_seed(1)
    soft = GumbelSinkhorn(scores, 0.5, 30).rsample((4,))
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    assert (hard.sum(-1) == 1).all() and (hard.sum(-2) == 1).all()
    grad_hard, = torch.autograd.grad((hard * weights).sum(), scores)
    grad_soft, = torch.autograd.grad((soft * weights).sum(), scores)
    assert torch.allclose(grad_hard, grad_soft)


def test_hard_sample_is_the_matching_of_the_same_noise_and_soft_tends_to_it():
    scores = log_alpha(2, 5, 5).detach()
    torch.manual_seed(2)
    perturbed = GumbelSinkhorn(scores).perturb((6,))
    torch.manual_seed(2)
    hard = GumbelSinkhorn(scores, 0.5, hard=True).rsample((6,))
    assert torch.equal(hard, matching(perturbed))
    # the soft sample of the same noise tends to it as the temperature goes to zero (slowly near ties)
    errors = torch.stack([
        (sinkhorn(perturbed.double() / tau, n_iters) - hard).abs().amax((-1, -2)).flatten()
        for tau, n_iters in ((0.1, 500), (0.05, 2000), (0.02, 5000))
    ])
    assert (errors[1:] <= errors[:-1]).all()
    assert errors[-1].median() < 1e-3


def test_matching_maximises_the_total_score():
    scores = log_alpha(10, 4, 4).detach()
    perms = matching(scores)
    for k in range(10):
        best = max(sum(scores[k, i, p[i]].item() for i in range(4)) for p in itertools.permutations(range(4)))
        assert abs((perms[k] * scores[k]).sum().item() - best) < 1e-5


def test_as_a_scgrad_node_with_the_default_pathwise_estimator():
    scores = log_alpha(3, 4, 4)
    x = torch.randn(3, 4)

    def program():
        perm = scgrad.sample("perm", GumbelSinkhorn(scores, 1.0, 20), num_samples=2)
        scgrad.cost("sorted", ((perm.transpose(-1, -2) @ x.unsqueeze(-1)).squeeze(-1) - x.sort(-1).values) ** 2)
        program.perm = perm

    torch.manual_seed(0)
    obj = scgrad.surrogate(program)
    assert program.perm.shape == (2, 3, 4, 4)
    assert isinstance(obj.graph.nodes["perm"].estimator, scgrad.Reparam)
    grad, = torch.autograd.grad(obj.loss, scores)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_bad_arguments_are_refused():
    with pytest.raises(scgrad.ScgradError, match=r"\(N, N\)"):
        GumbelSinkhorn(torch.zeros(3, 4))
    with pytest.raises(scgrad.ScgradError, match="positive"):
        GumbelSinkhorn(torch.zeros(3, 3), temperature=0.0)
    with pytest.raises(scgrad.ScgradError, match="n_iters"):
        GumbelSinkhorn(torch.zeros(3, 3), n_iters=0)
