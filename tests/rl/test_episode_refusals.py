"""Episodes refuse the estimators an environment cannot play, by name, before the environment sees the action.

Found by fuzzing the estimators over ``scgrad.rl.episode`` (see ``tests/test_fuzz_errors.py``): a relaxation
handed ``envs.step`` a one-hot vector that requires grad (a raw ``RuntimeError`` from ``.numpy()``), and
``Enumerate`` handed it every action at once (an ``AssertionError`` inside gymnasium); ``MeasureValued`` and
``IndeCateR`` re-run the episode, which with ``seed=None`` plays other episodes than the one drawn.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scgrad
from scgrad.rl import episode, rollout


class OneStep:
    """``count`` environments that end after one step; action ``a`` earns ``reward * a``."""

    def __init__(self, count=3, reward=2.0):
        self.num_envs, self.reward = count, reward

    def reset(self, seed=None):
        return np.zeros((self.num_envs, 1), dtype=np.float32), {}

    def step(self, actions):
        actions = np.asarray(actions)
        assert actions.shape == (self.num_envs,) and actions.dtype.kind == "i", actions
        done = np.ones(self.num_envs, dtype=bool)
        return np.zeros((self.num_envs, 1), np.float32), self.reward * actions, done, ~done, {}


def _policy(logits):
    return lambda obs: logits.expand(obs.shape[0], -1)


@pytest.mark.parametrize("make, why", [
    (scgrad.GumbelSoftmax, "GumbelSoftmax passes the gradient through the action's value"),
    (lambda: scgrad.GumbelSoftmax(hard=True), "GumbelSoftmax passes the gradient"),
    (scgrad.StraightThrough, "StraightThrough passes the gradient"),
    (scgrad.ReinMax, "ReinMax passes the gradient"),
    (scgrad.GumbelRao, "GumbelRao passes the gradient"),
    (scgrad.Enumerate, "Enumerate gives every action at once"),
])
def test_an_estimator_whose_value_no_environment_plays_is_refused(make, why):
    logits = torch.zeros(2, requires_grad=True)
    with pytest.raises(scgrad.ScgradError, match=rf"node 'action0' has value shape .*one action index each, shape \(3,\): {why}"):
        rollout(OneStep(), _policy(logits), lambda step: make(), seed=0)


@pytest.mark.parametrize("make", [scgrad.MeasureValued, scgrad.IndeCateR])
def test_an_estimator_that_reruns_the_episode_needs_a_seed(make):
    logits = torch.zeros(2, requires_grad=True)
    with pytest.raises(scgrad.ScgradError, match=rf"{make.__name__}\(\), which re-runs the episode.*Pass seed="):
        rollout(OneStep(), _policy(logits), lambda step: make(), seed=None)


@pytest.mark.parametrize("make", [scgrad.MeasureValued, scgrad.IndeCateR])
def test_with_a_seed_the_reruns_give_the_exact_gradient(make):
    """One step, cost ``-r a``: ``E = -r p_1`` and both estimators sum the two actions exactly, so the gradient
    in the logits is ``-r p_1 (e_1 - p)`` whatever was drawn."""
    logits = torch.tensor([0.3, -0.4], requires_grad=True)
    objective, played = rollout(OneStep(reward=2.0), _policy(logits), lambda step: make(), seed=0)
    objective.backward()
    p = torch.softmax(logits.detach(), -1)
    torch.testing.assert_close(logits.grad, -2.0 * p[1] * (torch.tensor([0.0, 1.0]) - p))
    assert played.lengths.tolist() == [1, 1, 1]


def test_episode_called_directly_outside_surrogate_is_unchanged():
    logits = torch.zeros(2)
    played = episode(OneStep(), _policy(logits), lambda step: scgrad.GumbelSoftmax(), seed=0)
    assert played.lengths.tolist() == [1, 1, 1]
