"""Enumeration by contraction: chains, trees and HMMs against forward algorithms written here.

``Enumerate()`` in the surrogate and ``diagnostics.exact`` sum the enumerated factors one node at a
time (``scgrad.core.contraction``). The ground truth is a forward (or upward) recursion on the
marginals, written in each test with autograd: value, gradient and, for ``Enumerate``, a
Hessian-vector product. Small graphs also hold the contraction equal to ``exact()``'s joint runs.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad import ScgradError
from scgrad.core import contraction
from scgrad.core.contraction import contract
from scgrad.diagnostics import exact

K, SYMBOLS = 3, 4


def hmm(length: int, seed: int = 0):
    """Parameters of a K-state HMM with observed emissions, and the emissions."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(K, generator=g, dtype=torch.float64, requires_grad=True),
              torch.randn(K, K, generator=g, dtype=torch.float64, requires_grad=True),
              torch.randn(K, SYMBOLS, generator=g, dtype=torch.float64, requires_grad=True)]
    return params, torch.randint(SYMBOLS, (length,), generator=g)


def hmm_program(init, transition, emission, observed):
    """The natural loop: each step's state drawn given the last, each emission's surprise a cost."""
    z = None
    for t, x in enumerate(observed):
        logits = init if z is None else transition[z]
        z = scgrad.sample(f"z{t}", D.Categorical(logits=logits), scgrad.Enumerate())
        scgrad.cost(f"x{t}", -D.Categorical(logits=emission[z]).log_prob(x))


def hmm_forward(init, transition, emission, observed):
    """``E[sum_t -log p(x_t | z_t)]`` under the chain's law, by the forward recursion of its marginals."""
    marginal, total = init.softmax(-1), 0.0
    for t, x in enumerate(observed):
        if t:
            marginal = marginal @ transition.softmax(-1)
        total = total + (marginal * -emission.log_softmax(-1)[:, x]).sum()
    return total


def gradient_and_hvp(loss, params, direction):
    grads = torch.autograd.grad(loss, params, create_graph=True)
    hvp = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, direction)), params)
    return [g.detach() for g in grads], hvp


def assert_same_to_second_order(loss, truth, params):
    """Equal value, gradient and Hessian-vector product (in a random direction)."""
    torch.testing.assert_close(loss, truth, rtol=1e-10, atol=1e-12)
    direction = [torch.randn_like(p) for p in params]
    grads, hvp = gradient_and_hvp(loss, params, direction)
    true_grads, true_hvp = gradient_and_hvp(truth, params, direction)
    for ours, theirs in zip([*grads, *hvp], [*true_grads, *true_hvp]):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("length", [2, 4, 12, 30])
def test_hmm_enumerate_matches_forward_algorithm(length):
    params, observed = hmm(length)
    objective = scgrad.surrogate(hmm_program, *params, observed)
    truth = hmm_forward(*params, observed)
    assert_same_to_second_order(objective.loss, truth, params)


@pytest.mark.parametrize("length", [5, 9, 30])
def test_hmm_exact_matches_forward_algorithm(length):
    """5 steps: 243 joint runs; 9 and 30: past the run budget, the scalar steps by contraction."""
    params, observed = hmm(length, seed=1)
    result = exact(hmm_program, *params, observed)
    truth = hmm_forward(*params, observed)
    torch.testing.assert_close(result.loss, truth, rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(torch.autograd.grad(result.loss, params), torch.autograd.grad(truth, params)):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)
    assert (result.runs == K**length) == (length == 5)
    assert (len(result.per_element) == length) == (length > 5)


def test_joint_runs_equal_contraction_on_small_chains():
    params, observed = hmm(6, seed=2)
    joint = exact(hmm_program, *params, observed)
    assert joint.runs == K**6 and not joint.per_element
    contracted = scgrad.surrogate(hmm_program, *params, observed)
    torch.testing.assert_close(contracted.loss, joint.loss, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(contracted.loss, params), torch.autograd.grad(joint.loss, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def tree_program(root, child, leaf_cost, depth):
    """A binary tree of K-state nodes, each child drawn given its parent; a cost at every leaf."""
    frontier = [("r", scgrad.sample("r", D.Categorical(logits=root), scgrad.Enumerate()))]
    for level in range(depth):
        grown = []
        for name, value in frontier:
            for side in "lr":
                label = name + side
                grown.append((label, scgrad.sample(label, D.Categorical(logits=child[level][value]), scgrad.Enumerate())))
        frontier = grown
    for index, (name, value) in enumerate(frontier):
        scgrad.cost(f"leaf_{name}", leaf_cost[index % len(leaf_cost)][value])


def tree_downward(root, child, leaf_cost, depth):
    """The same expectation by the marginals, level by level (each child's marginal is its parent's times ``A``)."""
    marginals = [root.softmax(-1)]
    for level in range(depth):
        step = child[level].softmax(-1)
        marginals = [m @ step for m in marginals for _ in "lr"]
    return sum((m * leaf_cost[index % len(leaf_cost)]).sum() for index, m in enumerate(marginals))


@pytest.mark.parametrize("depth", [1, 3])
def test_tree_matches_downward_recursion(depth):
    g = torch.Generator().manual_seed(3)
    root = torch.randn(K, generator=g, dtype=torch.float64, requires_grad=True)
    child = [torch.randn(K, K, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(depth)]
    leaf_cost = torch.randn(5, K, generator=g, dtype=torch.float64)
    params = [root, *child]
    objective = scgrad.surrogate(tree_program, root, child, leaf_cost, depth)
    truth = tree_downward(root, child, leaf_cost, depth)
    assert_same_to_second_order(objective.loss, truth, params)
    result = exact(tree_program, root, child, leaf_cost, depth)
    torch.testing.assert_close(result.loss, truth, rtol=1e-10, atol=1e-12)


def test_batched_chain_matches_forward_algorithm():
    """A chain over a batch of 4 sequences: each step a Categorical of batch shape (4,)."""
    params, _ = hmm(1, seed=4)
    observed = torch.randint(SYMBOLS, (7, 4), generator=torch.Generator().manual_seed(5))

    def program(init, transition, emission):
        z = None
        for t in range(len(observed)):
            logits = init.expand(4, K) if z is None else transition[z]
            z = scgrad.sample(f"z{t}", D.Categorical(logits=logits), scgrad.Enumerate())
            scgrad.cost(f"x{t}", -D.Categorical(logits=emission[z]).log_prob(observed[t]))

    objective = scgrad.surrogate(program, *params)
    init, transition, emission = params
    truth = sum(hmm_forward(init, transition, emission, observed[:, b]) for b in range(4)) / 4
    torch.testing.assert_close(objective.loss, truth, rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(torch.autograd.grad(objective.loss, params), torch.autograd.grad(truth, params)):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


def test_enumerated_vae_step_matches_hand_enumeration():
    """A 10-class latent per data point: the surrogate's gradient is the hand-written sum over classes."""
    torch.manual_seed(6)
    classes, pixels, batch = 10, 12, 7
    encoder, decoder = torch.nn.Linear(pixels, classes), torch.nn.Linear(classes, pixels)
    x = torch.bernoulli(torch.full((batch, pixels), 0.4))
    params = [*encoder.parameters(), *decoder.parameters()]

    decoded = []

    def negative_elbo(logits, z):
        q = D.Categorical(logits=logits)
        one_hot = torch.nn.functional.one_hot(z, classes).float()
        decoded.append(one_hot.shape[:-1])
        reconstruction = D.Bernoulli(logits=decoder(one_hot)).log_prob(x).sum(-1)
        return -(reconstruction - math.log(classes) - q.log_prob(z))

    def program():
        logits = encoder(x)
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.Enumerate())
        scgrad.cost("negative_elbo", negative_elbo(logits, z))

    ours = torch.autograd.grad(scgrad.surrogate(program).loss, params)
    assert decoded == [(classes, 1)]  # the decoder ran once per class; its output broadcast against the batch
    logits = encoder(x)
    outcomes = torch.arange(classes)[:, None].expand(classes, batch)
    by_hand = (logits.softmax(-1).T * negative_elbo(logits, outcomes)).sum(0).mean()
    for a, b in zip(ours, torch.autograd.grad(by_hand, params)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_contract_equals_product_sum(seed):
    g = torch.Generator().manual_seed(seed)
    rank = 6
    tensors = []
    for index in range(5):
        shape = [3 if torch.rand((), generator=g) < 0.4 else 1 for _ in range(int(torch.randint(1, rank + 1, (), generator=g)))]
        dtype = torch.float32 if index == 0 else torch.float64
        tensors.append(torch.rand(shape, generator=g, dtype=dtype))
    expected = math.prod(tensors).sum()
    torch.testing.assert_close(contract(tensors, "test"), expected, rtol=1e-6, atol=1e-9)


def test_contract_refuses_an_intermediate_past_the_limit(monkeypatch):
    monkeypatch.setattr(contraction, "MAX_INTERMEDIATE", 8)
    tensors = [torch.rand(3, 3, 1), torch.rand(3, 1, 3), torch.rand(1, 3, 3)]
    with pytest.raises(ScgradError, match="27 elements|elements even in the best order"):
        contract(tensors, "cost 'c'")


def test_chain_past_the_dims_torch_holds_is_refused_up_front():
    params, observed = hmm(60, seed=7)
    with pytest.raises(ScgradError, match=r"node 'z56'.*at most 64 dims.*scgrad.markov"):
        scgrad.surrogate(hmm_program, *params, observed)


def test_each_draw_joint_outcomes_refused_up_front():
    def program():
        z = scgrad.sample("z", D.Categorical(logits=torch.zeros(10, 100)), scgrad.Enumerate(each_draw=True), num_samples=8)
        scgrad.cost("c", z.float().sum(-3))

    with pytest.raises(ScgradError, match=r"node 'z'.*100\*\*8.*Draw fewer samples"):
        scgrad.surrogate(program)


def global_program(prior, weights, shaped):
    """A global choice ``g`` above a batch of 5 Bernoullis whose logits it selects."""
    dist = D.Categorical(logits=prior)
    g = scgrad.sample("g", dist.expand([1]) if shaped else dist, scgrad.Enumerate())
    logits = weights[g[..., 0]] if shaped else weights[g]
    b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.Enumerate())
    scgrad.cost("c", (b - 0.3) ** 2 * torch.arange(5.0, dtype=weights.dtype))


def test_global_node_above_a_batch_refused_by_name_then_right_when_shaped():
    prior = torch.randn(3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ScgradError, match=r"node 'b'.*batch shape \(3, 5\).*'g'.*expand\(\[1\]\)"):
        scgrad.surrogate(global_program, prior, weights, False)
    p = weights.sigmoid()
    truth = (prior.softmax(0)[:, None] * (p * 0.49 + (1 - p) * 0.09) * torch.arange(5.0)).sum(0).mean()
    ours = scgrad.surrogate(global_program, prior, weights, True).loss
    torch.testing.assert_close(ours, truth)
    for a, b in zip(torch.autograd.grad(ours, [prior, weights]), torch.autograd.grad(truth, [prior, weights])):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(exact(global_program, prior, weights, False).loss, truth)


@pytest.mark.parametrize("into", ["node", "cost"])
def test_global_node_above_a_batch_of_its_own_size_is_refused(into):
    """A batch of 3 below a 3-outcome global node: the shapes broadcast, and only the extent shows it."""
    prior = torch.randn(3, dtype=torch.float64)
    weights = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)

    def program():
        g = scgrad.sample("g", D.Categorical(logits=prior), scgrad.Enumerate())
        if into == "node":
            b = scgrad.sample("b", D.Bernoulli(logits=weights[g]), scgrad.Enumerate())
            scgrad.cost("c", b * torch.arange(3.0, dtype=weights.dtype))
        else:
            scgrad.cost("c", weights[g])

    with pytest.raises(ScgradError, match=rf"{into} '{'b' if into == 'node' else 'c'}' has shape \(3, 3\).*'g'"):
        scgrad.surrogate(program)
