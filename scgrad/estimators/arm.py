"""Antithetic estimators for Bernoulli variables: ARM and DisARM."""

from __future__ import annotations

import torch
import torch.distributions as D

from scgrad.baselines.base import mixing_costs
from scgrad.core.graph import Node
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts
from scgrad.distributions.base import base_distribution
from scgrad.estimators.components import refuse_enumerated_upstream


class _AntitheticPair(Estimator):
    """Draws ``num_samples / 2`` antithetic pairs; subclasses turn a pair's costs into a logit gradient.

    With ``u ~ Uniform(0, 1)`` per component, the pair is ``b = 1[u < σ(α)]`` and ``b' = 1[1 - u < σ(α)]``:
    draw ``j`` and draw ``j + num_samples / 2`` along the sample dim. Each is marginally
    ``Bernoulli(σ(α))``, so the costs' plain mean over the draws estimates the objective.
    """

    first_order_only = True

    def check(self, name, dist):
        base, _ = base_distribution(dist)
        if not isinstance(base, D.Bernoulli):
            raise ScgradError(
                f"node {name!r}: {type(self).__name__} serves Bernoulli variables (or Independent of them), and "
                f"this one is {type(base).__name__}. Use ScoreFunction(), or MeasureValued() / IndeCateR() for "
                f"other discrete distributions."
            )

    needs_downstream = True

    def draw(self, node: Node, layout):
        self._check_pairs(node)
        refuse_enumerated_upstream(type(self).__name__, node, layout)
        probs = base_distribution(node.dist)[0].probs.detach()
        shape = (node.num_samples // 2,) + node.dist.batch_shape + node.dist.event_shape
        u = torch.rand(shape, dtype=probs.dtype, device=probs.device)
        node.state["antithetic"] = True
        return torch.cat([(u < probs).to(probs.dtype), (1 - u < probs).to(probs.dtype)])

    def _check_pairs(self, node: Node) -> None:
        count = node.num_samples
        if count is None or count % 2:
            raise ScgradError(
                f"node {node.name!r}: {type(self).__name__} draws antithetic pairs along the sample dim, so "
                f"num_samples must be even; got num_samples={count}. Pass num_samples=2 for one pair."
            )

    def _check_given_pairs(self, node: Node) -> None:
        """Refuse a value not drawn here (``scgrad.substitute``) that is no set of antithetic pairs: an odd
        number of draws, or a pair no ``u`` gives (both ones needs ``σ(α) > 1/2``, both zeros ``σ(α) < 1/2``)."""
        self._check_pairs(node)
        first, second = node.value.chunk(2)
        probs = base_distribution(node.dist)[0].probs.detach()
        impossible = ((first > 0) & (second > 0) & (probs <= 0.5)) | ((first <= 0) & (second <= 0) & (probs >= 0.5))
        if bool(impossible.any()):
            where = tuple(impossible.nonzero()[0].tolist())
            raise ScgradError(
                f"node {node.name!r}: the value given to {type(self).__name__} (by scgrad.substitute) is not a set of "
                f"antithetic pairs: draws j and j + {node.num_samples // 2} of value shape {tuple(node.value.shape)} "
                f"form a pair b = 1[u < p], b' = 1[1 - u < p], and at index {where} of the first half the pair is "
                f"({float(first[where])}, {float(second[where])}) with p = {float(probs.expand_as(first)[where]):.4g}, "
                f"which no u gives (two ones need p > 1/2, two zeros p < 1/2). Let {type(self).__name__} draw the "
                f"node, or substitute pairs it can draw."
            )

    def parts(self, node, downstream):
        count = node.num_samples
        if "antithetic" not in node.state:
            self._check_given_pairs(node)
        if node.sample_dim not in downstream.independent_dims:
            raise ScgradError(
                f"node {node.name!r}: {mixing_costs(downstream, [node.sample_dim])} combines its {count} draws (it "
                f"lacks the sample dim {node.sample_dim} of log-prob shape {tuple(node.log_prob.shape)}), so the two "
                f"draws of a pair cannot be told apart. {type(self).__name__} needs one cost per draw; for a "
                f"multi-sample objective use ScoreFunction(VIMCO(...)). For a cost not computed from {node.name!r} (an "
                f"analytic KL, a regulariser), record it before sampling {node.name!r} or run under scgrad.provenance(): "
                f"by default a cost depends on every node sampled before it."
            )
        base, rank = base_distribution(node.dist)
        cost = downstream.cost.reshape(tuple(downstream.cost.shape) + (1,) * rank)
        first_cost, second_cost = cost.chunk(2)
        first, second = node.value.chunk(2)
        logits = base.logits
        signal = self.signal(first, second, first_cost, second_cost, logits.detach(), base.probs.detach())
        return Parts(extra=(signal.detach() * (logits - logits.detach())).sum() / cost.numel())

    def signal(self, first, second, first_cost, second_cost, logits, probs) -> torch.Tensor:
        """Twice each pair's estimate of the gradient with respect to the logits, with the downstream cost per
        element as ``f`` (two draws each weigh ``1 / n`` in the surrogate's mean over ``n`` elements)."""
        raise NotImplementedError


class ARM(_AntitheticPair):
    """Augment-REINFORCE-merge: an antithetic pair per component, differenced.

    Approximates: ``d/dα E_{b~Bernoulli(σ(α))}[f(b)]`` for each logit ``α``.
    With: ``(f(b') − f(b)) (u − 1/2)`` for the antithetic pair ``b = 1[u < σ(α)]``, ``b' = 1[1 − u < σ(α)]``
    (``u`` per component; a vector's components share ``f``), averaged over the ``num_samples / 2`` pairs.
    ``u`` is drawn again from its conditional law given the pair, which leaves the joint law of ``(u, b, b')``,
    and so the estimator's, unchanged.
    Requires: a ``Bernoulli`` node (or ``Independent`` of one) with an even ``num_samples``: draws ``j`` and
    ``j + num_samples / 2`` form a pair; costs that keep the sample dim (one cost per draw); ``log_prob`` and
    the logits differentiable in θ; nothing of ``f``. First derivatives only: its term has no higher ones.
    No enumerated node in the program: the downstream cost it reads does not weight an enumerated support
    by its probabilities (a node enumerated before it is refused).
    Bias: none.
    Paper: Yin & Zhou 2019, "ARM: Augment-REINFORCE-merge gradient for stochastic binary networks".
    """

    def signal(self, first, second, first_cost, second_cost, logits, probs):
        u = _uniform_given_pair(first, second, probs)
        return 2 * (second_cost - first_cost) * (u - 0.5)


class DisARM(_AntitheticPair):
    """ARM with the uniform noise integrated out given the pair.

    Approximates: ``d/dα E_{b~Bernoulli(σ(α))}[f(b)]`` for each logit ``α``.
    With: ``½ (f(b) − f(b')) (−1)^{b'} 1[b ≠ b'] σ(|α|)`` for the antithetic pair ``b = 1[u < σ(α)]``,
    ``b' = 1[1 − u < σ(α)]``, averaged over the ``num_samples / 2`` pairs: the conditional expectation of ARM
    given the pair, so its variance is never larger. On a single component at ``σ(α) = 1/2`` the pair is always
    ``{0, 1}`` and the estimate is exact.
    Requires: as :class:`ARM` (even ``num_samples``; draws ``j`` and ``j + num_samples / 2`` form a pair; one
    cost per draw). First derivatives only. No enumerated node in the program.
    Bias: none.
    Paper: Dong, Mnih & Tucker 2020, "DisARM: An antithetic gradient estimator for binary latent variables".
    """

    def signal(self, first, second, first_cost, second_cost, logits, probs):
        sign = 1 - 2 * second
        return (first_cost - second_cost) * sign * (first != second) * torch.sigmoid(logits.abs())


def _uniform_given_pair(first, second, probs):
    """Draw ``u ~ Uniform(0, 1)`` conditioned on ``first = 1[u < p]`` and ``second = 1[1 - u < p]``."""
    low = torch.maximum(torch.where(first > 0, 0.0, probs), torch.where(second > 0, 1 - probs, 0.0))
    high = torch.minimum(torch.where(first > 0, probs, 1.0), torch.where(second > 0, 1.0, 1 - probs))
    return low + (high - low) * torch.rand_like(low)
