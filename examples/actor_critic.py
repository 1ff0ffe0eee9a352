"""Actor-critic on a vectorised CartPole (or Acrobot): a learned state value as the score function's baseline.

Each of the `--envs` environments plays one episode per update and is one batch element;
`scgrad.rl.episode` masks an environment once its episode ends. The critic is fitted alongside the
policy by `Objective.backward()` (squared error to the return to go). With `--gamma` below 1 the
objective is minus the expected discounted return from the first step (see `scgrad.rl.episode`).
`--relax` uses RELAX with a control variate of state and relaxed action instead of the critic.

    .venv/bin/python examples/actor_critic.py --env CartPole-v1 --updates 100
"""

import argparse

import gymnasium as gym
import torch
from torch import nn

import scgrad
from scgrad.rl import StateActionControl, StateValue, rollout


def mlp(inputs, outputs):
    return nn.Sequential(nn.Linear(inputs, 64), nn.Tanh(), nn.Linear(64, outputs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--relax", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    envs = gym.make_vec(args.env, num_envs=args.envs, vectorization_mode="sync")
    obs_dim, actions = envs.single_observation_space.shape[0], int(envs.single_action_space.n)
    policy = mlp(obs_dim, actions)
    if args.relax:
        learned = mlp(obs_dim + actions, 1)
        control = StateActionControl(learned)
        estimator = lambda step: scgrad.RELAX(control.given(step.obs, step.weight))
    else:
        learned = mlp(obs_dim, 1)
        critic = scgrad.Critic(StateValue(learned))
        estimator = lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight))
    optimiser = torch.optim.Adam([*policy.parameters(), *learned.parameters()], lr=0.01)
    for update in range(args.updates):
        optimiser.zero_grad()
        objective, played = rollout(envs, policy, estimator, gamma=args.gamma, seed=0 if update == 0 else None)
        objective.backward()
        optimiser.step()
        if update % 10 == 0:
            print(f"update {update:4d}  mean return {played.returns.mean().item():7.1f}")


if __name__ == "__main__":
    main()
