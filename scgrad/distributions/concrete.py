"""Gumbel-max sampling of discrete variables: the relaxed (Concrete) value, and sampling given the outcome.

A categorical variable with logits ``θ`` (last dim ``K``) is drawn as ``b = one_hot(argmax z)`` with
``z = θ + G``, ``G`` iid standard Gumbel: the *perturbed logits*. ``softmax(z / τ)`` is then a Concrete
(Gumbel-softmax) sample on the simplex, whose argmax is ``b``. A binary variable is the case ``K = 2``
written with one logit: ``z = θ + L``, ``L`` standard logistic, ``b = 1[z > 0]``, relaxed value
``sigmoid(z / τ)`` (binary Concrete).

REBAR, RELAX and Gumbel-Rao also need ``z`` drawn *given* the outcome ``b``: :meth:`Concrete.perturb_given`
and :meth:`BinaryConcrete.perturb_given` sample ``p(z | b)`` by inverting the truncated noise's CDF
(Maddison et al. 2014, "A* sampling"; Tucker et al. 2017, appendix). Drawing ``b ~ p`` and then
``z ~ p(z | b)`` gives ``z`` with the unconditional law, and the outcome of ``z`` is ``b`` on every draw:
the computation keeps the winning coordinate strictly above the others in floating point, rather than
only in exact arithmetic.
"""

from __future__ import annotations

import torch
import torch.distributions as D
import torch.nn.functional as F
from torch.distributions.utils import clamp_probs


def _uniform(shape, like: torch.Tensor) -> torch.Tensor:
    """Uniform noise in ``[eps, 1 - eps]``, so that its logarithms and those of ``1 - u`` are finite."""
    return clamp_probs(torch.rand(shape, dtype=like.dtype, device=like.device))


class Concrete:
    """Gumbel-max view of a categorical variable with ``logits`` of shape ``batch_shape + (K,)``.

    Approximates: a one-hot categorical outcome by the Concrete (Gumbel-softmax) value ``softmax(z / τ)``.
    With: perturbed logits ``z = logits + G`` (:meth:`perturb`), or ``z ~ p(z | outcome)``
    (:meth:`perturb_given`); :meth:`outcome` is ``one_hot(argmax z)``, :meth:`relax` the relaxed value.
    Requires: finite logits (``-inf`` marks an impossible class). Outcomes are one-hot vectors of shape
    ``sample_shape + batch_shape + (K,)`` in the logits' dtype, as ``OneHotCategorical`` draws them.
    Bias: none in the sampling: outcomes have exactly the categorical law, conditional perturbations
    exactly the conditional law. The relaxed value is not an outcome: a cost evaluated at it differs
    from the cost at the outcome, less so at lower temperatures.
    Paper: Maddison, Mnih & Teh 2017; Jang, Gu & Poole 2017; Tucker et al. 2017 (conditional sampling).
    """

    def __init__(self, logits: torch.Tensor):
        self.logits = logits

    @property
    def probs(self) -> torch.Tensor:
        """``softmax(logits)``: the mean of the one-hot outcome."""
        return self.logits.softmax(-1)

    def perturb(self, sample_shape=torch.Size()) -> torch.Tensor:
        """``z = logits + G``: shape ``sample_shape + logits.shape``, differentiable in the logits."""
        shape = torch.Size(sample_shape) + self.logits.shape
        return self.logits - (-_uniform(shape, self.logits).log()).log()

    def perturb_given(self, outcome: torch.Tensor) -> torch.Tensor:
        """``z ~ p(z | outcome(z) = outcome)`` for a one-hot ``outcome`` (shape ``sample_shape + logits.shape``).

        The maximum ``z_b`` is Gumbel with location ``logsumexp(logits)``; every other ``z_i`` is
        Gumbel(``logits_i``) truncated below ``z_b``: ``z_i = z_b - softplus(log E_i - (logits_i - z_b))``
        with ``E_i ~ Exp(1)``. Differentiable in the logits (reparameterised given ``outcome``).
        """
        log_exp = (-_uniform(outcome.shape, self.logits).log()).log()  # log E, E ~ Exp(1)
        top = self.logits.logsumexp(-1, keepdim=True) - log_exp
        top = (top * outcome).sum(-1, keepdim=True)
        below = top - F.softplus(log_exp - (self.logits - top))
        # softplus > 0, but z_b + (tiny negative) can round back to z_b: keep the others strictly below.
        below = torch.minimum(below, torch.nextafter(top, torch.full_like(top, -torch.inf)))
        return torch.where(outcome.bool(), top, below)

    def outcome(self, z: torch.Tensor) -> torch.Tensor:
        """``one_hot(argmax z)``, in ``z``'s dtype."""
        return F.one_hot(z.argmax(-1), z.shape[-1]).to(z.dtype)

    def relax(self, z: torch.Tensor, temperature) -> torch.Tensor:
        """``softmax(z / temperature)``: a point of the simplex (the last dim sums to one)."""
        return (z / temperature).softmax(-1)

    def unrelax(self, mean: torch.Tensor) -> torch.Tensor:
        """Logits whose ``relax(·, 1)`` is ``mean`` (``log mean``): the inverse of ``relax`` at temperature one."""
        return mean.log()


class BinaryConcrete:
    """Gumbel-max (logistic) view of a binary variable with ``logits`` of shape ``batch_shape``.

    Approximates: a Bernoulli outcome by the binary Concrete value ``sigmoid(z / τ)``.
    With: perturbed logits ``z = logits + L``, ``L`` standard logistic (:meth:`perturb`), or
    ``z ~ p(z | outcome)`` (:meth:`perturb_given`); :meth:`outcome` is ``1[z > 0]``.
    Requires: finite logits. Outcomes are ``0.`` or ``1.`` of shape ``sample_shape + batch_shape`` in the
    logits' dtype, as ``Bernoulli`` draws them.
    Bias: none in the sampling (as :class:`Concrete`); the relaxed value differs from the outcome, less
    so at lower temperatures.
    Paper: Maddison, Mnih & Teh 2017; Tucker et al. 2017 (conditional sampling).
    """

    def __init__(self, logits: torch.Tensor):
        self.logits = logits

    @property
    def probs(self) -> torch.Tensor:
        """``sigmoid(logits)``: the mean of the outcome."""
        return self.logits.sigmoid()

    def perturb(self, sample_shape=torch.Size()) -> torch.Tensor:
        """``z = logits + L``, ``L`` standard logistic: shape ``sample_shape + logits.shape``."""
        u = _uniform(torch.Size(sample_shape) + self.logits.shape, self.logits)
        return self.logits + u.log() - (-u).log1p()

    def perturb_given(self, outcome: torch.Tensor) -> torch.Tensor:
        """``z ~ p(z | outcome(z) = outcome)`` for ``outcome`` in {0, 1} (shape ``sample_shape + logits.shape``).

        With ``v ~ U(0, 1)``: ``z = softplus(logits + log v) - log(1 - v) > 0`` given 1 and
        ``z = -softplus(log(1 - v) - log v - log sigmoid(logits)) < 0`` given 0 (the logistic noise
        truncated to either side of ``-logits``, written so that the sign holds in floating point).
        """
        v = _uniform(outcome.shape, self.logits)
        log_v, log_1mv = v.log(), (-v).log1p()
        above = F.softplus(self.logits + log_v) - log_1mv
        below = -F.softplus(log_1mv - log_v - F.logsigmoid(self.logits))
        return torch.where(outcome.bool(), above, below)

    def outcome(self, z: torch.Tensor) -> torch.Tensor:
        """``1[z > 0]``, in ``z``'s dtype."""
        return (z > 0).to(z.dtype)

    def relax(self, z: torch.Tensor, temperature) -> torch.Tensor:
        """``sigmoid(z / temperature)``, in ``(0, 1)``."""
        return (z / temperature).sigmoid()

    def unrelax(self, mean: torch.Tensor) -> torch.Tensor:
        """``logit(mean)``: the inverse of ``relax`` at temperature one."""
        return mean.log() - (-mean).log1p()


def offset(z: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``z - logits``, and zero where a logit is infinite (an impossible or certain outcome).

    There ``z`` is the same infinity, and ``inf - inf`` would be NaN; adding the offset back to the
    logits gives ``z`` again either way.
    """
    return torch.where(torch.isinf(logits), torch.zeros_like(z), z - logits)


def concrete(dist: D.Distribution) -> Concrete | BinaryConcrete | None:
    """The Gumbel-max view of ``dist``, or ``None`` if it has none.

    ``Bernoulli`` gives a :class:`BinaryConcrete`; ``Categorical`` and ``OneHotCategorical`` give a
    :class:`Concrete` (whose outcomes are one-hot, also for ``Categorical``); ``Independent`` of these
    gives the view of its base distribution (its event dims are kept as they are).
    """
    while isinstance(dist, D.Independent):
        dist = dist.base_dist
    if isinstance(dist, D.Bernoulli):
        return BinaryConcrete(dist.logits)
    if isinstance(dist, (D.Categorical, D.OneHotCategorical)):
        return Concrete(dist.logits)
    return None
