"""REINFORCE on CartPole, written as the story of an episode: one `sample` per action, one `cost` per step.

By time order each action is credited with the costs after it (reward-to-go), so this is REINFORCE
with reward-to-go; the objective is minus the expected (undiscounted) return.

    .venv/bin/python examples/cartpole_reinforce.py --updates 300
"""

import argparse

import gymnasium as gym
import torch
import torch.distributions as D
from torch import nn

import scgrad


def play(env, policy, estimator, seed=None):
    """One episode; returns its length. A program: under scgrad.surrogate it records nodes and costs."""
    obs, _ = env.reset(seed=seed)
    for t in range(env.spec.max_episode_steps):
        logits = policy(torch.as_tensor(obs))
        action = scgrad.sample(f"a{t}", D.Categorical(logits=logits), estimator)
        obs, reward, terminated, truncated, _ = env.step(int(action))
        scgrad.cost(f"r{t}", torch.tensor(-reward))
        if terminated or truncated:
            return t + 1
    return env.spec.max_episode_steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    env = gym.make("CartPole-v1")
    policy = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 2))
    estimator = scgrad.ScoreFunction()  # built once, used by every step (a stateless estimator)
    optimiser = torch.optim.Adam(policy.parameters(), lr=0.01)
    for update in range(args.updates):
        optimiser.zero_grad()
        objective = scgrad.surrogate(play, env, policy, estimator, seed=0 if update == 0 else None)
        objective.backward()
        optimiser.step()
        if update % 20 == 0:
            print(f"update {update:4d}  return {-objective.cost.item():6.1f}")


if __name__ == "__main__":
    main()
