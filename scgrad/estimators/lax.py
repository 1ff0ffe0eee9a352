"""LAX: the score function of a reparameterisable node with a learned, reparameterised control variate."""

from __future__ import annotations

import torch
from torch import nn

from scgrad.core.graph import Node
from scgrad.core.protocol import Estimator, Parts
from scgrad.distributions.base import base_distribution
from scgrad.errors import ScgradError
from scgrad.estimators.relax import apply_control, default_control
from scgrad.estimators.tuning import variance_loss


class LAX(Estimator):
    """LAX: the score function of a reparameterisable node with a learned, reparameterised control variate.

    Approximates: ``d/dθ E_{z~p_θ}[f(z)]`` for any ``f``, differentiable or not.
    With: ``(f(z) - c_φ(z)) d log p_θ(z) + d c_φ(z)``, ``z = rsample()``; ``f`` sees ``z`` without gradient.
    ``c_φ`` sees ``z`` with event dims flattened and returns one value per log-prob element; φ is tuned by
    ``Objective.backward()`` to minimise the variance of the gradient with respect to the distribution's
    parameters.
    Requires: ``dist.has_rsample``.
    Bias: none, for any φ. First order only.
    Paper: Grathwohl, Choi, Wu, Roeder & Duvenaud 2018.

    Args:
        control: as for :class:`RELAX`.
    """

    first_order_only = True

    def __init__(self, control: nn.Module | None = None):
        super().__init__()
        self.net = default_control() if control is None else control

    needs_downstream = True

    def check(self, name, dist):
        if not dist.has_rsample:
            raise ScgradError(
                f"node {name!r}: LAX needs a reparameterisable distribution, and {type(dist).__name__} has no rsample; "
                f"for a discrete node use RELAX()."
            )

    def draw(self, node: Node, layout):
        z = node.dist.rsample(node.sample_shape)
        node.state["z"] = z
        return z.detach()

    def parts(self, node, downstream):
        if "z" not in node.state:
            raise ScgradError(
                f"node {node.name!r}: LAX needs the reparameterised draw behind its value; it cannot serve a "
                f"substituted value."
            )
        score = node.log_prob
        control = apply_control(self.net, node, node.state["z"])
        aux = variance_loss(score, (downstream.cost - control) / score.numel(), control.mean(), _parameters(node.dist))
        return Parts(score=score, baseline=control.detach(), extra=(control - control.detach()).mean(), aux_loss=aux)


def _parameters(dist) -> list[torch.Tensor]:
    base, _ = base_distribution(dist)
    return [v for name in base.arg_constraints if isinstance(v := vars(base).get(name), torch.Tensor)]
