"""A short CartPole run with REINFORCE written as an scgrad program learns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scgrad.rl import episode, rollout

gym = pytest.importorskip("gymnasium")


def test_reinforce_learns_cartpole():
    torch.manual_seed(0)
    envs = gym.make_vec("CartPole-v1", num_envs=8, vectorization_mode="sync")
    uniform = episode(envs, lambda obs: torch.zeros(obs.shape[0], 2), seed=100).returns.mean()
    policy = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 2))
    optimiser = torch.optim.Adam(policy.parameters(), lr=0.01)
    means = []
    for update in range(25):
        optimiser.zero_grad()
        objective, played = rollout(envs, policy, seed=0 if update == 0 else None)
        objective.backward()
        optimiser.step()
        means.append(played.returns.mean().item())
    envs.close()
    # one reward per step of each environment's own episode: nothing after its end (autoreset) counts
    assert torch.equal(played.returns, played.lengths.float())
    assert 15 < uniform < 30  # a random policy balances about 22 steps
    assert sum(means[-5:]) / 5 > 4 * uniform, (uniform.item(), means)
