"""Gumbel-Rao: straight-through Gumbel-softmax, Rao-Blackwellised over the Gumbel noise."""

from __future__ import annotations

from scgrad.core.graph import Node
from scgrad.distributions.concrete import offset
from scgrad.errors import ScgradError
from scgrad.estimators.relaxed import Relaxation
from scgrad.estimators.temperature import as_temperature


class GumbelRao(Relaxation):
    """Gumbel-Rao Monte Carlo: straight-through Gumbel-softmax averaged over noise given the sample.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]``.
    With: the discrete sample ``b`` forward and, backward, ``∂f/∂b`` times the Jacobian in ``θ`` of
    ``(1/k) Σ_j softmax((θ + G_j) / τ)``, the noise ``G_j = z_j - θ`` held fixed, with ``z_j ~ p(z | b)``
    drawn by conditional Gumbel sampling (:meth:`scgrad.distributions.Concrete.perturb_given`); sigmoids
    for a ``Bernoulli``. The value is ``b + y - stopgrad(y)`` with ``y`` that average.
    Requires: ``f`` differentiable at the discrete values. Value shape: for ``Categorical`` the one-hot
    vector of the sample (an extra trailing dim of size ``K``); for ``OneHotCategorical`` and
    ``Bernoulli``, the sample's shape.
    Bias: exactly the bias of straight-through Gumbel-softmax (``GumbelSoftmax(hard=True)``) at the same
    temperature, whose conditional expectation given ``b`` it estimates: biased at every temperature.
    Its variance is never above ST Gumbel-softmax's and falls with ``k`` (towards the variance due to
    ``b`` alone); the reduction matters most at low temperatures, where ST Gumbel-softmax's variance
    is large.
    Paper: Paulus, Maddison & Krause 2021, "Rao-Blackwellizing the straight-through Gumbel-softmax
    gradient estimator".

    Args:
        k: conditional noise samples per draw.
        temperature: a positive float or an :class:`scgrad.Temperature`.
    """

    def __init__(self, k: int = 10, temperature=1.0):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ScgradError(f"GumbelRao: k must be a positive int; got {k!r}.")
        self.k = k
        self.temperature = as_temperature(temperature, "GumbelRao")

    def draw(self, node: Node, layout):
        view = self.view(node)
        b = view.outcome(view.perturb(node.sample_shape))
        noise = offset(view.perturb_given(b.expand((self.k,) + b.shape)), view.logits).detach()
        relaxed = view.relax(view.logits + noise, self.temperature()).mean(0)
        return self.drawn(node, b + (relaxed - relaxed.detach()))
