"""A learned baseline: a network that predicts the downstream cost from inputs the sample does not affect."""

from __future__ import annotations

import torch
from torch import nn

from scgrad.baselines.base import Baseline, Prediction
from scgrad.errors import ScgradError


class Critic(Baseline):
    """Learned baseline ``b = module(*inputs)``, fitted by squared error to the downstream cost.

    Bind the inputs for each call with :meth:`given` (a state in RL, the data point in a VAE):
    ``ScoreFunction(baseline=critic.given(obs))``. Inputs are detached: fitting the critic never moves
    the model. ``Objective.backward()`` fills the module's ``.grad`` with the gradient of
    ``mean((b - cost)^2)``; step it with any optimiser. The prediction must broadcast to the node's
    log-prob shape without growing (e.g. shape ``(B,)`` for a log-prob of shape ``(S, B)``).

    Args:
        module: any ``nn.Module``; its parameters are this baseline's parameters.
    """

    def __init__(self, module: nn.Module, inputs: tuple = ()):
        super().__init__()
        self.module = module
        self.inputs = tuple(inputs)

    def given(self, *inputs: torch.Tensor) -> "Critic":
        """The same critic (same module), bound to ``inputs`` for one call."""
        return Critic(self.module, inputs)

    def forward(self, node, downstream) -> Prediction:
        if not self.inputs:
            raise ScgradError(
                f"Critic on node {node.name!r} has no inputs; bind them per call with "
                f"ScoreFunction(baseline=critic.given(features))."
            )
        cost = downstream.cost
        predicted = self.module(*(x.detach() for x in self.inputs))
        if not _fits(predicted, cost.shape):
            shape = tuple(predicted.shape) if isinstance(predicted, torch.Tensor) else type(predicted).__name__
            raise ScgradError(
                f"Critic on node {node.name!r}: the module returned shape {shape}, which does not broadcast "
                f"to the node's log-prob shape {tuple(cost.shape)}; return one value per element "
                f"(e.g. .squeeze(-1) a trailing dim of 1)."
            )
        loss = (predicted - cost).pow(2).mean()
        return Prediction(predicted.detach().expand(cost.shape), loss)


def _fits(predicted, shape) -> bool:
    if not isinstance(predicted, torch.Tensor):
        return False
    try:
        return torch.broadcast_shapes(predicted.shape, shape) == shape
    except RuntimeError:
        return False
