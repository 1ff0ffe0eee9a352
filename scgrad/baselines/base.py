"""What a baseline is: a module that predicts a node's downstream cost without looking at its sample."""

from __future__ import annotations

import copy
from typing import Callable, NamedTuple

import torch
from torch import nn

from scgrad import distributed


class Prediction(NamedTuple):
    """A baseline's output.

    ``value``: the prediction (detached, the node's log-prob shape). ``loss``: optional, minimised by
    ``Objective.backward()`` to fit the baseline. ``update``: optional, called once every node of the
    objective has its prediction; a baseline that learns from the current costs changes its state there,
    so no node's prediction reads a cost that depends on another node's sample of the same build.
    """

    value: torch.Tensor
    loss: torch.Tensor | None = None
    update: Callable[[], None] | None = None


class Baseline(nn.Module):
    """Base of every baseline.

    ``forward(node, downstream)`` returns a :class:`Prediction` whose element ``i`` never depends on
    the sample at element ``i`` (that is what keeps the score function unbiased). State lives in
    buffers and parameters, so ``state_dict()`` checkpoints it.

    ``needs_independence``: ``True`` for a baseline built from the costs of other elements or draws of the
    node, which must not depend on the element it serves; the surrogate then tracks which costs are
    computed from the node's value, so a cost that merely comes later does not count as shared.
    """

    needs_independence = False

    def __init__(self, group=None):
        super().__init__()
        self.group = distributed.check_group(group, type(self).__name__)

    def forward(self, node, downstream) -> Prediction:
        raise NotImplementedError

    def _process_group(self, node):
        """The resolved ``torch.distributed`` group of a baseline built with ``group=``, or ``None``."""
        if self.group is None:
            return None
        return distributed.resolve(self.group, f"{type(self).__name__} on node {node.name!r}")

    def __deepcopy__(self, memo):
        """A copy shares the original's process group (``group=``): a handle on the processes, not state."""
        group = self.__dict__.get("group")
        if group is not None:
            memo.setdefault(id(group), group)
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__dict__, memo))
        return new


def mixing_costs(downstream, dims: list[int]) -> str:
    """Names the downstream costs that lack one of the log-prob ``dims`` (negative), with their shapes."""
    shape = downstream.cost.shape
    sites = downstream.sites() if downstream.sites is not None else []
    found = [
        f"{site.name!r} (shape {tuple(site.value.shape)})" for site in sites
        if any(shape[d] > 1 and (site.value.dim() < -d or site.value.shape[d] != shape[d]) for d in dims)
    ]
    if not found:
        return "a downstream cost"
    return ("cost " if len(found) == 1 else "costs ") + ", ".join(found)
