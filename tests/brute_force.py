"""Ground truth written independently of scgrad: a program's expected cost summed over every joint outcome.

A program is written once as ``model(draw, cost, ...)``; under scgrad, ``draw`` is ``scgrad.sample`` and
``cost`` is ``scgrad.cost``. Here the program is run once per joint outcome of every element (draws
included) of its finite nodes, met in the order the program draws them, each run weighted by plain
``torch.distributions`` log-probabilities. Nothing of scgrad is used.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.distributions as D
import torch.nn.functional as F


def joint_outcomes(dist, num_samples=None):
    """Every joint value of a finite node: each element (draws included) takes each support value."""
    base = dist
    while isinstance(base, D.Independent):
        base = base.base_dist
    support = base.enumerate_support(expand=False)  # (K,) + (1,) * batch + event
    k = support.shape[0]
    atoms = support.reshape((k,) + tuple(base.event_shape))
    shape = ((num_samples,) if num_samples is not None else ()) + tuple(base.batch_shape)
    for combo in itertools.product(range(k), repeat=math.prod(shape)):
        yield atoms[list(combo)].reshape(shape + tuple(base.event_shape))


class _Branch(Exception):
    def __init__(self, dist, num_samples):
        super().__init__()
        self.dist, self.num_samples = dist, num_samples


def brute_force(model, *args, **kwargs):
    """``E[sum_c cost_c.mean()]`` of ``model(draw, cost, *args, **kwargs)``, summed over every joint outcome.

    ``draw(name, dist, num_samples=None, one_hot=False)`` stands for ``scgrad.sample`` and ``cost(name, tensor)``
    for ``scgrad.cost``; the result is differentiable in the distributions' parameters."""

    def run(prefix):
        chosen, log_probs, total = iter(prefix), [], []

        def draw(name, dist, num_samples=None, one_hot=False):
            try:
                value = next(chosen)
            except StopIteration:
                raise _Branch(dist, num_samples) from None
            log_probs.append(dist.log_prob(value).sum())
            if one_hot:  # what a relaxation estimator hands the program: a one-hot vector of size K
                return F.one_hot(value.long(), dist.logits.shape[-1]).to(dist.logits.dtype)
            return value

        def cost(name, tensor):
            total.append(tensor.mean())

        model(draw, cost, *args, **kwargs)
        weight = torch.stack(log_probs).sum().exp() if log_probs else 1.0
        return weight * torch.stack(total).sum()

    def explore(prefix):
        try:
            return run(prefix)
        except _Branch as branch:
            return sum(explore(prefix + [v]) for v in joint_outcomes(branch.dist, branch.num_samples))

    return explore([])
