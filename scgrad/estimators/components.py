"""A node seen component by component: its base distribution, its downstream cost with one component
replaced at a time (what MeasureValued and IndeCateR evaluate, on the base they share), and the refusal
shared by estimators that read the downstream cost as their learning signal (ARM, DisARM, UnorderedSet
too)."""

from __future__ import annotations

import itertools

import torch
import torch.distributions as D

from scgrad.core.graph import Node
from scgrad.core.protocol import Downstream, Estimator
from scgrad.distributions.base import base_distribution
from scgrad.errors import ScgradError
from scgrad.estimators.redraw import same_noise


def refuse_enumerated_upstream(estimator: str, node: Node, layout) -> None:
    """Refuse a node drawn after an enumerated one: the downstream cost it reads is not weighted
    by the enumerated probabilities, so an extra term built from it would be biased."""
    if layout.enum_dims:
        owners = sorted(set(layout.enum_dims.values()))
        raise ScgradError(
            f"node {node.name!r}: {estimator} reads the downstream cost per element, which does not weight "
            f"the support of enumerated node(s) {owners} by their probabilities. Sample {node.name!r} before "
            f"them, or give them another estimator (e.g. ScoreFunction())."
        )


class ComponentEstimator(Estimator):
    """Base of the estimators that re-evaluate the downstream cost with one component of the node replaced
    at a time (:class:`~scgrad.MeasureValued`, :class:`~scgrad.IndeCateR`): they draw the node plainly,
    refuse a node drawn after an enumerated one, read the downstream cost, and are first order only.

    ``stack_evaluations``: evaluate the alternative values in one re-run, stacked on a new batch dim left
    of every dim in use. Only for a program that counts every dim from the right (reductions, softmaxes,
    indexing and reshapes, as ``Enumerate`` requires): one that counts a dim from the left would mix the
    values and bias the gradient. A program whose costs come back without the new dim, or that raises, is
    re-run once per value instead.
    """

    first_order_only = True

    def __init__(self, stack_evaluations: bool = False):
        super().__init__()
        self.stack_evaluations = stack_evaluations

    needs_downstream = True

    def draw(self, node: Node, layout):
        refuse_enumerated_upstream(type(self).__name__, node, layout)
        return super().draw(node, layout)


def component_shape(node: Node) -> torch.Size:
    """The shape of the node's scalar components: ``sample_shape + batch_shape + event dims of Independent``."""
    base, _ = base_distribution(node.dist)
    return node.value.shape[: node.value.dim() - len(base.event_shape)]


def drawn_cost(node: Node, downstream: Downstream) -> torch.Tensor:
    """The detached downstream cost of each component at the drawn value (:func:`component_shape`)."""
    shape = downstream.cost.shape
    extra = len(component_shape(node)) - len(shape)
    return downstream.cost.detach().reshape(tuple(shape) + (1,) * extra).expand(component_shape(node))


def costs_at(estimator, node: Node, downstream: Downstream, alternatives: list[torch.Tensor]) -> list[torch.Tensor]:
    """For each alternative value: the detached downstream cost of every component with that component alone
    replaced by the alternative's entry (every other component and node held at its drawn value).

    Returns tensors of :func:`component_shape`, on the scale of ``downstream.cost``. Components whose elements
    share no downstream cost (``downstream.independent_dims``) are replaced together, so the program is re-run
    ``len(alternatives)`` times per component that shares a cost (``len(alternatives)`` times in all when every
    element of the log-prob has a cost of its own and the node has no event dims), or once per such component
    with ``estimator.stack_evaluations`` (all alternatives stacked in one run; see ``Downstream.evaluate_many``).
    ``estimator`` is the estimator asking, named in errors.
    """
    name = type(estimator).__name__
    if downstream.evaluate_many is None:
        raise ScgradError(
            f"node {node.name!r}: {name} re-runs the program to evaluate its costs at other values, but the "
            f"program is not known here; build the objective with scgrad.surrogate(program, *args)."
        )
    shape = node.log_prob.shape
    components = component_shape(node)
    event_rank = node.value.dim() - len(components)
    for alternative in alternatives:
        if alternative.shape != node.value.shape:
            raise ScgradError(
                f"node {node.name!r}: {name} built an alternative value of shape {tuple(alternative.shape)} "
                f"for a value of shape {tuple(node.value.shape)}."
            )
    shared = [len(shape) + d for d in range(-len(shape), 0) if shape[d] > 1 and d not in downstream.independent_dims]
    loop_axes = shared + list(range(len(shape), len(components)))
    results = [drawn_cost(node, downstream) for _ in alternatives]
    for index in itertools.product(*(range(components[axis]) for axis in loop_axes)):
        mask = torch.ones(components, dtype=torch.bool, device=node.value.device)
        for axis, position in zip(loop_axes, index):
            view = [1] * len(components)
            view[axis] = components[axis]
            mask = mask & (torch.arange(components[axis], device=mask.device) == position).view(view)
        value_mask = mask.reshape(tuple(components) + (1,) * event_rank)
        values = [torch.where(value_mask, alternative, node.value) for alternative in alternatives]
        costs = downstream.evaluate_many(values, stacked=estimator.stack_evaluations, redraw=same_noise)
        for slot, evaluation in enumerate(costs):
            cost = evaluation.cost.detach().reshape(tuple(shape) + (1,) * (len(components) - len(shape)))
            results[slot] = torch.where(mask, cost, results[slot])
    return results



def outcome_costs(estimator, node: Node, downstream: Downstream) -> tuple[torch.Tensor, torch.Tensor]:
    """For a node of Bernoulli, Categorical or OneHotCategorical components: ``(costs, probs)``, where
    ``costs[..., k]`` is the detached downstream cost of each component with that component set to outcome
    ``k`` (:func:`costs_at`, ``K - 1`` alternatives) and ``probs[..., k]`` its probability, not detached.

    ``costs`` has shape ``component_shape(node) + (K,)``; ``probs`` broadcasts against it.
    """
    base, _ = base_distribution(node.dist)
    value, drawn = node.value, drawn_cost(node, downstream)
    if isinstance(base, D.Bernoulli):
        (flipped,) = costs_at(estimator, node, downstream, [1 - value])
        one = value > 0
        costs = torch.stack([torch.where(one, flipped, drawn), torch.where(one, drawn, flipped)], dim=-1)
        return costs, torch.stack([1 - base.probs, base.probs], dim=-1)
    size = base.probs.shape[-1]
    index = value.argmax(-1) if isinstance(base, D.OneHotCategorical) else value
    shifted = [(index + step) % size for step in range(1, size)]
    if isinstance(base, D.OneHotCategorical):
        alternatives = [torch.nn.functional.one_hot(i, size).to(value.dtype) for i in shifted]
    else:
        alternatives = shifted
    costs = torch.zeros(drawn.shape + (size,), dtype=drawn.dtype, device=drawn.device)
    costs.scatter_(-1, index.unsqueeze(-1), drawn.unsqueeze(-1))
    for outcome, cost in zip(shifted, costs_at(estimator, node, downstream, alternatives)):
        costs.scatter_(-1, outcome.unsqueeze(-1), cost.unsqueeze(-1))
    return costs, base.probs
