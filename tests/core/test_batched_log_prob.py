"""Alike score-function nodes get their log-probabilities from one batched call: the same values and
gradients as one call per node, for every batched distribution, with and without draws and validation;
with validation, a value outside the support is still refused."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.core.batched_log_prob import fill_log_probs
from scgrad.core.record import GraphRecorder
from scgrad.estimators.defaults import builtin_default

STEPS = 6


def make(kind, params, t):
    if kind == "bernoulli":
        return D.Bernoulli(logits=params[0][t])
    if kind == "bernoulli_probs":
        return D.Bernoulli(probs=params[0][t].sigmoid())
    if kind == "categorical":
        return D.Categorical(logits=params[0][t])
    if kind == "one_hot":
        return D.OneHotCategorical(logits=params[0][t])
    return D.Normal(params[0][t], params[1][t].exp())


def record(kind, num_samples, params):
    recorder = GraphRecorder(builtin_default)
    with recorder:
        for t in range(STEPS):
            value = scgrad.sample(f"a{t}", make(kind, params, t), scgrad.ScoreFunction(), num_samples=num_samples)
            scgrad.cost(f"c{t}", value.float().sum(-1) if kind == "one_hot" else value.float())
    return list(recorder.graph.nodes.values())


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("num_samples", [None, 3])
@pytest.mark.parametrize("kind", ["bernoulli", "bernoulli_probs", "categorical", "one_hot", "normal"])
def test_batched_log_probs_equal_one_call_per_node(kind, num_samples, validate):
    previous = D.Distribution._validate_args
    D.Distribution.set_default_validate_args(validate)
    try:
        torch.manual_seed(0)
        shape = (STEPS, 2, 4) if kind in ("categorical", "one_hot") else (STEPS, 2)
        params = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        nodes = record(kind, num_samples, params)
        fill_log_probs(nodes)
        assert all(node._log_prob is not None for node in nodes)
        batched = torch.stack([node.log_prob for node in nodes])
        one_by_one = torch.stack([node.dist.log_prob(node.value) for node in nodes])
        assert torch.equal(batched, one_by_one)  # the same numbers, not only close ones
        weights = torch.randn_like(batched)
        for param in params:
            if kind == "normal" or param is params[0]:
                grad, = torch.autograd.grad((batched * weights).sum(), param, retain_graph=True)
                expected, = torch.autograd.grad((one_by_one * weights).sum(), param, retain_graph=True)
                torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)
    finally:
        D.Distribution.set_default_validate_args(previous)


def test_only_alike_nodes_are_batched_together():
    logits = torch.zeros(3, requires_grad=True)
    recorder = GraphRecorder(builtin_default)
    with recorder:
        a = scgrad.sample("a", D.Bernoulli(logits=logits[0]), scgrad.ScoreFunction())
        b = scgrad.sample("b", D.Bernoulli(logits=logits[1].expand(2)), scgrad.ScoreFunction())  # another shape
        c = scgrad.sample("c", D.Bernoulli(logits=logits[2]), scgrad.ScoreFunction())
        scgrad.cost("cost", a + b.sum() + c)
    nodes = list(recorder.graph.nodes.values())
    fill_log_probs(nodes)
    assert nodes[0]._log_prob is not None and nodes[2]._log_prob is not None
    assert nodes[1]._log_prob is None  # alone of its kind: computed on first use
    assert nodes[0]._log_prob.grad_fn.name() == "UnbindBackward0"


def test_an_episode_gives_the_gradient_of_one_call_per_node():
    """The surrogate batches its score-function nodes; the gradient is the one written by hand."""
    torch.manual_seed(0)
    policy = torch.randn(50, dtype=torch.float64, requires_grad=True)
    rewards = torch.rand(50, dtype=torch.float64)

    def program():
        for t in range(50):
            action = scgrad.sample(f"a{t}", D.Bernoulli(logits=policy[t]), scgrad.ScoreFunction())
            scgrad.cost(f"r{t}", -rewards[t] * action)

    torch.manual_seed(1)
    objective = scgrad.surrogate(program)
    ours, = torch.autograd.grad(objective.loss, policy)
    actions = torch.stack([node.value for node in objective.graph.nodes.values()])
    log_probs = D.Bernoulli(logits=policy).log_prob(actions)
    to_go = (-rewards * actions).flip(0).cumsum(0).flip(0)
    expected, = torch.autograd.grad((log_probs * to_go).sum(), policy)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


def test_a_value_outside_the_support_is_refused_under_validation():
    previous = D.Distribution._validate_args
    D.Distribution.set_default_validate_args(True)
    try:
        logits = torch.zeros(2, 3)
        recorder = GraphRecorder(builtin_default)
        with recorder, scgrad.substitute({"a0": torch.tensor(1), "a1": torch.tensor(1)}):
            for t in range(2):
                scgrad.sample(f"a{t}", D.Categorical(logits=logits[t]), scgrad.ScoreFunction())
        nodes = list(recorder.graph.nodes.values())
        nodes[1].value = torch.tensor(7)  # past the substitute handler's own check
        with pytest.raises(ValueError, match="support"):
            fill_log_probs(nodes)
    finally:
        D.Distribution.set_default_validate_args(previous)


def test_categoricals_with_other_numbers_of_categories_are_not_batched_together():
    recorder = GraphRecorder(builtin_default)
    with recorder:
        a = scgrad.sample("a", D.Categorical(logits=torch.zeros(4, 3)), scgrad.ScoreFunction())
        b = scgrad.sample("b", D.Categorical(logits=torch.zeros(4, 5)), scgrad.ScoreFunction())
        c = scgrad.sample("c", D.Categorical(logits=torch.ones(4, 3)), scgrad.ScoreFunction())
        scgrad.cost("cost", (a + b + c).float())
    nodes = list(recorder.graph.nodes.values())
    fill_log_probs(nodes)
    assert [node._log_prob is not None for node in nodes] == [True, False, True]


def test_a_value_that_broadcasts_past_the_batch_shape_is_left_to_its_node():
    """Substituted values of shape [2, 3] for batch [3]: stacking them would pair parameters with other rows."""
    logits = torch.randn(2, 3)
    recorder = GraphRecorder(builtin_default)
    values = {"x": torch.tensor([[1.0, 0, 1], [0, 0, 1]]), "y": torch.tensor([[0.0, 1, 1], [1, 1, 0]])}
    with recorder, scgrad.substitute(values):
        x = scgrad.sample("x", D.Bernoulli(logits=logits[0]), scgrad.ScoreFunction())
        y = scgrad.sample("y", D.Bernoulli(logits=logits[1]), scgrad.ScoreFunction())
        scgrad.cost("cost", x + y)
    nodes = list(recorder.graph.nodes.values())
    fill_log_probs(nodes)
    assert all(node._log_prob is None for node in nodes)
    for node in nodes:
        assert torch.equal(node.log_prob, node.dist.log_prob(node.value))


def test_log_probs_batched_under_provenance_are_plain_tensors():
    logits = torch.zeros(3, requires_grad=True)

    def chain():
        previous = torch.zeros(())
        for t in range(3):
            previous = scgrad.sample(f"a{t}", D.Bernoulli(logits=logits[t] + previous), scgrad.ScoreFunction())
            scgrad.cost(f"c{t}", previous)

    with scgrad.provenance():
        objective = scgrad.surrogate(chain)
    assert type(objective.loss) is torch.Tensor
    assert all(type(node.log_prob) is torch.Tensor for node in objective.graph.nodes.values())
