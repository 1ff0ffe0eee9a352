"""Exact enumeration of a node's finite support."""

from __future__ import annotations

import math

import torch

from scgrad.core.contraction import MAX_INTERMEDIATE
from scgrad.core.graph import Node
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts


MAX_JOINT_SUPPORT = 2**10  # the most outcomes Enumerate lays out for an Independent node


def support_of(dist: torch.distributions.Distribution) -> torch.Tensor | None:
    """Every outcome of ``dist`` once, shape ``(size,) + event_shape``; ``None`` without a finite support.

    ``Independent`` of a distribution with a finite support (which torch cannot enumerate) is
    enumerated jointly: every combination of the base's outcomes over the reinterpreted dims,
    ``K ** n`` of them for ``n`` elements with ``K`` outcomes each (see :func:`joint_size`).
    """
    if dist.has_enumerate_support:
        support = dist.enumerate_support(expand=False)
        return support.reshape((support.shape[0],) + tuple(dist.event_shape))
    if not has_finite_support(dist):
        return None
    base = support_of(dist.base_dist)
    inner = tuple(dist.base_dist.event_shape)
    outer = tuple(dist.event_shape)[: len(dist.event_shape) - len(inner)]
    index = torch.arange(base.shape[0], device=base.device)
    combinations = torch.cartesian_prod(*[index] * math.prod(outer)).reshape(-1, math.prod(outer))
    return base[combinations].reshape((combinations.shape[0],) + outer + inner)


def has_finite_support(dist: torch.distributions.Distribution) -> bool:
    """Whether :func:`support_of` can enumerate ``dist`` (``Independent`` of such a distribution too)."""
    if dist.has_enumerate_support:
        return True
    return isinstance(dist, torch.distributions.Independent) and has_finite_support(dist.base_dist)


def joint_size(dist: torch.distributions.Distribution) -> int:
    """The number of outcomes :func:`support_of` lays out for ``dist`` (which has a finite support)."""
    if dist.has_enumerate_support:
        return dist.enumerate_support(expand=False).shape[0]
    inner = len(dist.base_dist.event_shape)
    outer = tuple(dist.event_shape)[: len(dist.event_shape) - inner]
    return joint_size(dist.base_dist) ** math.prod(outer)


class Enumerate(Estimator):
    """Exact expectation over a finite support, in parallel.

    Approximates: nothing; computes ``E_{z~p_θ}[f(z)] = Σ_z p_θ(z) f(z)`` and its derivatives of every
    order exactly (given the other nodes' samples).
    With: the support laid out on a new batch dimension to the left of every dimension in use (as
    Pyro's parallel enumeration), summed with weights ``p_θ(z)``. With ``num_samples=k`` the ``k``
    draws share that dimension (exact when every cost keeps the sample dim; a cost that combines
    draws is refused), or, with ``each_draw=True``, each draw gets a dimension of its own, so costs
    that combine draws stay exact (``K**k`` combinations).
    Requires: a finite support (``dist.has_enumerate_support``, or ``Independent`` of such a
    distribution, enumerated jointly: see :func:`support_of`); the program must broadcast: the value has shape
    ``(K, 1, ..., 1) + event_shape``, size 1 on the node's batch and sample dims (the same outcome along
    ``K`` for all elements; while ``torch.compile`` traces, expanded to them), and a cost must not
    reduce over those dims (refused: see :mod:`scgrad.core.collapsed`).
    Bias: none.
    Paper: Pyro's TraceEnum_ELBO (Obermeyer et al. 2019, "Tensor variable elimination").

    Args:
        each_draw: give each of the ``num_samples`` draws its own enumeration dimension.
    """

    wants_dependencies = True

    def __init__(self, each_draw: bool = False):
        super().__init__()
        self.each_draw = each_draw

    def check(self, name, dist):
        if not has_finite_support(dist):
            raise ScgradError(
                f"node {name!r}: Enumerate needs a distribution with finite support, and "
                f"{type(dist).__name__} has no enumerate_support(). Use ScoreFunction() or a relaxation."
            )
        if not dist.has_enumerate_support and joint_size(dist) > MAX_JOINT_SUPPORT:
            raise ScgradError(
                f"node {name!r}: {type(dist).__name__} of {type(dist.base_dist).__name__} with event shape "
                f"{tuple(dist.event_shape)} has {joint_size(dist)} joint outcomes, more than the "
                f"{MAX_JOINT_SUPPORT} Enumerate lays out; keep some of those dims as batch dims, or use "
                f"ScoreFunction()."
            )

    def draw(self, node: Node, layout):
        dist = node.dist
        support = support_of(dist)
        size, event = support.shape[0], tuple(dist.event_shape)
        sampled = node.num_samples is not None
        slots = node.num_samples if self._per_draw(node) else 1
        if slots > 1:
            _check_joint_draws(node.name, size, slots, dist)
        node.enum_dims = layout.allocate(node.name, slots, dist.batch_shape, sampled, size)
        placed = [support.reshape((size,) + (1,) * (-dim - 1) + event) for dim in node.enum_dims]
        own = ([node.num_samples] if sampled else []) + list(dist.batch_shape)
        rank = max([len(own)] + [-dim for dim in node.enum_dims])
        shape = [1] * rank  # size 1 on every dim but its own outcomes': the program broadcasts it
        if torch.compiler.is_compiling():  # no provenance to mark reductions with: expanded, so shapes show them
            shape[rank - len(own):] = own
            for dim, owner in layout.enum_dims.items():
                if owner != node.name and rank >= -dim:
                    shape[dim] = 1
        else:
            node.collapsed = tuple((dim, own[dim]) for dim in range(-len(own), 0)
                                   if own[dim] > 1 and not (slots > 1 and dim == node.sample_dim))
        for dim in node.enum_dims:
            shape[dim] = size
        if slots == 1:
            return placed[0].expand(shape + list(event))
        shape[node.sample_dim] = 1
        return torch.cat([p.expand(shape + list(event)) for p in placed], dim=rank + node.sample_dim)

    def _per_draw(self, node: Node) -> bool:
        return self.each_draw and node.num_samples is not None

    def parts(self, node, downstream):
        log_prob = node.log_prob
        if not self._per_draw(node):
            return Parts(enumerated=(log_prob,))
        axis = log_prob.dim() + node.sample_dim
        return Parts(enumerated=tuple(log_prob.narrow(axis, slot, 1) for slot in range(node.num_samples)))


def _check_joint_draws(name: str, size: int, draws: int, dist) -> None:
    """Refuse ``each_draw`` when the value, which holds every joint outcome of the draws, is too large."""
    elements = size**draws * draws * math.prod(dist.batch_shape) * math.prod(dist.event_shape)
    if elements > MAX_INTERMEDIATE:
        raise ScgradError(
            f"node {name!r}: Enumerate(each_draw=True) lays out every joint outcome of its {draws} draws, "
            f"{size}**{draws} of them for batch shape {tuple(dist.batch_shape)}: a value of {elements:,} elements "
            f"(the limit is {MAX_INTERMEDIATE:,}). Draw fewer samples (num_samples), or use Enumerate() (every "
            f"draw the same outcome, the cost averaged over draws) or ScoreFunction()."
        )
