"""Episodes as scgrad programs: reward-to-go credit, masks after an episode ends, discounting, learned parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scgrad
from scgrad.rl import StateActionControl, StateValue, episode, rollout
from stats import assert_unbiased, gradient_samples


class ScriptedEnvs:
    """A vector env whose environment ``i`` ends after ``lengths[i]`` steps, observing ``(t, i)``.

    Before its end, action ``a`` at step ``t`` earns ``rewards[t, i] * a``. After it, the environment plays
    on like an autoreset one, earning 100 per step: none of that may count.
    """

    def __init__(self, lengths, rewards):
        self.lengths = np.asarray(lengths)
        self.rewards = np.asarray(rewards, dtype=np.float64)
        self.num_envs = len(self.lengths)
        self.t = 0

    def observation(self):
        return np.stack([np.full(self.num_envs, self.t), np.arange(self.num_envs)], -1).astype(np.float32)

    def reset(self, seed=None):
        self.t = 0
        return self.observation(), {}

    def step(self, actions):
        playing = self.t < self.lengths
        reward = np.where(playing, self.rewards[self.t] * actions, 100.0)
        ended = self.t + 1 == self.lengths
        self.t += 1
        return self.observation(), reward, ended, np.zeros_like(ended), {}


LENGTHS = [3, 1, 4]
REWARDS = torch.tensor([[1.0, 2.0, -1.0], [0.5, 9.0, 3.0], [2.0, 9.0, -2.0], [9.0, 9.0, 1.0]])  # [T, N]


def table_policy(table):
    """Logits ``table[t, i]`` for environment ``i`` at step ``t`` (read off the observation)."""
    return lambda obs: table[obs[:, 0].long(), obs[:, 1].long()]


def discounted_to_go(actions, gamma):
    """``[T, N]``: the costs from each step to the end of each environment's own episode."""
    steps = torch.arange(REWARDS.shape[0]).unsqueeze(-1)
    playing = steps < torch.tensor(LENGTHS)
    costs = -(gamma**steps) * REWARDS * actions * playing
    return costs.flip(0).cumsum(0).flip(0), playing


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_gradient_is_masked_discounted_reward_to_go(gamma):
    table = torch.randn(4, 3, 2, requires_grad=True)
    actions = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 1]])
    envs = ScriptedEnvs(LENGTHS, REWARDS.numpy())
    with scgrad.substitute({f"action{t}": actions[t] for t in range(4)}):
        objective, played = rollout(envs, table_policy(table), gamma=gamma)
    (grad,) = torch.autograd.grad(objective.loss, table)

    to_go, playing = discounted_to_go(actions.float(), gamma)
    score = torch.nn.functional.one_hot(actions, 2) - table.detach().softmax(-1)  # d log p(a) / d logits
    expected = score * (to_go * playing / 3).unsqueeze(-1)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(objective.cost, to_go[0].mean())
    assert played.lengths.tolist() == LENGTHS
    torch.testing.assert_close(played.returns, (REWARDS * actions * playing).sum(0))


def test_evaluation_runs_without_surrogate():
    table = torch.zeros(4, 3, 2)
    played = episode(ScriptedEnvs(LENGTHS, REWARDS.numpy()), table_policy(table))
    assert played.lengths.tolist() == LENGTHS
    assert bool((played.returns < 100).all())  # nothing after an episode's end


def test_critic_and_control_predict_the_credited_cost():
    """A value net that knows the realised discounted return to go fits the critic exactly (aux loss 0),
    and both learned parts predict zero once an environment has finished."""
    gamma = 0.9
    actions = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 1]])
    to_go, playing = discounted_to_go(actions.float(), gamma)
    returns = -to_go / gamma ** torch.arange(4.0).unsqueeze(-1)  # G_t, undiscounted to step t

    class Oracle(torch.nn.Module):
        def forward(self, obs):  # in units of `scale`
            return returns[obs[:, 0].long(), obs[:, 1].long()] / 4

    critic = scgrad.Critic(StateValue(Oracle(), scale=4.0))
    table = torch.zeros(4, 3, 2, requires_grad=True)
    with scgrad.substitute({f"action{t}": actions[t] for t in range(4)}):
        objective, _ = rollout(
            ScriptedEnvs(LENGTHS, REWARDS.numpy()),
            table_policy(table),
            lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight)),
            gamma=gamma,
        )
    assert objective.aux_loss.item() < 1e-10
    for t in range(4):
        baseline = objective.parts[f"action{t}"].baseline
        assert bool((baseline[~playing[t]] == 0).all())

    control = StateActionControl(torch.nn.Linear(4, 1))
    objective, _ = rollout(
        ScriptedEnvs(LENGTHS, REWARDS.numpy()),
        table_policy(table),
        lambda step: scgrad.RELAX(control.given(step.obs, step.weight)),
    )
    for t in range(4):
        assert bool((objective.parts[f"action{t}"].baseline[~playing[t]] == 0).all())


def exact_gradient(table, gamma):
    steps = torch.arange(4).unsqueeze(-1)
    playing = steps < torch.tensor(LENGTHS)
    objective = -(gamma**steps * REWARDS * table.softmax(-1)[..., 1] * playing).sum(0).mean()
    return torch.autograd.grad(objective, table)[0]


@pytest.mark.parametrize("method", ["reinforce", "actor_critic", "relax"])
def test_unbiased(method):
    gamma = 0.9
    torch.manual_seed(1)
    table = (0.5 * torch.randn(4, 3, 2)).requires_grad_()
    value = torch.nn.Linear(2, 1)
    critic = scgrad.Critic(StateValue(value))
    control = StateActionControl(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)))
    estimators = {
        "reinforce": None,
        "actor_critic": lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight)),
        "relax": lambda step: scgrad.RELAX(control.given(step.obs, step.weight)),
    }

    def estimate():
        objective, _ = rollout(ScriptedEnvs(LENGTHS, REWARDS.numpy()), table_policy(table), estimators[method], gamma=gamma)
        return torch.autograd.grad(objective.loss, table)[0]

    # only the entries of steps that are played carry gradient; the others are exactly zero
    assert_unbiased(gradient_samples(estimate, 500), exact_gradient(table, gamma))


def test_errors():
    envs = ScriptedEnvs(LENGTHS, REWARDS.numpy())
    with pytest.raises(scgrad.ScgradError, match="gamma"):
        episode(envs, table_policy(torch.zeros(4, 3, 2)), gamma=0.0)
    with pytest.raises(scgrad.ScgradError, match="logits of shape"):
        episode(envs, lambda obs: torch.zeros(3))
