"""Relaxations of discrete nodes: Gumbel-softmax / Concrete, and straight-through.

Shapes: a ``Bernoulli`` node's value has the sample's shape. A ``Categorical`` or ``OneHotCategorical``
node's value is a vector on (or, straight through, at a vertex of) the simplex: for
``OneHotCategorical`` that is the sample's shape, ``sample_shape + batch_shape + (K,)``; for
``Categorical``, whose samples are indices, the value has the same extra trailing dim of size ``K``
instead of an index. ``Independent`` of these keeps its event dims.
"""

from __future__ import annotations

import torch

from scgrad.core.graph import Node
from scgrad.distributions.concrete import BinaryConcrete, Concrete, concrete
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts
from scgrad.estimators.temperature import as_temperature


class Relaxation(Estimator):
    """Base of the estimators that pass a pathwise gradient through a relaxed or straight-through value.

    They serve ``Bernoulli``, ``Categorical`` and ``OneHotCategorical`` nodes (and ``Independent`` of
    them), add no surrogate term (:meth:`parts` is empty: the gradient flows through the value) and are
    all biased for the expected cost at discrete values. A subclass's :meth:`draw` returns its value through
    :meth:`drawn`; a value given by ``scgrad.substitute`` instead, which carries no gradient, is refused.
    """

    pathwise = True
    biased = True

    def check(self, name, dist):
        if concrete(dist) is None:
            raise ScgradError(
                f"node {name!r}: {type(self).__name__} relaxes Bernoulli, Categorical and OneHotCategorical "
                f"distributions (or Independent of them); got {type(dist).__name__}. Use Reparam() for a "
                f"reparameterisable distribution, ScoreFunction() or Enumerate() for another discrete one."
            )

    def view(self, node: Node) -> Concrete | BinaryConcrete:
        """The node's Gumbel-max view (see :func:`scgrad.distributions.concrete`)."""
        return concrete(node.dist)

    @staticmethod
    def drawn(node: Node, value: torch.Tensor) -> torch.Tensor:
        """``value``, noted as drawn by this estimator (subclasses' :meth:`draw` return through it)."""
        node.state["relaxed"] = True
        return value

    def parts(self, node, downstream):
        if "relaxed" not in node.state:
            raise ScgradError(
                f"node {node.name!r}: {type(self).__name__} passes the gradient through the value it draws, but "
                f"this node's value of shape {tuple(node.value.shape)} was given instead (scgrad.substitute), and "
                f"carries no gradient to the node's parameters. Let {type(self).__name__} draw the node, or give it "
                f"an estimator that takes a given value, such as ScoreFunction()."
            )
        return Parts()

    def present(self, dist, outcome):
        """A ``Categorical`` outcome (an index) as the one-hot vector the program receives; others as they are."""
        base = dist
        while isinstance(base, torch.distributions.Independent):
            base = base.base_dist
        if isinstance(base, torch.distributions.Categorical):
            return torch.nn.functional.one_hot(outcome.long(), base.logits.shape[-1]).to(base.logits.dtype)
        return outcome


class GumbelSoftmax(Relaxation):
    """Pathwise gradient through a Gumbel-softmax (Concrete) relaxation of a discrete node.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]``.
    With: ``d/dθ f(y)`` at ``y = softmax((θ + G) / τ)`` (``G`` iid Gumbel), or ``sigmoid((θ + L) / τ)``
    (``L`` logistic) for a ``Bernoulli``; i.e. the exact pathwise gradient of the *relaxed* objective
    ``E[f(y)]``. With ``hard=True`` (straight-through Gumbel-softmax), ``f`` is evaluated at the discrete
    ``b = argmax(θ + G)`` and differentiated at ``y`` (``b + y - stopgrad(y)``).
    Requires: ``f`` defined and differentiable at relaxed values (vectors on the simplex, or numbers in
    ``(0, 1)``), unless ``hard=True``. Value shape: for ``Categorical`` the value is a vector on the
    simplex with an extra trailing dim of size ``K`` (``sample_shape + batch_shape + (K,)``), not an
    index; for ``OneHotCategorical`` and ``Bernoulli``, the sample's shape.
    Bias: biased for ``d/dθ E[f(b)]``, even for linear ``f`` (``E[y]`` is not ``p_θ``). As the temperature
    goes to zero the relaxed value tends to ``b`` and the bias of the soft gradient vanishes (for ``f``
    smooth around the vertices), while its variance grows (the Jacobian scales like ``1/τ``); at high
    temperatures the variance is low and the bias large. ``hard=True`` is biased at every
    temperature (``f`` is evaluated at ``b`` but differentiated at ``y``); lowering the temperature
    raises its variance and need not lower its bias (Paulus et al. 2021). A learnable temperature follows the gradient of
    the relaxed objective, which does not target bias or variance.
    Paper: Maddison, Mnih & Teh 2017 (Concrete); Jang, Gu & Poole 2017 (Gumbel-softmax, ST Gumbel).

    Args:
        temperature: a positive float (fixed), or an :class:`scgrad.Temperature` (learnable, or annealed
            with :class:`scgrad.ExponentialAnnealing`).
        hard: straight-through Gumbel-softmax: the discrete value forward, the relaxed gradient backward.
    """

    def __init__(self, temperature=1.0, hard: bool = False):
        super().__init__()
        self.temperature = as_temperature(temperature, "GumbelSoftmax")
        self.hard = hard

    def draw(self, node: Node, layout):
        view = self.view(node)
        z = view.perturb(node.sample_shape)
        relaxed = view.relax(z, self.temperature())
        if not self.hard:
            return self.drawn(node, relaxed)
        return self.drawn(node, view.outcome(z) + (relaxed - relaxed.detach()))


class StraightThrough(Relaxation):
    """Straight-through: the discrete sample forward, the gradient of its mean backward.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]``.
    With: ``(∂f/∂b)(b) · d/dθ E[b]``: the value is ``b + p - stopgrad(p)`` with ``p = E[b]`` (the
    probability of one for a ``Bernoulli``, the vector of probabilities for a categorical).
    Requires: ``f`` differentiable at the discrete values (extended to the reals / the simplex). Value
    shape: for ``Categorical`` the value is the one-hot vector of the sample (an extra trailing dim of
    size ``K``), not an index; for ``OneHotCategorical`` and ``Bernoulli``, the sample's shape.
    Bias: none for ``f`` linear in ``b`` (the estimate is then exact, with zero variance); otherwise
    biased, a first-order approximation (Liu et al. 2023) whose bias grows with the curvature of ``f``
    between the discrete values. There is no temperature. Low variance.
    Paper: Bengio, Léonard & Courville 2013.
    """

    def draw(self, node: Node, layout):
        view = self.view(node)
        mean = view.probs
        return self.drawn(node, view.outcome(view.perturb(node.sample_shape)) + (mean - mean.detach()))
