"""The combiner's shared term for a first node's baseline and a cost only it lies upstream of.

``c + (MB(s) - 1)(c - b)`` must be the two terms ``MB(s) c + (1 - MB(s)) b`` in value (exactly the cost)
and in every derivative; each case is checked against the formula written out here with autograd, and
against :func:`scgrad.core.reference.reference_loss`, to the second order.
"""

import contextlib

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.core.magic_box import magic_box
from scgrad.core.reference import reference_loss

DRAWS = 6


def hvp(loss, params):
    grads = torch.autograd.grad(loss, params, create_graph=True)
    return torch.autograd.grad(sum(g.sum() for g in grads), params, retain_graph=True)


def by_hand(logits, targets, b, baseline):
    """The surrogate of one Bernoulli node with a leave-one-out baseline and the cost ``(b - t)^2``, written out."""
    log_prob = D.Bernoulli(logits=logits).log_prob(b)
    cost = (b - targets) ** 2
    box = magic_box(log_prob)
    return (box * cost).mean() + ((1 - box) * baseline).mean()


def test_the_shared_term_is_the_two_terms_in_value_gradient_and_hessian():
    torch.manual_seed(0)
    logits = torch.randn(5, dtype=torch.float64, requires_grad=True)
    targets = torch.rand(5, dtype=torch.float64)
    seen = {}

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=DRAWS)
        seen["b"] = b.detach().clone()
        scgrad.cost("c", (b - targets) ** 2)

    objective = scgrad.surrogate(program)
    b = seen["b"]
    cost = (b - targets) ** 2
    baseline = (cost.sum(0, keepdim=True) - cost) / (DRAWS - 1)
    want = by_hand(logits, targets, b, baseline)

    assert objective.loss.item() == cost.mean().item()  # the cost's own value, not up to rounding
    assert objective.costs["c"].item() == cost.mean().item()
    got_grad = torch.autograd.grad(objective.loss, logits, retain_graph=True)[0]
    want_grad = torch.autograd.grad(want, logits, retain_graph=True)[0]
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-12, atol=1e-14)
    assert got_grad.abs().sum() > 0
    torch.testing.assert_close(hvp(objective.loss, [logits])[0], hvp(want, [logits])[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layout", ["cost_before_second", "cost_after_second", "tracked"])
def test_with_other_nodes_and_costs_the_surrogate_equals_the_plain_formula(layout):
    """A second node and a second cost around the pair: paired or not (a cost recorded after the second node
    has both upstream in time order), the loss, its gradient and a Hessian-vector product equal the plain formula."""
    torch.manual_seed(1)
    a_logits = torch.randn(4, dtype=torch.float64, requires_grad=True)
    c_logits = torch.randn(3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, dtype=torch.float64, requires_grad=True)

    def program():
        a = scgrad.sample("a", D.Bernoulli(logits=a_logits), scgrad.ScoreFunction(scgrad.MovingAverage()), num_samples=DRAWS)
        if layout == "cost_before_second":
            scgrad.cost("first", (a * weight - 0.3) ** 2)
        z = scgrad.sample("z", D.Categorical(logits=c_logits + a.sum(-1, keepdim=True).unsqueeze(-1)), scgrad.ScoreFunction())
        if layout != "cost_before_second":
            scgrad.cost("first", (a * weight - 0.3) ** 2)
        scgrad.cost("second", z.double() * weight.sum())

    params = [a_logits, c_logits, weight]
    with scgrad.provenance() if layout == "tracked" else contextlib.nullcontext():
        scgrad.surrogate(program)  # the moving average starts from the first cost
        objective = scgrad.surrogate(program)
    reference = reference_loss(objective.graph, objective.parts)
    torch.testing.assert_close(objective.loss, reference, rtol=1e-12, atol=1e-12)
    got = torch.autograd.grad(objective.loss, params, retain_graph=True)
    want = torch.autograd.grad(reference, params, retain_graph=True)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    for g, w in zip(hvp(objective.loss, params), hvp(reference, params)):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)

