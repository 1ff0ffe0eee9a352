"""ReinMax: a second-order refinement of straight-through."""

from __future__ import annotations

from scgrad.core.graph import Node
from scgrad.distributions.concrete import offset
from scgrad.estimators.relaxed import Relaxation
from scgrad.estimators.temperature import as_temperature


class ReinMax(Relaxation):
    """ReinMax: straight-through corrected to second order with Heun's method.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]``.
    With: the discrete sample ``b`` forward and, backward, ``∂f/∂b`` times the Jacobian of
    ``2 π1 - π0 / 2`` where ``π0 = p_θ``, ``π1 = (b + softmax(θ / τ)) / 2`` and the Jacobian of ``π1``
    is that of a softmax taken at ``π1`` (Liu et al. 2023, Algorithm 2). A ``Bernoulli`` is the
    two-class case (sigmoids for softmaxes). The value is ``b + π2 - stopgrad(π2)``, ``π2 = 2 π1 - π0 / 2``.
    Requires: ``f`` differentiable at the discrete values. Value shape: for ``Categorical`` the one-hot
    vector of the sample (an extra trailing dim of size ``K``); for ``OneHotCategorical`` and
    ``Bernoulli``, the sample's shape.
    Bias: biased in general, but second-order accurate where straight-through is first-order: at
    ``τ = 1`` the bias vanishes for every ``f`` quadratic in ``b`` (Heun's trapezoid rule is exact
    there), where straight-through is biased. At other temperatures the correction is no longer Heun's
    step and a bias returns as ``τ`` moves away from one (the authors recommend ``τ >= 1``). Its variance
    can exceed straight-through's (the Jacobian of ``2 π1 - π0 / 2`` is the larger).
    Paper: Liu, Dong, Liu, Yu & Gao 2023, "Bridging discrete and backpropagation: straight-through and
    beyond".

    Args:
        temperature: a positive float or an :class:`scgrad.Temperature`.
    """

    def __init__(self, temperature=1.0):
        super().__init__()
        self.temperature = as_temperature(temperature, "ReinMax")

    def draw(self, node: Node, layout):
        view = self.view(node)
        logits, pi0 = view.logits, view.probs
        b = view.outcome(view.perturb(node.sample_shape))
        pi1 = (b + view.relax(logits, self.temperature())) / 2
        pi1 = view.relax(logits + offset(view.unrelax(pi1), logits).detach(), 1.0)  # value π1, Jacobian at π1
        pi2 = 2 * pi1 - pi0 / 2
        return self.drawn(node, b + (pi2 - pi2.detach()))
