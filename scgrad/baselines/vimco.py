"""VIMCO: a per-draw baseline for multi-sample objectives such as the IWAE bound."""

from __future__ import annotations

import math
from typing import Callable

import torch

from scgrad.baselines.base import Baseline, Prediction
from scgrad.errors import ScgradError


class VIMCO(Baseline):
    """Baseline for draw ``k``: the bound with draw ``k``'s log-weight replaced by the mean of the others'.

    For a cost that combines the ``K`` draws of a node into one value per data point,
    ``c = −log (1/K) Σ_j exp(log w_j)`` (the negative IWAE bound, e.g.
    ``-(torch.logsumexp(log_w, 0, keepdim=True) - math.log(K))``), every draw's downstream cost is the same
    ``c``, and the score function alone gives each draw the whole bound as its learning signal. VIMCO's baseline
    for draw ``k`` is ``c_{−k}``: ``c`` with ``log w_k`` replaced by the mean of the other ``K − 1`` log-weights,
    so the signal becomes ``c − c_{−k}``, draw ``k``'s own contribution. It depends on the other draws only, so
    the estimator stays unbiased whatever the costs; it reduces variance when the node's downstream cost is
    the bound of shape ``(1, *batch)``, one value per data point (the scale the prediction is given on).

    The per-draw log-weights are a function of the node's value, which the baseline calls once the program
    has run (they exist only after the draw): build the baseline inside the program, where the function can
    close over the data and the proposal::

        def iwae(x):
            q = D.Independent(D.Bernoulli(logits=encoder(x)), 1)
            log_weights = lambda z: model_log_joint(x, z) - q.log_prob(z)          # [K, B]
            z = scgrad.sample("z", q, scgrad.ScoreFunction(scgrad.VIMCO(log_weights)), num_samples=K)
            scgrad.cost("iwae", -(torch.logsumexp(log_weights(z), 0, keepdim=True) - math.log(K)))

    Stateless. Requires ``num_samples >= 2``; the log-weights must have the node's log-prob shape
    (``(K, *batch)``).

    Paper: Mnih & Rezende 2016, "Variational inference for Monte Carlo objectives" (ICML).

    Args:
        log_weights: maps the node's value (shape ``(K, *batch, *event)``) to its per-draw log-weights; they
            are detached.
    """

    def __init__(self, log_weights: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        if not callable(log_weights):
            raise ScgradError(
                f"VIMCO(log_weights) takes a function from the node's value to its per-draw log-weights; got "
                f"{type(log_weights).__name__}. Pass e.g. lambda z: log_joint(x, z) - q.log_prob(z)."
            )
        self.log_weights = log_weights

    def forward(self, node, downstream) -> Prediction:
        count = node.num_samples
        if count is None or count < 2:
            raise ScgradError(
                f"VIMCO on node {node.name!r} needs several draws, but the node was drawn with "
                f"num_samples={count}; pass num_samples >= 2 to scgrad.sample."
            )
        shape = downstream.cost.shape
        log_w = self.log_weights(node.value)
        if not isinstance(log_w, torch.Tensor) or log_w.shape != shape:
            got = tuple(log_w.shape) if isinstance(log_w, torch.Tensor) else type(log_w).__name__
            raise ScgradError(
                f"VIMCO on node {node.name!r}: log_weights returned shape {got}, but the node's log-prob has shape "
                f"{tuple(shape)}; return one log-weight per draw and data point (sum any event dims)."
            )
        log_w = log_w.detach().to(downstream.cost.dtype)
        axis = log_w.dim() + node.sample_dim
        others = (log_w.sum(axis, keepdim=True) - log_w) / (count - 1)
        eye = torch.eye(count, dtype=torch.bool, device=log_w.device).view((count, count) + (1,) * (log_w.dim() - axis - 1))
        eye = eye.view((1,) * axis + tuple(eye.shape))
        replaced = torch.where(eye, others.unsqueeze(axis + 1), log_w.unsqueeze(axis))
        bound = torch.logsumexp(replaced, dim=axis + 1) - math.log(count)
        return Prediction(-bound * count)
