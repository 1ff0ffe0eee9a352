"""Learned parts for episodes: a state-value critic and a state-and-action control variate for RELAX.

Both predict what :func:`scgrad.rl.episode` credits to a step's action: ``weight * -(return to go)``
(see :class:`scgrad.rl.Step`), so they are zero for environments whose episode has finished.
"""

from __future__ import annotations

import torch
from torch import nn


def _per_env(out: torch.Tensor) -> torch.Tensor:
    return out.squeeze(-1) if out.dim() == 2 and out.shape[-1] == 1 else out


class StateValue(nn.Module):
    """The module of a :class:`scgrad.Critic` for episodes: ``forward(obs, weight) = -weight * scale * value(obs)``.

    ``scale * value(obs)`` (``value`` mapping observations ``[N, *obs_shape]`` to ``[N]`` or ``[N, 1]``)
    learns the expected discounted return from a state, fitted by ``Objective.backward()`` to the
    returns to go::

        critic = scgrad.Critic(scgrad.rl.StateValue(value_net))
        estimator = lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight))

    Args:
        value: the state-value network.
        scale: a fixed factor on its output, for returns far from order one (Adam moves each weight
            by about the learning rate per step, so an unscaled network is slow to reach returns of
            hundreds; a large scale makes its early, untrained predictions large too).
    """

    def __init__(self, value: nn.Module, scale: float = 1.0):
        super().__init__()
        self.value, self.scale = value, scale

    def forward(self, obs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return -weight * self.scale * _per_env(self.value(obs))


class StateActionControl(nn.Module):
    """RELAX's control variate for a step's action, seeing the state and the relaxed action.

    ``net`` maps ``[N, obs_dim + A]`` (observations, flattened, then the perturbed logits ``z``) to
    ``[N]`` or ``[N, 1]``; the control is ``-weight * scale * net(obs, z)``, a guess of the costs credited
    to the action (``weight`` times minus a return to go).
    :meth:`given` binds one step's observations and weights::

        control = scgrad.rl.StateActionControl(net)
        estimator = lambda step: scgrad.RELAX(control.given(step.obs, step.weight))

    The control sees the action only through ``z`` (the state comes before the action), which keeps
    RELAX unbiased; ``Objective.backward()`` tunes ``net`` to minimise the gradient's variance.

    Args:
        net: the network of state and relaxed action.
        scale: a fixed factor on its output, as for :class:`StateValue`.
    """

    def __init__(self, net: nn.Module, scale: float = 1.0):
        super().__init__()
        self.net, self.scale = net, scale

    def given(self, obs: torch.Tensor, weight: torch.Tensor) -> "BoundControl":
        """The control at one step: a module from ``z`` (``[N, A]``) to ``[N]``, sharing ``net``."""
        return BoundControl(self.net, obs, weight * self.scale)


class BoundControl(nn.Module):
    """:class:`StateActionControl` bound to one step's observations and weights (made by ``given``):
    ``forward(z) = -weight * net(obs, z)``, ``weight`` including the control's scale."""

    def __init__(self, net: nn.Module, obs: torch.Tensor, weight: torch.Tensor):
        super().__init__()
        self.net = net
        self.obs = obs.detach().flatten(1)
        self.weight = weight

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return -self.weight * _per_env(self.net(torch.cat([self.obs, z], -1)))
