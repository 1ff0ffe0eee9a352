"""Enumerated values broadcast: size 1 on the node's batch dims, so the program runs once per outcome.

A cost computed from such a value may keep size 1 there (it is the same for every element, and the
expectation averages it over the node's elements); a reduction over those dims, which would mix the
elements' outcomes, is marked where it is made and refused where it reaches a cost or a node. The
truths are sums over outcomes written here with autograd.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad import ScgradError
from scgrad.errors import CombinedDrawsError
from scgrad.diagnostics import exact


def test_a_cost_of_the_value_alone_is_averaged_over_the_elements():
    logits = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, dtype=torch.float64)

    def program():
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.Enumerate())
        assert z.shape == (3, 1)
        scgrad.cost("c", weights[z])  # (3, 1): one number per outcome, shared by the 5 elements

    ours = scgrad.surrogate(program).loss
    truth = (logits.softmax(-1) * weights).sum(-1).mean()
    torch.testing.assert_close(ours, truth)
    torch.testing.assert_close(torch.autograd.grad(ours, logits)[0], torch.autograd.grad(truth, logits)[0])


def test_a_child_drawn_from_the_broadcast_value_is_weighted_per_element():
    """``b ~ Bernoulli(W[z])`` has batch (3, 1): drawn once per outcome of ``z``, enumerated too."""
    logits = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    table = torch.randn(3, dtype=torch.float64, requires_grad=True)
    targets = torch.linspace(0, 1, 4, dtype=torch.float64)

    def program():
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.Enumerate())
        b = scgrad.sample("b", D.Bernoulli(logits=table[z]), scgrad.Enumerate())
        scgrad.cost("c", (b - targets) ** 2 + z)

    q, p = logits.softmax(-1), table.sigmoid()
    per_class = p[:, None] * (1 - targets) ** 2 + (1 - p[:, None]) * targets**2 + torch.arange(3.0)[:, None]
    truth = (q.T * per_class).sum(0).mean()
    ours = scgrad.surrogate(program).loss
    torch.testing.assert_close(ours, truth)
    for a, b in zip(torch.autograd.grad(ours, [logits, table]), torch.autograd.grad(truth, [logits, table])):
        torch.testing.assert_close(a, b)


def test_a_node_drawn_from_a_reduction_over_the_elements_is_refused_by_name():
    def program():
        z = scgrad.sample("z", D.Bernoulli(torch.full((3,), 0.4)), scgrad.Enumerate())
        s = scgrad.sample("s", D.Bernoulli(logits=z.sum(-1, keepdim=True)), scgrad.ScoreFunction())
        scgrad.cost("c", s)

    with pytest.raises(CombinedDrawsError, match=r"distribution of node 's'.*torch\.sum over dim -1.*'z'.*3 batch elements"):
        scgrad.surrogate(program)


def test_draws_combined_are_refused_and_exact_lays_them_out():
    """4 draws share the outcome dim (size 1 on the sample dim); their max mixes them."""
    p = torch.tensor([0.3, 0.6], dtype=torch.float64, requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Bernoulli(probs=p), scgrad.Enumerate(), num_samples=4)
        scgrad.cost("c", b.amax(-2, keepdim=True))

    with pytest.raises(CombinedDrawsError, match=r"cost 'c'.*torch\.amax over dim -2.*its 4 draws.*each_draw=True"):
        scgrad.surrogate(program)
    truth = (1 - (1 - p) ** 4).mean()
    ours = exact(program).loss
    torch.testing.assert_close(ours, truth)
    torch.testing.assert_close(torch.autograd.grad(ours, p)[0], torch.autograd.grad(truth, p)[0])


def test_reductions_over_event_dims_and_other_sizes_are_not_refused():
    logits = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, 5, dtype=torch.float64)

    def program():
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.Enumerate())   # (4, 1)
        features = torch.nn.functional.one_hot(z, 4).to(weights.dtype) @ weights    # (4, 1, 5): an event dim
        scgrad.cost("c", features.sum(-1) + features.softmax(-1).amax(-1))        # reduced over it: fine

    per_class = weights.sum(-1) + weights.softmax(-1).amax(-1)
    truth = (logits.softmax(-1) * per_class).sum(-1).mean()
    torch.testing.assert_close(scgrad.surrogate(program).loss, truth)


@pytest.mark.parametrize("batch,num_samples", [((5,), None), ((2, 3), None), ((3,), 2), ((1, 4), None)])
def test_broadcast_values_match_a_sum_over_every_joint_outcome(batch, num_samples):
    """Two nodes, the second given the first, a cost per element and per draw; against brute force."""
    g = torch.Generator().manual_seed(sum(batch) + (num_samples or 0))
    a_logits = torch.randn(*batch, 3, generator=g, dtype=torch.float64, requires_grad=True)
    table = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    data = torch.randn(*batch, generator=g, dtype=torch.float64)

    def program():
        a = scgrad.sample("a", D.Categorical(logits=a_logits), scgrad.Enumerate(), num_samples=num_samples)
        b = scgrad.sample("b", D.Bernoulli(logits=table[a] + data), scgrad.Enumerate())
        scgrad.cost("c", (b * data - a) ** 2)

    ours = scgrad.surrogate(program).loss
    elements = [index for index in itertools.product(*[range(n) for n in batch])]
    truth = 0.0
    for index in elements:
        for a in range(3):
            q_a = a_logits[index].softmax(-1)[a]
            p_b = torch.sigmoid(table[a] + data[index])
            truth = truth + q_a * (p_b * (data[index] - a) ** 2 + (1 - p_b) * a**2)
    truth = truth / len(elements)
    torch.testing.assert_close(ours, truth)
    for x, y in zip(torch.autograd.grad(ours, [a_logits, table]), torch.autograd.grad(truth, [a_logits, table])):
        torch.testing.assert_close(x, y)


def test_a_size_one_feature_dim_beside_the_value_is_not_taken_for_its_batch():
    """``z.unsqueeze(-1)`` has a dim more than the batch and enumeration dims in use: an event dim,
    whose reduction is the program's own business."""
    def program():
        z = scgrad.sample("z", D.Bernoulli(torch.full((3,), 0.4)), scgrad.Enumerate())   # (2, 1)
        scgrad.cost("c", z.unsqueeze(-1).sum(-1) * torch.ones(3))

    torch.testing.assert_close(scgrad.surrogate(program).loss, torch.tensor(0.4))
