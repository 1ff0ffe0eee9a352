"""IndeCateR: each categorical component's expectation summed exactly, the others sampled."""

from __future__ import annotations

import torch.distributions as D

from scgrad.errors import ScgradError
from scgrad.core.protocol import Parts
from scgrad.distributions.base import base_distribution
from scgrad.estimators.components import ComponentEstimator, outcome_costs

SUPPORTED = (D.Categorical, D.OneHotCategorical, D.Bernoulli)


class IndeCateR(ComponentEstimator):
    """Independent categorical REINFORCE: a Rao-Blackwellised score function per component.

    Approximates: ``d/dθ E_{x~p_θ}[f(x)]`` for ``x = (x_1, …, x_D)`` with independent categorical components.
    With: ``Σ_d Σ_k ∂_θ p_θ(x_d = k) f(x_{−d}, x_d = k)`` at each draw of ``x``, averaged over draws: the cost at
    every outcome of each component, the other components (and nodes) held at their drawn values. The
    components are the elements of the node's value: batch dims whose elements each have a cost of their own are
    handled in one re-evaluation per outcome; components that share a cost (the event dims of ``Independent``,
    batch dims a cost sums over, draws a cost combines) take ``K − 1`` re-runs of the program each, or one
    with ``stack_evaluations=True`` (the other outcomes stacked in one run, :attr:`Downstream.evaluate_many`).
    Requires: a ``Categorical``, ``OneHotCategorical`` or ``Bernoulli`` node (``K = 2``), or ``Independent`` of
    one; a program without side effects outside scgrad; nodes sampled after this one must not depend on its
    value (re-evaluation holds them at their drawn values, and refuses them); no enumerated node in the program.
    First derivatives only.
    Bias: none.
    Paper: De Smet, Sansone & Zuidberg Dos Martires 2023, "Differentiable sampling of categorical
    distributions using the CatLog-derivative trick" (NeurIPS).
    Args:
        stack_evaluations: evaluate the alternative values in one re-run, stacked on a new batch dim; only
            for a program that counts every dim from the right, else the gradient is biased (see
            :class:`~scgrad.estimators.components.ComponentEstimator`).
    """

    def check(self, name, dist):
        base, _ = base_distribution(dist)
        if not isinstance(base, SUPPORTED):
            raise ScgradError(
                f"node {name!r}: IndeCateR serves products of categorical variables (Categorical, "
                f"OneHotCategorical, Bernoulli, or Independent of them), not {type(base).__name__}. Use "
                f"MeasureValued() for a Normal node, or ScoreFunction()."
            )

    def parts(self, node, downstream):
        costs, probs = outcome_costs(self, node, downstream)
        return Parts(extra=(costs * (probs - probs.detach())).sum() / node.log_prob.numel())
