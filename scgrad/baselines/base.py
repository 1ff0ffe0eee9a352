"""What a baseline is: a module that predicts a node's downstream cost without looking at its sample."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Prediction(NamedTuple):
    """A baseline's output: ``value`` (detached, the node's log-prob shape) and an optional ``loss``
    that ``Objective.backward()`` minimises to fit the baseline."""

    value: torch.Tensor
    loss: torch.Tensor | None = None


class Baseline(nn.Module):
    """Base of every baseline.

    ``forward(node, downstream)`` returns a :class:`Prediction` whose element ``i`` never depends on
    the sample at element ``i`` (that is what keeps the score function unbiased). State lives in
    buffers and parameters, so ``state_dict()`` checkpoints it.
    """

    def forward(self, node, downstream) -> Prediction:
        raise NotImplementedError
