"""``scgrad.markov``: long chains whose enumerated steps reuse dims, against recursions written here.

Without the loop a chain stops at 56 enumerated steps (a torch tensor holds 64 dims). Inside it,
step ``t`` takes the dims of step ``t - history - 1``; the truths are the forward recursion of the
chain's marginals (``test_contraction.hmm_forward``) and, for costs reaching two steps back, a sum
over every joint outcome by hand.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad import ScgradError
from scgrad.diagnostics import exact
from tests.estimators.test_contraction import K, assert_same_to_second_order, hmm, hmm_forward


def markov_hmm(init, transition, emission, observed, history=1):
    """The natural HMM loop, iterated with ``scgrad.markov``."""
    z = None
    for t in scgrad.markov(range(len(observed)), history=history):
        logits = init if z is None else transition[z]
        z = scgrad.sample(f"z{t}", D.Categorical(logits=logits), scgrad.Enumerate())
        scgrad.cost(f"x{t}", -D.Categorical(logits=emission[z]).log_prob(observed[t]))


@pytest.mark.parametrize("history", [1, 3])
def test_hundred_step_hmm_matches_forward_algorithm_to_second_order(history):
    params, observed = hmm(100, seed=3)
    objective = scgrad.surrogate(markov_hmm, *params, observed, history)
    assert_same_to_second_order(objective.loss, hmm_forward(*params, observed), params)
    positions = {dim for node in objective.graph.nodes.values() for dim in node.enum_dims}
    assert len(positions) == history + 1  # the dims went round, not 100 of them


def test_hundred_step_hmm_exact_matches_forward_algorithm():
    params, observed = hmm(100, seed=4)
    ours = exact(markov_hmm, *params, observed).loss
    truth = hmm_forward(*params, observed)
    torch.testing.assert_close(ours, truth, rtol=1e-10, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(truth, params)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def two_back(init, transition, weights, length, history):
    """A chain whose cost at step ``t`` reads the states of steps ``t`` and ``t - 2``."""
    states = []
    for t in scgrad.markov(range(length), history=history):
        logits = init if not states else transition[states[-1]]
        states.append(scgrad.sample(f"z{t}", D.Categorical(logits=logits), scgrad.Enumerate()))
        if t >= 2:
            scgrad.cost(f"c{t}", weights[states[-1], states[-3]])


def two_back_by_hand(init, transition, weights, length):
    total = 0.0
    for states in itertools.product(range(K), repeat=length):
        log_p = init.log_softmax(0)[states[0]]
        log_p = log_p + sum(transition.log_softmax(1)[states[t - 1], states[t]] for t in range(1, length))
        total = total + log_p.exp() * sum(weights[states[t], states[t - 2]] for t in range(2, length))
    return total


def test_cost_reaching_past_the_history_is_refused_by_name():
    g = torch.Generator().manual_seed(5)
    args = [torch.randn(K, generator=g), torch.randn(K, K, generator=g), torch.randn(K, K, generator=g), 5]
    with pytest.raises(ScgradError, match=r"cost 'c2'.*\['z0', 'z2'\].*share dim.*history=k"):
        scgrad.surrogate(two_back, *args, 1)
    with pytest.raises(ScgradError, match=r"cost 'c2'.*\['z0', 'z2'\]"):
        exact(two_back, *args[:3], 9, 1)  # past exact()'s run budget: by contraction, so refused too
    # within the budget exact() runs the program once per joint outcome, where no dims are shared
    by_runs = exact(two_back, *args, 1).loss
    assert type(by_runs) is torch.Tensor
    torch.testing.assert_close(by_runs, two_back_by_hand(*args[:3], 5))


@pytest.mark.parametrize("history", [2, 4])
def test_cost_reaching_two_back_is_right_with_history_two(history):
    g = torch.Generator().manual_seed(6)
    params = [torch.randn(K, K, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    init = torch.randn(K, generator=g, dtype=torch.float64, requires_grad=True)
    ours = scgrad.surrogate(two_back, init, *params, 6, history).loss
    truth = two_back_by_hand(init, *params, 6)
    assert_same_to_second_order(ours, truth, [init, *params])


def test_score_function_nodes_inside_the_loop_are_unbiased():
    """A Bernoulli per step, drawn given the enumerated state, estimated by score function: the mean of
    repeated estimates lies within 4 standard errors of the gradient by the forward recursion."""
    g = torch.Generator().manual_seed(7)
    init = torch.randn(K, generator=g, dtype=torch.float64, requires_grad=True)
    transition = torch.randn(K, K, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(K, generator=g, dtype=torch.float64)
    length, draws, repeats = 4, 500, 40

    def program():
        z = None
        for t in scgrad.markov(range(length)):
            z = scgrad.sample(f"z{t}", D.Categorical(logits=init if z is None else transition[z]), scgrad.Enumerate())
            s = scgrad.sample(f"s{t}", D.Bernoulli(logits=transition[z, 0]), scgrad.ScoreFunction(), num_samples=draws)
            scgrad.cost(f"c{t}", (s - 0.3) ** 2 * weights[z])

    marginal, truth = init.softmax(0), 0.0
    p = transition[:, 0].sigmoid()
    for t in range(length):
        marginal = marginal if t == 0 else marginal @ transition.softmax(1)
        truth = truth + (marginal * (p * 0.49 + (1 - p) * 0.09) * weights).sum()
    true_grad = torch.cat([x.flatten() for x in torch.autograd.grad(truth, [init, transition])])
    torch.manual_seed(8)
    grads = torch.stack([
        torch.cat([x.flatten() for x in torch.autograd.grad(scgrad.surrogate(program).loss, [init, transition])])
        for _ in range(repeats)
    ])
    error = (grads.mean(0) - true_grad).abs()
    standard_error = grads.std(0) / repeats**0.5
    assert bool((error <= 4 * standard_error + 1e-12).all()), (error, standard_error)
    assert float(standard_error.max()) < 0.05  # the check has power


def test_outside_the_surrogate_it_is_a_plain_loop():
    assert list(scgrad.markov(iter("abc"), history=2)) == ["a", "b", "c"]
    params, observed = hmm(70, seed=9)
    markov_hmm(*params, observed)  # 70 plain draws: nothing enumerated, nothing to run out of


@pytest.mark.parametrize("history", [-1, 1.5, "2", None])
def test_history_that_is_not_a_count_is_refused(history):
    with pytest.raises(ScgradError, match=r"scgrad.markov\(history=.*an int >= 0"):
        list(scgrad.markov(range(3), history=history))
