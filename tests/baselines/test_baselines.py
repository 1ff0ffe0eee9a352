"""Baselines: what each predicts, that none looks at the current sample, and that state survives."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad
from stats import assert_unbiased, gradient_samples


def one_node(p, baseline, num_samples=None, cost=lambda b: (b - 0.45) ** 2):
    b = scgrad.sample("b", D.Bernoulli(probs=p), scgrad.ScoreFunction(baseline), num_samples=num_samples)
    scgrad.cost("c", cost(b))


def baseline_value(obj):
    return obj.parts["b"].baseline


def test_moving_average_predicts_the_average_before_seeing_the_current_cost():
    average = scgrad.MovingAverage(decay=0.5)
    p = torch.tensor(0.5, requires_grad=True)
    values = [torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0)]
    seen = []
    for value in values:
        with scgrad.substitute({"b": value}):
            seen.append(baseline_value(scgrad.surrogate(one_node, p, average)).item())
    costs = [(v.item() - 0.45) ** 2 for v in values]
    assert seen == pytest.approx([0.0, costs[0], 0.5 * costs[0] + 0.5 * costs[1]])
    assert average.count.item() == 3


def test_moving_average_state_round_trips():
    average = scgrad.MovingAverage(decay=0.7)
    p = torch.tensor(0.3, requires_grad=True)
    for _ in range(5):
        scgrad.surrogate(one_node, p, average)
    restored = scgrad.MovingAverage(decay=0.7)
    restored.load_state_dict(average.state_dict())
    with scgrad.substitute({"b": torch.tensor(1.0)}):
        a = baseline_value(scgrad.surrogate(one_node, p, average))
    with scgrad.substitute({"b": torch.tensor(1.0)}):
        b = baseline_value(scgrad.surrogate(one_node, p, restored))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="decay must lie in"):
        scgrad.MovingAverage(decay=1.0)


def episode(policy, rewards, baseline):
    for t in range(len(rewards)):
        action = scgrad.sample(f"a{t}", D.Bernoulli(logits=policy[t]), scgrad.ScoreFunction(baseline))
        scgrad.cost(f"r{t}", -rewards[t] * action)


@pytest.mark.parametrize("decay", [0.0, 0.6])
def test_a_moving_average_shared_by_an_episode_absorbs_its_nodes_in_order(decay):
    """One build's updates are applied together; the average is the one of updates made one by one."""
    torch.manual_seed(0)
    policy = torch.randn(5, dtype=torch.float64, requires_grad=True)
    average = scgrad.MovingAverage(decay=decay).double()
    expected, count = 0.0, 0
    for _ in range(3):
        objective = scgrad.surrogate(episode, policy, torch.rand(5, dtype=torch.float64), average)
        for name in objective.graph.nodes:  # every node read the average of before this build
            assert float(objective.parts[name].baseline) == pytest.approx(expected, abs=1e-12)
        for name in objective.graph.nodes:
            later = [c for c in objective.graph.costs.values() if c.order > objective.graph.nodes[name].order]
            to_go = sum(float(c.value) for c in later)  # the node's downstream cost
            expected = to_go if count == 0 else decay * expected + (1 - decay) * to_go
            count += 1
        assert float(average.average) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert int(average.count) == count


def test_a_build_that_fails_leaves_a_moving_average_as_it_was():
    policy = torch.zeros(2, requires_grad=True)
    average = scgrad.MovingAverage(decay=0.5)
    scgrad.surrogate(episode, policy, torch.ones(2), average)
    before = (average.average.clone(), average.count.clone())

    def fails_after_the_average_was_read():
        episode(policy, torch.ones(2), average)
        scgrad.sample("last", D.Bernoulli(logits=policy[0]), scgrad.ScoreFunction(scgrad.LeaveOneOut()))  # one draw

    with pytest.raises(scgrad.ScgradError, match="needs several draws"):
        scgrad.surrogate(fails_after_the_average_was_read)
    assert torch.equal(average.average, before[0]) and torch.equal(average.count, before[1])
    scgrad.surrogate(episode, policy, torch.ones(2), average)
    assert int(average.count) == 4  # the failed build's two reads were dropped, not absorbed now


class UpdatedFirst(scgrad.MovingAverage):
    """The peer-library mistake: the average absorbs the current cost before it is used."""

    def forward(self, node, downstream):
        super().forward(node, downstream).update()
        return scgrad.Prediction(self.average.expand(downstream.cost.shape))


def test_a_baseline_that_sees_the_current_sample_is_caught_as_biased():
    p = torch.tensor(0.3, requires_grad=True)
    expected = torch.autograd.grad(scgrad.diagnostics.exact(one_node, p, None).loss, p)[0]

    def estimate(baseline):
        return torch.autograd.grad(scgrad.surrogate(one_node, p, baseline).loss, p)[0]

    honest, leaky = scgrad.MovingAverage(decay=0.5), UpdatedFirst(decay=0.5)
    assert_unbiased(gradient_samples(lambda: estimate(honest), 3000), expected)
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(gradient_samples(lambda: estimate(leaky), 3000), expected)


class UpdatedAtOnce(scgrad.MovingAverage):
    """Reads before updating, but updates before the next node of the same objective reads."""

    def forward(self, node, downstream):
        prediction = super().forward(node, downstream)
        prediction.update()
        return scgrad.Prediction(prediction.value)


def two_steps(p, baseline):
    """An episode of two actions sharing one baseline; the second step's cost depends on both actions."""
    first = scgrad.sample("a0", D.Bernoulli(probs=p[0]), scgrad.ScoreFunction(baseline))
    scgrad.cost("r0", first)
    second = scgrad.sample("a1", D.Bernoulli(probs=p[1]), scgrad.ScoreFunction(baseline))
    scgrad.cost("r1", 10 * first + 5 * second)


def test_one_moving_average_shared_by_the_nodes_of_an_episode_stays_unbiased():
    """Node a1 must not read an average updated with a0's downstream cost, which contains a1's own sample."""
    p = torch.tensor([0.3, 0.6], requires_grad=True)
    expected = torch.autograd.grad(scgrad.diagnostics.exact(two_steps, p, None).loss, p)[0]

    def estimate(baseline):
        return torch.autograd.grad(scgrad.surrogate(two_steps, p, baseline).loss, p)[0]

    shared, eager = scgrad.MovingAverage(decay=0.0), UpdatedAtOnce(decay=0.0)
    assert_unbiased(gradient_samples(lambda: estimate(shared), 3000), expected)
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(gradient_samples(lambda: estimate(eager), 3000), expected)


def test_batch_average_is_the_mean_of_the_other_elements():
    p = torch.full((4,), 0.5, requires_grad=True)
    with scgrad.substitute({"b": torch.tensor([1.0, 0.0, 1.0, 1.0])}):
        obj = scgrad.surrogate(one_node, p, scgrad.BatchAverage(), cost=lambda b: b * torch.arange(1.0, 5.0))
    costs = torch.tensor([1.0, 0.0, 3.0, 4.0])
    expected = (costs.sum() - costs) / 3
    assert torch.allclose(baseline_value(obj), expected)


def test_batch_average_leaves_out_elements_that_share_a_cost():
    """Draws of the same data point share the cost (B,), so only other data points count."""
    p = torch.full((2,), 0.5, requires_grad=True)
    value = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    with scgrad.substitute({"b": value}):
        obj = scgrad.surrogate(one_node, p, scgrad.BatchAverage(), 3, lambda b: b.sum(0) * torch.tensor([1.0, 10.0]))
    per_point = torch.tensor([2.0, 10.0]) * 3  # cost per data point, scaled to the log-prob's 3 x 2 elements
    expected = per_point.flip(0).expand(3, 2)
    assert torch.allclose(baseline_value(obj), expected)


def test_leave_one_out_is_the_mean_of_the_other_draws():
    p = torch.tensor(0.5, requires_grad=True)
    value = torch.tensor([1.0, 0.0, 1.0, 1.0])
    with scgrad.substitute({"b": value}):
        obj = scgrad.surrogate(one_node, p, scgrad.LeaveOneOut(), 4, lambda b: b * torch.arange(1.0, 5.0))
    costs = value * torch.arange(1.0, 5.0)
    assert torch.allclose(baseline_value(obj), (costs.sum() - costs) / 3)


def test_critic_is_fitted_by_backward_without_moving_the_model():
    encoder = nn.Linear(2, 3)
    critic = scgrad.Critic(nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)))
    x = torch.randn(5, 2)

    def program():
        features = encoder(x)
        b = scgrad.sample("b", D.Bernoulli(logits=features[:, 0]), scgrad.ScoreFunction(critic.given(features)))
        scgrad.cost("c", (b - 0.3) ** 2)

    torch.manual_seed(0)
    obj = scgrad.surrogate(program)
    predicted = critic.module(encoder(x).detach()).detach()
    downstream = (obj.graph.nodes["b"].value - 0.3) ** 2
    assert torch.allclose(obj.aux_loss, ((predicted - downstream) ** 2).mean())
    assert torch.allclose(baseline_value(obj), predicted)
    model_grad = torch.autograd.grad(obj.loss, encoder.weight, retain_graph=True)[0]
    obj.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
    assert torch.allclose(encoder.weight.grad, model_grad)  # the critic's loss adds nothing to the model
    assert set(critic.state_dict()) == {"module.0.weight", "module.0.bias"}
