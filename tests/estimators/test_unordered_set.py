"""UnorderedSet: unbiased gradients and objective estimate on a batch of data points (with a node upstream, a
node downstream and a pathwise parameter), exact when the set is the whole support, and the set
probabilities against a sum over orderings.

Every parameter has a leading dim of ``R`` independent replicas, so one call gives ``R`` estimates.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributions as D

import scgrad
from replicas import per_replica
from scgrad.estimators.unordered_set import _log_set_probabilities
from stats import assert_unbiased

R = 3000
X = torch.tensor([0.1, 0.9, 0.4, 0.6, 0.3])
RAMP = torch.linspace(-1.0, 1.0, 5)  # how data and upstream values move the categories' logits


def batch_params(replicas):
    return [torch.full((replicas, 1), value, requires_grad=True) for value in (0.3, 1.2, 0.7, 0.0)] + [
        torch.tensor([[0.2, -0.5, 0.1, 0.4, -0.3]]).repeat(replicas, 1, 1).requires_grad_()
    ]


def batch_program(params, estimator):
    c, w, scale, offset, V = params                                                   # V: [R, 1, 5]
    a = scgrad.sample("a", D.Bernoulli(logits=c), scgrad.ScoreFunction())             # [R, 1]
    z = scgrad.sample("z", D.Categorical(logits=V + (w * X + 0.5 * a).unsqueeze(-1) * RAMP), estimator, num_samples=3)
    y = scgrad.sample("y", D.Bernoulli(logits=0.4 * z - 1.0), scgrad.ScoreFunction())  # [3, R, 5]
    # (1 + offset): the gradient with respect to offset (= 0) is the objective's estimate itself.
    scgrad.cost("fit", ((scale * z - 2 * X) ** 2 * (1 + a) + y * z) * (1 + offset))


def test_unbiased_gradient_and_estimate_on_a_batch_of_data_points():
    torch.manual_seed(0)
    estimator = scgrad.UnorderedSet()
    params = batch_params(1)
    expected = per_replica(scgrad.diagnostics.exact(batch_program, params, estimator).loss, params)
    params = batch_params(R)
    assert_unbiased(per_replica(scgrad.surrogate(batch_program, params, estimator).loss, params), expected)


def test_exact_when_the_set_is_the_whole_support():
    torch.manual_seed(0)
    logits = torch.tensor([[0.3, -0.2, 1.1, 0.0]] * 5, requires_grad=True)

    def program(estimator, num_samples):
        z = scgrad.sample("z", D.Categorical(logits=logits), estimator, num_samples=num_samples)
        scgrad.cost("c", (z - 2 * X) ** 2)

    expected = torch.autograd.grad(scgrad.diagnostics.exact(program, None, 4).loss, logits)[0]
    for _ in range(5):
        obj = scgrad.surrogate(program, scgrad.UnorderedSet(), 4)
        assert torch.allclose(torch.autograd.grad(obj.loss, logits)[0], expected, atol=1e-6)


def test_lower_variance_than_leave_one_out_with_as_many_draws():
    """K = 10 categories, k = 4 draws (measured, fixed seed): about 1.5e-2 against 2.5e-2 summed over logits."""
    costs = torch.tensor([1.0, 0.2, 0.9, 0.0, 0.5, 0.7, 0.3, 0.8, 0.05, 0.6])
    variances = []
    for estimator in (scgrad.UnorderedSet(), scgrad.ScoreFunction(scgrad.LeaveOneOut())):
        torch.manual_seed(0)
        logits = torch.linspace(-1, 1, 10).repeat(R, 1).requires_grad_()

        def program():
            z = scgrad.sample("z", D.Categorical(logits=logits), estimator, num_samples=4)
            scgrad.cost("c", costs[z])

        variances.append(per_replica(scgrad.surrogate(program).loss, [logits]).var(0).sum())
    assert variances[0] < 0.8 * variances[1], variances


def test_set_probabilities_against_a_sum_over_orderings():
    torch.manual_seed(0)
    probs = torch.rand(6, dtype=torch.float64).softmax(0)
    members = [4, 1, 3]

    def ordered(chosen, removed):
        """P(drawing exactly ``chosen``, in any order, once ``removed`` has been taken out)."""
        total = 0.0
        for order in itertools.permutations(chosen):
            left, p = 1.0 - probs[list(removed)].sum(), 1.0
            for i in order:
                p, left = p * probs[i] / left, left - probs[i]
            total += p
        return total

    rest = 1 - probs[members].sum()
    log_all, log_one, log_two = _log_set_probabilities(probs[members], rest)
    assert torch.allclose(log_all.exp(), ordered(members, []))
    for i, s in enumerate(members):
        others = [m for m in members if m != s]
        assert torch.allclose(log_one[i].exp(), ordered(others, [s]))
        for j, t in enumerate(members):
            two = [m for m in others if m != t]
            assert torch.allclose(log_two[i, j].exp(), ordered(two, [s, t] if s != t else [s]))
    assert torch.allclose((probs[members] * (log_one - log_all).exp()).sum(), torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("num_samples", [None, 1, 6])
def test_refuses_a_set_size_outside_two_to_the_number_of_categories(num_samples):
    def program():
        scgrad.sample("z", D.Categorical(logits=torch.zeros(5)), scgrad.UnorderedSet(), num_samples=num_samples)

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*2 <= num_samples <= 5"):
        scgrad.surrogate(program)


def test_refuses_independent_and_other_distributions():
    def program():
        scgrad.sample("z", D.Independent(D.Categorical(logits=torch.zeros(2, 5)), 1), scgrad.UnorderedSet(), num_samples=2)

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*Independent"):
        scgrad.surrogate(program)


def test_refuses_a_cost_that_combines_draws():
    def program():
        z = scgrad.sample("z", D.Categorical(logits=torch.zeros(3, 5)), scgrad.UnorderedSet(), num_samples=2)
        scgrad.cost("c", z.float().sum(0))

    with pytest.raises(scgrad.ScgradError, match=r"node 'z'.*sums over its dim\(s\) \[-2\].*\(2, 3\)"):
        scgrad.surrogate(program)
