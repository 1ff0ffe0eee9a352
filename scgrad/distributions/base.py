"""The distribution under ``Independent`` wrappers: what the estimators of one family of nodes look at."""

from __future__ import annotations

import torch.distributions as D


def base_distribution(dist: D.Distribution) -> tuple[D.Distribution, int]:
    """The distribution under any ``Independent`` wrappers, and how many batch dims they made events."""
    rank = 0
    while isinstance(dist, D.Independent):
        rank += dist.reinterpreted_batch_ndims
        dist = dist.base_dist
    return dist, rank
