"""VIMCO: a per-draw baseline for multi-sample objectives such as the IWAE bound."""

from __future__ import annotations

import math
from typing import Callable

import torch

from scgrad import distributed
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

    Across processes: with ``group`` (a ``torch.distributed`` process group, or
    ``scgrad.distributed.WORLD`` for the default one), the ``N`` ranks' draws for the same data points form one
    set of ``N * K``: the log-weights of every rank are all-gathered (after a check that they have the same
    shape on every rank; a mismatch raises on every rank), and draw ``k``'s baseline is the bound over all
    ``N * K`` draws with ``log w_k`` replaced by the mean of the other ``N * K − 1``, on this rank's scale
    (``K`` per data point). The cost should then be that bound over all ranks' draws too: compute it from
    ``scgrad.distributed.gather(log_weights(z), 0, group)``, which lets the gradient flow through this
    rank's draws only, so the *sum* of the ranks' gradients is one process's gradient on the ``N * K`` draws
    (with DDP, which averages, backpropagate ``world_size * loss``; see :mod:`scgrad.distributed`).
    ``num_samples=1`` per rank is enough when ``N >= 2``. ``None`` (default): no communication.

    Paper: Mnih & Rezende 2016, "Variational inference for Monte Carlo objectives" (ICML).

    Args:
        log_weights: maps the node's value (shape ``(K, *batch, *event)``) to its per-draw log-weights; they
            are detached.
        group: ``None``, ``scgrad.distributed.WORLD`` or a ``torch.distributed.ProcessGroup``.
    """

    def __init__(self, log_weights: Callable[[torch.Tensor], torch.Tensor], group=None):
        super().__init__(group)
        if not callable(log_weights):
            raise ScgradError(
                f"VIMCO(log_weights) takes a function from the node's value to its per-draw log-weights; got "
                f"{type(log_weights).__name__}. Pass e.g. lambda z: log_joint(x, z) - q.log_prob(z)."
            )
        self.log_weights = log_weights

    def forward(self, node, downstream) -> Prediction:
        count = node.num_samples
        group = self._process_group(node)
        if count is None or (count < 2 and group is None):
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
        every, first, total = log_w, 0, count
        if group is not None:
            every = torch.cat(distributed.all_gather(
                log_w, group, f"VIMCO on node {node.name!r}: the log-weights",
                "Draw the same num_samples for the same batch on every rank; drop or pad an uneven last batch.",
            ), axis)
            first, total = distributed.rank(group) * count, count * distributed.size(group)
            if total < 2:
                raise ScgradError(
                    f"VIMCO on node {node.name!r} needs several draws, but its process group holds {total} in all; "
                    f"pass num_samples >= 2 to scgrad.sample."
                )
        # row k: the log-weights of all `total` draws, with this rank's draw k (at first + k) replaced
        others = (every.sum(axis, keepdim=True) - log_w) / (total - 1)
        eye = torch.arange(total, device=log_w.device) == first + torch.arange(count, device=log_w.device).unsqueeze(1)
        eye = eye.view((1,) * axis + (count, total) + (1,) * (log_w.dim() - axis - 1))
        replaced = torch.where(eye, others.unsqueeze(axis + 1), every.unsqueeze(axis))
        bound = torch.logsumexp(replaced, dim=axis + 1) - math.log(total)
        return Prediction(-bound * count)
