"""The log-probabilities of many alike nodes in one call: an episode's actions, step after step.

A program that samples one action per step records hundreds of nodes from distributions of the same
type and shape. Computing their log-probabilities one node at a time costs a distribution call each
(and, with torch's argument validation, a support check each); stacking their parameters and values
and calling the distribution once gives the same numbers and gradients for a fraction of the time.
Only distributions whose log-probability is an elementwise function of named parameters are batched:
``Bernoulli``, ``Categorical`` and ``OneHotCategorical`` (from their logits, as their ``log_prob``
reads them) and ``Normal``; the surrogate batches the nodes of ``ScoreFunction`` estimators.
"""

from __future__ import annotations

import torch
import torch.distributions as D

from scgrad.core.graph import Node
from scgrad.core.provenance import strip

_PARAMETERS = {D.Bernoulli: ("logits",), D.Categorical: ("logits",), D.OneHotCategorical: ("logits",), D.Normal: ("loc", "scale")}


def fill_log_probs(nodes: list[Node]) -> None:
    """Compute ``node.log_prob`` for every node of ``nodes`` that has none yet, in batches of alike nodes.

    Alike: the same distribution type (one of the batched ones), parameter shapes, dtypes and devices,
    value shape (exactly the draws' and the distribution's shape: a value that broadcasts further is left
    alone), dtype and device, and the same choice of argument validation. A node alone in its kind, or of
    another kind, is left to compute its own on first use. As node by node, values that are their
    distribution's own samples are not checked against its support.
    """
    if len(nodes) < 2:
        return
    kinds: dict[tuple, list[Node]] = {}
    for node in nodes:
        dist, value = node.dist, node.value
        names = _PARAMETERS.get(type(dist))
        if names is None or node._log_prob is not None or node.enum_dims or not isinstance(value, torch.Tensor):
            continue
        if value.shape != node.sample_shape + dist.batch_shape + dist.event_shape:
            continue
        parameters = tuple((p.shape, p.dtype, p.device) for p in (getattr(dist, name) for name in names))
        key = (type(dist), parameters, value.shape, node.num_samples, value.dtype, value.device, dist._validate_args)
        kinds.setdefault(key, []).append(node)
    for (kind, *_, validate), alike in kinds.items():
        if len(alike) < 2:
            continue
        stacked = {name: torch.stack([getattr(node.dist, name) for node in alike]) for name in _PARAMETERS[kind]}
        if alike[0].num_samples is not None:  # values are [S, *batch]: parameters take the draws' dim after the stack
            stacked = {name: value.unsqueeze(1) for name, value in stacked.items()}
        values = torch.stack([node.value for node in alike])
        check = validate and any(node.value is not node.sampled for node in alike)
        for node, log_prob in zip(alike, strip(_log_prob(kind, stacked, values, check)).unbind(0)):
            node._log_prob = log_prob


def _log_prob(kind, parameters: dict, values: torch.Tensor, validate: bool) -> torch.Tensor:
    """``kind(**parameters).log_prob(values)``; for a categorical, from the given logits as they are.

    ``validate``: check that the values lie in the support (the parameters were checked, where validation
    is on, by each node's own distribution).

    A categorical distribution normalises its logits when built; the nodes' logits are normalised
    already, and normalising them again would move them by rounding, so the gather that torch's
    ``Categorical.log_prob`` does is done here on them directly (the same numbers as node by node).
    """
    batched = kind(**parameters, validate_args=False)
    if validate:
        batched._validate_sample(values)
    if kind not in (D.Categorical, D.OneHotCategorical):
        return batched.log_prob(values)
    indices = values.max(-1)[1] if kind is D.OneHotCategorical else values.long()
    indices, log_pmf = torch.broadcast_tensors(indices.unsqueeze(-1), parameters["logits"])
    return log_pmf.gather(-1, indices[..., :1]).squeeze(-1)
