"""MeasureValued: unbiased on Bernoulli, Categorical and Normal nodes with batches of data points, on
components sharing a cost and on a cost that combines draws; how many times it re-runs the program.

Every parameter has a leading dim of ``R`` independent replicas, so one call gives ``R`` estimates.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D
from torch.nn.functional import softplus

import scgrad
from replicas import per_replica
from stats import assert_unbiased

R = 3000
X = torch.tensor([0.1, 0.9, 0.4, 0.6, 0.3])  # data points, each with its own cost
RAMP = torch.linspace(-1.0, 1.0, 3)  # how data and upstream values move the categories' logits


# --- a discrete node with an upstream score-function node and a pathwise parameter ---------------------------

def discrete_params(replicas):
    return [torch.full((replicas, 1), value, requires_grad=True) for value in (0.3, 1.2, -0.3, 0.7)] + [
        torch.tensor([[0.2, -0.5, 0.1]]).repeat(replicas, 1, 1).requires_grad_()
    ]


def discrete_program(params, kind, runs=None):
    c, w, b, scale, V = params                                                 # V: [R, 1, 3]
    if runs is not None:
        runs.append(1)
    a = scgrad.sample("a", D.Bernoulli(logits=c), scgrad.ScoreFunction())     # [R, 1]
    if kind == "bernoulli":
        z = scgrad.sample("z", D.Bernoulli(logits=w * X + b + 0.5 * a), scgrad.MeasureValued())  # [R, 5]
    else:
        logits = V + (w * X + 0.5 * a).unsqueeze(-1) * RAMP
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.MeasureValued())  # [R, 5]
    scgrad.cost("fit", (scale * z - X) ** 2 + 0.5 * z * a)


@pytest.mark.parametrize("kind", ["bernoulli", "categorical"])
def test_unbiased_on_a_discrete_node_with_a_batch_of_data_points(kind):
    torch.manual_seed(0)
    params = discrete_params(1)
    expected = per_replica(scgrad.diagnostics.exact(discrete_program, params, kind).loss, params)
    params = discrete_params(R)
    assert_unbiased(per_replica(scgrad.surrogate(discrete_program, params, kind).loss, params), expected)


@pytest.mark.parametrize("stacked, reruns", [(False, 2), (True, 1)])
def test_reruns_once_per_other_outcome_or_once_stacked_when_elements_have_their_own_costs(stacked, reruns):
    """3 categories: the drawn one's cost is known, the two others take a re-run each for the whole batch, or
    one re-run with both stacked."""
    runs = []

    def program(params, runs):
        c, w, b, scale, V = params
        runs.append(1)
        a = scgrad.sample("a", D.Bernoulli(logits=c), scgrad.ScoreFunction())
        logits = V + (w * X + 0.5 * a).unsqueeze(-1) * RAMP
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.MeasureValued(stack_evaluations=stacked))
        scgrad.cost("fit", (scale * z - X) ** 2 + 0.5 * z * a)

    scgrad.surrogate(program, discrete_params(4), runs)
    assert len(runs) == 1 + reruns


# --- Normal nodes, against closed forms --------------------------------------------------------------------

def normal_params(replicas):
    return [torch.full((replicas, 1), value, requires_grad=True) for value in (0.8, -0.2, 0.1)]


def normal_program(params):
    w, b, s = params
    z = scgrad.sample("z", D.Normal(w * X + b, softplus(s)), scgrad.MeasureValued())  # [R, 5]
    scgrad.cost("c", torch.cos(z) + (z - X) ** 2)


def normal_expectation(params):
    w, b, s = params
    mu, sigma = w * X + b, softplus(s)
    return (torch.cos(mu) * torch.exp(-sigma**2 / 2) + (mu - X) ** 2 + sigma**2).mean()


def test_unbiased_on_a_normal_node_with_a_batch_of_data_points():
    torch.manual_seed(0)
    params = normal_params(1)
    expected = per_replica(normal_expectation(params), params)
    params = normal_params(R)
    assert_unbiased(per_replica(scgrad.surrogate(normal_program, params).loss, params), expected)


def test_unbiased_on_normal_components_sharing_a_cost():
    """Independent(Normal) of 2 components under one cost: each component is re-evaluated on its own."""
    torch.manual_seed(0)

    def params(replicas):
        return [torch.tensor([0.3, -0.6]).repeat(replicas, 1).requires_grad_(),
                torch.tensor([0.9, 0.5]).repeat(replicas, 1).requires_grad_()]

    def program(mu, sigma):
        z = scgrad.sample("z", D.Independent(D.Normal(mu, sigma), 1), scgrad.MeasureValued())  # [R, 2]
        scgrad.cost("c", torch.cos(z.sum(-1)) + z[..., 0] ** 2 * z[..., 1])

    mu, sigma = params(1)
    exact = torch.cos(mu.sum()) * torch.exp(-(sigma**2).sum() / 2) + (mu[0, 0] ** 2 + sigma[0, 0] ** 2) * mu[0, 1]
    expected = per_replica(exact, [mu, sigma])
    mu, sigma = params(R)
    assert_unbiased(per_replica(scgrad.surrogate(program, mu, sigma).loss, [mu, sigma]), expected)


# --- a cost that combines draws: each draw re-evaluated on its own -------------------------------------------

def multi_sample(logits):
    z = scgrad.sample("z", D.Bernoulli(logits=logits), scgrad.MeasureValued(), num_samples=3)  # [3, R, 2]
    per_draw = (z - torch.tensor([0.2, 0.7])) ** 2
    scgrad.cost("combined", -torch.logsumexp(-per_draw, dim=-3, keepdim=True))  # dim -3: exact enumerates left of it


def test_unbiased_on_a_cost_that_combines_draws():
    torch.manual_seed(0)
    logits = torch.tensor([[0.3, -0.8]], requires_grad=True)
    expected = per_replica(scgrad.diagnostics.exact(multi_sample, logits).loss, [logits])
    logits = torch.tensor([[0.3, -0.8]]).repeat(R, 1).requires_grad_()
    assert_unbiased(per_replica(scgrad.surrogate(multi_sample, logits).loss, [logits]), expected)


# --- what it refuses -----------------------------------------------------------------------------------------

def test_refuses_a_distribution_without_a_known_weak_derivative():
    def program():
        scgrad.sample("n", D.Poisson(torch.tensor(2.0)), scgrad.MeasureValued())

    with pytest.raises(scgrad.ScgradError, match=r"node 'n'.*Poisson.*ScoreFunction"):
        scgrad.surrogate(program)


def test_refuses_to_follow_an_enumerated_node():
    def program():
        k = scgrad.sample("k", D.Bernoulli(probs=torch.tensor(0.4)), scgrad.Enumerate())
        z = scgrad.sample("z", D.Bernoulli(logits=k), scgrad.MeasureValued())
        scgrad.cost("c", z * k)

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*enumerated node\(s\) \['k'\]"):
        scgrad.surrogate(program)
