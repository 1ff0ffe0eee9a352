"""Enumeration: several nodes on their own dims, dependent nodes, draws, checked in closed form."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributions as D

import scgrad


def test_independent_enumerated_nodes_each_get_a_dim():
    p = torch.tensor([0.2, 0.7], requires_grad=True)
    q = torch.tensor([0.1, 0.3, 0.6], requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=p), scgrad.Enumerate())    # batch (2,)
        k = scgrad.sample("k", D.Categorical(probs=q), scgrad.Enumerate())  # no batch
        scgrad.cost("c", (b - 0.5 * k) ** 2)

    obj = scgrad.surrogate(program)
    b, k = obj.graph.nodes["b"].value, obj.graph.nodes["k"].value
    assert b.shape == (2, 1) and k.shape == (3, 1, 1)  # size 1 on the batch dims: values broadcast
    expected = sum(
        qk * (pb * (1 - 0.5 * kk) ** 2 + (1 - pb) * (0.5 * kk) ** 2)
        for kk, qk in enumerate(q) for pb in p
    ) / 2
    assert torch.allclose(obj.loss, expected)
    assert torch.allclose(torch.autograd.grad(obj.loss, [p, q])[0], torch.autograd.grad(expected, [p, q])[0])


def test_a_node_enumerated_given_another():
    p = torch.tensor(0.3, requires_grad=True)
    table = torch.tensor([[0.9, -0.1], [0.2, 0.8]], requires_grad=True)  # logits of z2 given z1

    def program():
        z1 = scgrad.sample("z1", D.Bernoulli(probs=p), scgrad.Enumerate())
        z2 = scgrad.sample("z2", D.Categorical(logits=table[z1.long()]), scgrad.Enumerate())
        scgrad.cost("only_z2", 3.0 * z2)

    obj = scgrad.surrogate(program)
    second = table.softmax(-1)[:, 1]
    expected = 3.0 * ((1 - p) * second[0] + p * second[1])
    assert torch.allclose(obj.loss, expected)
    grads = torch.autograd.grad(obj.loss, [p, table], create_graph=True)
    want = torch.autograd.grad(expected, [p, table], create_graph=True)
    assert all(torch.allclose(g, w) for g, w in zip(grads, want))
    # second derivatives are exact too
    assert torch.allclose(torch.autograd.grad(grads[0], table)[0], torch.autograd.grad(want[0], table)[0])


def test_enumerated_draws_shared_or_each_on_its_own_dim():
    p = torch.tensor(0.3, requires_grad=True)

    def per_draw(estimator):
        b = scgrad.sample("b", D.Bernoulli(probs=p), estimator, num_samples=3)
        scgrad.cost("c", b)

    def combined(estimator):
        b = scgrad.sample("b", D.Bernoulli(probs=p), estimator, num_samples=3)
        scgrad.cost("c", b.max(-1, keepdim=True).values)

    shared = scgrad.surrogate(per_draw, scgrad.Enumerate())
    assert shared.graph.nodes["b"].value.shape == (2, 1) and torch.allclose(shared.loss, p)
    each = scgrad.surrogate(combined, scgrad.Enumerate(each_draw=True))
    assert each.graph.nodes["b"].value.shape == (2, 2, 2, 3)
    assert torch.allclose(each.loss, 1 - (1 - p) ** 3)
    assert torch.allclose(scgrad.diagnostics.exact(combined, scgrad.ScoreFunction()).loss, 1 - (1 - p) ** 3)


def test_enumeration_with_a_reparameterised_node():
    mu = torch.tensor(0.4, requires_grad=True)

    def program():
        z = scgrad.sample("z", D.Normal(mu, 1.0))
        b = scgrad.sample("b", D.Bernoulli(logits=z), scgrad.Enumerate())
        scgrad.cost("c", b * z)

    torch.manual_seed(0)
    obj = scgrad.surrogate(program)
    z = obj.graph.nodes["z"].value
    assert torch.allclose(obj.loss, torch.sigmoid(z) * z)
    assert z.requires_grad


def test_independent_is_enumerated_jointly():
    # E over all 2**3 joint outcomes of each row, summed by hand, against exact() (which uses Enumerate)
    probs = torch.tensor([[0.2, 0.7, 0.4], [0.5, 0.1, 0.9]], requires_grad=True)

    def cost(b):
        return ((b - 0.45) ** 2).mean(-1) * (b.prod(-1) + 1)  # not separable over the components

    def program():
        b = scgrad.sample("b", D.Independent(D.Bernoulli(probs=probs), 1))
        scgrad.cost("c", cost(b))

    outcomes = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))  # [8, 3]
    weights = torch.where(outcomes > 0, probs.unsqueeze(1), 1 - probs.unsqueeze(1)).prod(-1)  # [2, 8]
    by_hand = (weights * cost(outcomes)).sum(-1).mean()
    obj = scgrad.diagnostics.exact(program)
    assert torch.allclose(obj.loss, by_hand)
    assert torch.allclose(torch.autograd.grad(obj.loss, probs)[0], torch.autograd.grad(by_hand, probs)[0])


def test_independent_one_hot_with_draws_sums_to_the_exact_expectation():
    logits = torch.zeros(2, 4, 3)  # 3**4 = 81 joint outcomes per row, each row drawn twice

    def program():
        z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), scgrad.Enumerate(), num_samples=2)
        scgrad.cost("c", (z * torch.arange(3.0)).sum((-1, -2)))

    obj = scgrad.surrogate(program)
    assert obj.graph.nodes["z"].value.shape == (81, 1, 1, 4, 3)
    assert torch.allclose(obj.cost, torch.tensor(4.0))  # four components, each with mean 1


def test_a_joint_support_too_large_is_refused():
    def program():
        z = scgrad.sample("z", D.Independent(D.Bernoulli(torch.full((20,), 0.5)), 1), scgrad.Enumerate())
        scgrad.cost("c", z.sum(-1))

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*1048576 joint outcomes, more than the 1024.*batch dims"):
        scgrad.surrogate(program)
