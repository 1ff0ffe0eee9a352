"""IndeCateR: unbiased on categorical nodes with batches of data points and on a product of one-hot
categoricals sharing a cost; it agrees with MeasureValued on discrete nodes.

Every parameter has a leading dim of ``R`` independent replicas, so one call gives ``R`` estimates.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributions as D

import scgrad
from replicas import per_replica
from stats import assert_unbiased

R = 3000
X = torch.tensor([0.1, 0.9, 0.4, 0.6, 0.3])
RAMP = torch.linspace(-1.0, 1.0, 4)  # how data and upstream values move the categories' logits


def batch_params(replicas):
    return [torch.full((replicas, 1), value, requires_grad=True) for value in (0.3, 1.2, 0.7)] + [
        torch.tensor([[0.2, -0.5, 0.1, 0.4]]).repeat(replicas, 1, 1).requires_grad_()
    ]


def batch_program(params, make):
    c, w, scale, V = params                                                            # V: [R, 1, 4]
    a = scgrad.sample("a", D.Bernoulli(logits=c), scgrad.ScoreFunction())              # [R, 1]
    y = scgrad.sample("y", D.Categorical(logits=V + (w * X + 0.5 * a).unsqueeze(-1) * RAMP), make())  # [R, 5]
    scgrad.cost("fit", (scale * y - 2 * X) ** 2 * (1 + a))


def test_unbiased_on_a_batch_of_data_points():
    torch.manual_seed(0)
    params = batch_params(1)
    expected = per_replica(scgrad.diagnostics.exact(batch_program, params, scgrad.IndeCateR).loss, params)
    params = batch_params(R)
    assert_unbiased(per_replica(scgrad.surrogate(batch_program, params, scgrad.IndeCateR).loss, params), expected)


def test_a_later_node_that_does_not_depend_on_it():
    """Re-evaluation holds an independent later node fixed (a dependent one would be refused)."""
    logits = torch.tensor([[0.2, -0.5, 0.1]] * 5, requires_grad=True)

    def program():
        y = scgrad.sample("y", D.Categorical(logits=logits), scgrad.IndeCateR())
        z = scgrad.sample("z", D.Categorical(logits=-logits), scgrad.IndeCateR())
        scgrad.cost("c", ((y - z) ** 2).float())

    scgrad.surrogate(program).loss.backward()
    assert bool(torch.isfinite(logits.grad).all()) and logits.grad.abs().sum() > 0


def test_unbiased_on_one_hot_components_sharing_a_cost():
    """Independent(OneHotCategorical): 3 components of 3 categories under one cost, against its 27 outcomes."""
    torch.manual_seed(0)
    start = torch.tensor([[0.5, -0.2, 0.1], [0.0, 0.9, -0.7], [-0.3, 0.3, 0.2]])
    weights = torch.tensor([1.0, -2.0, 0.5])

    def cost(x):  # x: [..., 3 components, 3 categories]
        k = (x * torch.arange(3.0)).sum(-1)
        return (k @ weights - 0.5) ** 2 + k[..., 0] * k[..., 2]

    logits = start.unsqueeze(0).requires_grad_()
    outcomes = torch.eye(3)[torch.tensor(list(itertools.product(range(3), repeat=3)))]  # [27, 3, 3]
    log_p = (outcomes * logits.log_softmax(-1)).sum((-1, -2))
    expected = per_replica((log_p.exp() * cost(outcomes)).sum(), [logits])
    logits = start.repeat(R, 1, 1).requires_grad_()

    def program():
        x = scgrad.sample("x", D.Independent(D.OneHotCategorical(logits=logits), 1), scgrad.IndeCateR())
        scgrad.cost("c", cost(x))

    assert_unbiased(per_replica(scgrad.surrogate(program).loss, [logits]), expected)


def test_agrees_with_measure_valued_on_discrete_nodes():
    params = batch_params(50)
    grads = []
    for make in (scgrad.IndeCateR, scgrad.MeasureValued):
        torch.manual_seed(3)
        grads.append(per_replica(scgrad.surrogate(batch_program, params, make).loss, params))
    assert torch.allclose(grads[0], grads[1])


def test_refuses_a_continuous_node():
    def program():
        scgrad.sample("z", D.Normal(0.0, 1.0), scgrad.IndeCateR())

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*Normal.*MeasureValued"):
        scgrad.surrogate(program)
