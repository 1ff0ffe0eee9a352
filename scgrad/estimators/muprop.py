"""MuProp: the score function with a first-order Taylor expansion of the cost as its control variate."""

from __future__ import annotations

import torch
import torch.distributions as D

from scgrad.baselines.base import Baseline
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts
from scgrad.distributions.base import base_distribution
from scgrad.estimators.redraw import mean_field


class MuProp(Estimator):
    """MuProp: REINFORCE whose baseline is the cost's first-order Taylor expansion at the mean-field value.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]`` for a discrete node with mean ``μ_θ = E[b]``.
    With: ``(f(b) - f(μ) - f'(μ)·(b - μ)) d log p(b) + f'(μ)·dμ_θ``, ``μ`` and ``f'(μ)`` held fixed: the
    control variate's expectation, ``f(μ)``, is added back analytically through ``dμ_θ``. ``f(μ)`` and
    ``f'(μ)`` come from re-running the program with the node's value set to ``μ`` (every other node held
    at its drawn value, except the later layers of a hierarchy, which take their means given ``μ``: the
    paper's mean-field pass, :func:`scgrad.estimators.redraw.mean_field`), so the program must have no
    side effects outside scgrad and accept ``μ``.
    Requires: ``Bernoulli`` or ``OneHotCategorical`` (or ``Independent`` of them); costs differentiable at
    the mean; later layers whose distributions have a mean (a ``Categorical`` index below is refused).
    Bias: none. First order only: second derivatives are not unbiased. Costs 1 program evaluation and
    one backward pass per step.
    Paper: Gu, Levine, Sutskever & Mnih 2016.

    Args:
        baseline: an optional scgrad baseline (e.g. ``MovingAverage()``) fitted to what the Taylor
            expansion leaves over, ``f(b) - f(μ) - f'(μ)·(b - μ)``, and added to the control variate, as
            the paper does. It matters where ``f`` is far from linear: for ``f(b) = (b - t)^2``,
            ``E[f(b)] = f(μ) + Var(b)`` and the expansion alone misses ``Var(b)``.
    """

    first_order_only = True

    def __init__(self, baseline=None):
        super().__init__()
        if baseline is not None and not isinstance(baseline, Baseline):
            raise ScgradError(f"MuProp(baseline=...) takes an scgrad baseline such as MovingAverage(); got {type(baseline).__name__}.")
        self.baseline = baseline

    needs_downstream = True

    def check(self, name, dist):
        base, _ = base_distribution(dist)
        if not isinstance(base, (D.Bernoulli, D.OneHotCategorical)):
            hint = " (an index has no mean: use OneHotCategorical)" if isinstance(base, D.Categorical) else ""
            raise ScgradError(
                f"node {name!r}: MuProp expands the cost around the mean of a Bernoulli or OneHotCategorical node "
                f"(or Independent of them); got {type(base).__name__}{hint}. Use ScoreFunction() otherwise."
            )

    def parts(self, node, downstream):
        if downstream.evaluate is None:
            raise ScgradError(f"node {node.name!r}: MuProp re-runs the program; build the objective with scgrad.surrogate.")
        mean = base_distribution(node.dist)[0].probs.expand(node.value.shape)
        point = mean.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            at_mean, objective = downstream.evaluate(point, redraw=mean_field)
            slope = None
            if objective.requires_grad:  # a downstream cost that ignores the node has no slope
                (slope,) = torch.autograd.grad(objective, point, allow_unused=True)
        score = node.log_prob
        # Per element i, the slope of its own downstream cost in its own value: the objective's, scaled to the
        # score term's scale (a cost element depends on its own elements only, so this is the diagonal).
        slope = torch.zeros_like(point) if slope is None else slope * score.numel()
        events = tuple(range(score.dim(), node.value.dim()))

        def per_element(x):
            return x.sum(events) if events else x

        control = at_mean.detach() + per_element((node.value - point.detach()) * slope)
        correction = per_element((mean - mean.detach()) * slope).mean()
        if self.baseline is None:
            return Parts(score=score, baseline=control, extra=correction)
        prediction = self.baseline(node, downstream._replace(cost=downstream.cost - control))
        return Parts(score=score, baseline=control + prediction.value, extra=correction,
                     aux_loss=prediction.loss, update=prediction.update)
