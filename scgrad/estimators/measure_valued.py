"""Measure-valued derivatives: the cost evaluated at the two parts of a weak derivative."""

from __future__ import annotations

import math

import torch
import torch.distributions as D

from scgrad.errors import ScgradError
from scgrad.core.protocol import Parts
from scgrad.distributions.base import base_distribution
from scgrad.estimators.components import ComponentEstimator, costs_at, drawn_cost, outcome_costs

SUPPORTED = (D.Bernoulli, D.Categorical, D.OneHotCategorical, D.Normal)


class MeasureValued(ComponentEstimator):
    """Measure-valued derivative: the derivative of a density written as ``c · (p⁺ − p⁻)``, each part sampled.

    Approximates: ``d/dθ E_{z~p_θ}[f(z)]``, one scalar component of ``z`` at a time.
    With: ``c_θ (f(z⁺) − f(z⁻))``, ``z^± ~ p^±_θ`` for the weak derivative ``∂_θ p_θ = c_θ (p⁺_θ − p⁻_θ)`` of each
    component, the other components and nodes held at their drawn values:

    - Bernoulli, Categorical, OneHotCategorical, in their probabilities: ``∂ E f / ∂π_k = f(k)``, the cost at
      every outcome of the component (``K − 1`` re-evaluations; the drawn outcome's cost is known). On these
      nodes the estimate coincides with :class:`IndeCateR`'s.
    - Normal, in its mean: ``c = 1 / (σ √(2π))``, ``z^± = μ ± σ r`` with one Rayleigh draw ``r`` for both
      parts; in its scale: ``c = 1 / σ``, ``z⁺ = μ + σ m`` with ``m`` double-sided Maxwell, ``z⁻`` the drawn value
      (3 re-evaluations).

    No score function is involved, so ``f`` need not be differentiable and the variance does not grow with the
    dimension of the parameters. Re-evaluations run the program again, once per alternative value when every
    element of the log-prob has a cost of its own, and once per alternative and component when components
    share a cost (the event dims of ``Independent``, or a cost that combines draws); with
    ``stack_evaluations=True``, the alternatives are stacked in one run (:attr:`Downstream.evaluate_many`).
    Requires: a ``Bernoulli``, ``Categorical``, ``OneHotCategorical`` or ``Normal`` node, or ``Independent`` of
    one; a program without side effects outside scgrad; nodes sampled after this one must not depend on its
    value (re-evaluation holds them at their drawn values, and refuses them); no enumerated node in the program.
    First derivatives only.
    Bias: none.
    Paper: Pflug 1989, "Sampling derivatives of probabilities"; Mohamed, Rosca, Figurnov & Mnih 2020, "Monte
    Carlo gradient estimation in machine learning", section 6.
    Args:
        stack_evaluations: evaluate the alternative values in one re-run, stacked on a new batch dim; only
            for a program that counts every dim from the right, else the gradient is biased (see
            :class:`~scgrad.estimators.components.ComponentEstimator`).
    """

    def check(self, name, dist):
        base, _ = base_distribution(dist)
        if not isinstance(base, SUPPORTED):
            raise ScgradError(
                f"node {name!r}: MeasureValued knows the weak derivatives of Bernoulli, Categorical, "
                f"OneHotCategorical and Normal (or Independent of them), not {type(base).__name__}. Use "
                f"ScoreFunction(), or Reparam() for a reparameterisable distribution."
            )

    def parts(self, node, downstream):
        base, _ = base_distribution(node.dist)
        count = node.log_prob.numel()
        if not isinstance(base, D.Normal):
            costs, probs = outcome_costs(self, node, downstream)
            return Parts(extra=(costs * (probs - probs.detach())).sum() / count)
        loc, scale = base.loc, base.scale
        mean, spread = loc.detach().expand_as(node.value), scale.detach().expand_as(node.value)
        rayleigh = torch.sqrt(-2 * torch.log1p(-torch.rand_like(mean)))
        maxwell = torch.randn(mean.shape + (3,), dtype=mean.dtype, device=mean.device).norm(dim=-1)
        maxwell = maxwell * torch.where(torch.rand_like(mean) < 0.5, -1.0, 1.0)
        plus, minus, wide = costs_at(
            self, node, downstream,
            [mean + spread * rayleigh, mean - spread * rayleigh, mean + spread * maxwell],
        )
        d_loc = (plus - minus) / (spread * math.sqrt(2 * math.pi))
        d_scale = (wide - drawn_cost(node, downstream)) / spread
        extra = (d_loc * (loc - loc.detach())).sum() + (d_scale * (scale - scale.detach())).sum()
        return Parts(extra=extra / count)
