"""Surrogate construction for an episode stays linear in its length (Python calls counted, 125 to 500 steps)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import scgrad
from scgrad.rl import StateActionControl, StateValue, rollout


class Corridor:
    """Two environments that each last exactly ``steps`` steps, reward 1 per step, observing ``(t / steps, 1)``."""

    num_envs = 2

    def __init__(self, steps: int):
        self.steps, self.t = steps, 0

    def observation(self):
        return np.full((2, 2), (self.t / self.steps, 1.0), dtype=np.float32)

    def reset(self, seed=None):
        self.t = 0
        return self.observation(), {}

    def step(self, actions):
        self.t += 1
        ended = np.full(2, self.t == self.steps)
        return self.observation(), np.ones(2), ended, np.zeros(2, dtype=bool), {}


def count_calls(function) -> int:
    """Python and C function calls made while ``function()`` runs (deterministic, unlike a timer)."""
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


def estimators():
    critic = scgrad.Critic(StateValue(torch.nn.Linear(2, 1)))
    control = StateActionControl(torch.nn.Linear(4, 1))
    reinforce = scgrad.ScoreFunction()
    return {
        "reinforce": lambda step: reinforce,
        "actor_critic": lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight)),
        "relax": lambda step: scgrad.RELAX(control.given(step.obs, step.weight)),
    }


@pytest.mark.parametrize("method", ["reinforce", "actor_critic", "relax"])
def test_episode_objective_is_linear_in_length(method):
    policy = torch.nn.Linear(2, 2)
    estimator = estimators()[method]

    def build_and_backward(steps):
        objective, played = rollout(Corridor(steps), policy, estimator, gamma=0.99)
        assert played.lengths.tolist() == [steps, steps]
        objective.backward()

    build_and_backward(10)  # first calls import and initialise lazily: keep that out of the counts
    calls = {steps: count_calls(lambda: build_and_backward(steps)) for steps in (125, 250, 500)}
    # linear: x2 and x4 (plus a constant); quadratic would be x4 and x16
    assert calls[250] < 2.2 * calls[125], calls
    assert calls[500] < 4.4 * calls[125], calls
