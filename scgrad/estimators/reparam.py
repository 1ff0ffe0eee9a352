"""Pathwise (reparameterisation) gradients."""

from __future__ import annotations

from scgrad.core.graph import Node
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts


class Reparam(Estimator):
    """Pathwise gradient through a reparameterised sample.

    Approximates: ``d/dθ E_{z~p_θ}[f(z)]``.
    With: ``d/dθ f(g_θ(ε))`` for ``z = g_θ(ε)``, ``ε`` independent of θ (``dist.rsample()``).
    Requires: ``dist.has_rsample``; ``f`` differentiable in ``z``.
    Bias: none. Adds no surrogate term: the gradient flows through the value itself.
    Paper: Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014.
    """

    pathwise = True

    def check(self, name, dist):
        if not dist.has_rsample:
            raise ScgradError(
                f"node {name!r}: Reparam needs a reparameterisable distribution, and "
                f"{type(dist).__name__} has no rsample. Use ScoreFunction(), Enumerate() (finite support) "
                f"or a relaxation such as GumbelSoftmax() for discrete variables."
            )

    def draw(self, node: Node, layout):
        return node.dist.rsample(node.sample_shape)

    def parts(self, node, downstream):
        return Parts()
