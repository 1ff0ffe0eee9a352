"""How a later node of a hierarchy is re-drawn when an estimator evaluates the cost at another value of an
earlier node: the rules the re-evaluating estimators hand :meth:`Downstream.evaluate`.

A node ``m`` drawn after node ``n`` from a distribution that depends on ``n`` must follow ``n``'s
substituted value, or the evaluated cost is not the cost at that value. Each rule keeps ``m``'s own
noise (common random numbers), reconstructed from its drawn outcome: for a Bernoulli or categorical
node the Gumbel/logistic perturbation drawn given the outcome (``perturb_given``, which gives the noise
its unconditional law, independent of ``n``); for a ``Normal`` node ``(x - loc) / scale``. The noise is
drawn once per node and build and shared by every evaluation, so that the evaluations differ only by
the substituted value.

- :func:`same_noise` (MeasureValued, IndeCateR): ``m``'s outcome under the new distribution with the same
  noise: a draw from ``m``'s conditional given the substituted value. A distribution without such a
  form is drawn afresh (still unbiased, more variance).
- :func:`relaxed` (REBAR): the relaxed value ``sigmoid/softmax((logits + noise) / temperature)``, continuous
  in the substituted value, as REBAR's relaxed pass through every layer; a continuous node with the same
  noise (``rsample`` afresh where there is no such form).
- :func:`mean_field` (MuProp): ``m``'s mean under the new distribution, MuProp's deterministic pass.
"""

from __future__ import annotations

import torch
import torch.distributions as D
import torch.nn.functional as F

from scgrad.core.graph import Node
from scgrad.distributions.concrete import concrete, offset
from scgrad.errors import ScgradError
from scgrad.distributions.base import base_distribution


def _as_outcome(dist, value: torch.Tensor, view) -> torch.Tensor:
    """A drawn value in the Gumbel-max view's form: one-hot for a categorical index."""
    if isinstance(base_distribution(dist)[0], D.Categorical):
        return F.one_hot(value.long(), view.logits.shape[-1]).to(view.logits.dtype)
    return value.to(view.logits.dtype)


def _noise(original: Node) -> tuple[str, torch.Tensor]:
    """``("gumbel", perturbation)`` or ``("normal", standardised value)`` behind ``original``'s draw, or
    ``("none", None)``; drawn once per node and build (kept in ``original.state``)."""
    if "redraw_noise" not in original.state:
        view = concrete(original.dist)
        base, _ = base_distribution(original.dist)
        if view is not None:
            z = view.perturb_given(_as_outcome(original.dist, original.value, view))
            found = ("gumbel", offset(z, view.logits).detach())
        elif isinstance(base, D.Normal):
            found = ("normal", ((original.value - base.loc) / base.scale).detach())
        else:
            found = ("none", None)
        original.state["redraw_noise"] = found
    return original.state["redraw_noise"]


def _categorical_index(dist) -> bool:
    return isinstance(base_distribution(dist)[0], D.Categorical)


def same_noise(original: Node, dist: D.Distribution) -> torch.Tensor:
    """``original``'s outcome under ``dist`` with its own noise held (a conditional draw with common noise)."""
    kind, noise = _noise(original)
    if kind == "gumbel":
        view = concrete(dist)
        outcome = view.outcome(view.logits + noise)
        return outcome.argmax(-1) if _categorical_index(dist) else outcome
    if kind == "normal":
        base, _ = base_distribution(dist)
        return base.loc + base.scale * noise
    return dist.sample(original.sample_shape)


def relaxed(temperature):
    """REBAR's rule: a later discrete node's relaxed value at ``temperature`` with its noise held."""

    def rule(original: Node, dist: D.Distribution) -> torch.Tensor:
        kind, noise = _noise(original)
        if kind == "gumbel":
            if _categorical_index(dist):
                raise ScgradError(
                    f"node {original.name!r}: REBAR passes relaxed values through the nodes drawn after the node it "
                    f"serves, and this Categorical node's program takes an index, which a relaxed value cannot be. Use "
                    f"OneHotCategorical for {original.name!r}, or another estimator (RELAX, ScoreFunction) upstream."
                )
            view = concrete(dist)
            return view.relax(view.logits + noise, temperature)
        if kind == "normal":
            base, _ = base_distribution(dist)
            return base.loc + base.scale * noise
        if dist.has_rsample:
            return dist.rsample(original.sample_shape)
        raise ScgradError(
            f"node {original.name!r}: REBAR needs the nodes drawn after the node it serves to be relaxed or "
            f"reparameterised, and {type(dist).__name__} is neither. Use RELAX or ScoreFunction upstream of it."
        )

    return rule


def mean_field(original: Node, dist: D.Distribution) -> torch.Tensor:
    """MuProp's rule: a later node's mean under its new distribution."""
    if _categorical_index(dist):
        raise ScgradError(
            f"node {original.name!r}: MuProp passes means through the nodes drawn after the node it serves, and this "
            f"Categorical node's program takes an index, which has no mean. Use OneHotCategorical for "
            f"{original.name!r}, or another estimator upstream."
        )
    return dist.mean.expand(original.value.shape)
