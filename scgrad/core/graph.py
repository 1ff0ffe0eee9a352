"""What ``surrogate`` records: random choices (nodes) and costs, in the order they happened."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from scgrad.core.provenance import strip


@dataclass(eq=False, slots=True)
class Node:
    """One random choice: its distribution, estimator, drawn value and place in time.

    ``sample_dim`` is the position (negative, counted from the right of the log-prob) of the
    ``num_samples`` dimension, or ``None``. ``enum_dims`` lists the positions on which an
    enumerating estimator laid out the support; ``collapsed``, the ``(position, size)`` of its batch (and
    sample) dims on which its value has size 1 instead (an enumerated value broadcasts). ``upstream`` holds the names of the nodes
    this one depends on when provenance is tracked, else ``None``. ``state`` keeps what an estimator
    made while drawing (noise, relaxed values) for its ``parts``. ``sampled``: the tensor
    ``dist.sample`` returned, where the estimator drew one (a value that is it lies in the support).
    """

    name: str
    dist: torch.distributions.Distribution
    estimator: object
    num_samples: int | None
    order: int
    value: torch.Tensor | None = None
    sample_dim: int | None = None
    enum_dims: tuple[int, ...] = ()
    collapsed: tuple = ()
    upstream: frozenset | None = None
    probed: bool = False
    sampled: torch.Tensor | None = field(default=None, repr=False)
    state: dict = field(default_factory=dict, repr=False)
    _log_prob: torch.Tensor | None = field(default=None, init=False, repr=False)

    @property
    def sample_shape(self) -> torch.Size:
        """``(num_samples,)``, or ``()`` for a single draw."""
        return torch.Size(() if self.num_samples is None else (self.num_samples,))

    @property
    def log_prob(self) -> torch.Tensor:
        """``dist.log_prob(value)``: shape ``sample_shape + batch_shape`` (plus enumeration dims).

        Computed on first use and kept (a plain attribute rather than ``functools.cached_property``,
        whose lock ``torch.compile`` cannot trace on Python 3.11). The distribution's own sample is not
        checked against its support again (torch's argument validation, where on, checks any other value).
        """
        if self._log_prob is None:
            dist, value = self.dist, self.value
            if value is self.sampled and dist._validate_args and not torch.compiler.is_compiling():
                self._log_prob = strip(unchecked_log_prob(dist, value))
            else:
                self._log_prob = strip(dist.log_prob(value))
        return self._log_prob

    def __repr__(self) -> str:
        shape = None if self.value is None else tuple(self.value.shape)
        return f"Node({self.name!r}, {type(self.dist).__name__}, {type(self.estimator).__name__}, value shape {shape})"


def unchecked_log_prob(dist: torch.distributions.Distribution, value: torch.Tensor) -> torch.Tensor:
    """``dist.log_prob(value)`` with the distribution's argument validation off for the call (and restored)."""
    own = vars(dist).get("_validate_args")
    dist._validate_args = False
    try:
        return dist.log_prob(value)
    finally:
        if own is None:
            del dist._validate_args  # back to the class's default
        else:
            dist._validate_args = own


@dataclass(eq=False, slots=True)
class CostSite:
    """One cost: its value (minimised in expectation) and place in time."""

    name: str
    value: torch.Tensor
    order: int
    upstream: frozenset | None = None

    def __repr__(self) -> str:
        return f"CostSite({self.name!r}, shape {tuple(self.value.shape)})"


@dataclass
class Graph:
    """The record of one run of a program: nodes and costs by name, each in time order.

    ``tracked``: every node's dependencies were tracked (``scgrad.provenance()``). ``escaped``: the
    probed nodes whose values left torch, so that their dependencies are taken in time order.
    """

    nodes: dict[str, Node] = field(default_factory=dict)
    costs: dict[str, CostSite] = field(default_factory=dict)
    tracked: bool = False
    escaped: set = field(default_factory=set)

    def precise(self, node: Node) -> bool:
        """Whether the costs and nodes that depend on ``node`` are known exactly (its provenance held)."""
        return self.tracked or (node.probed and node.name not in self.escaped)

    def __repr__(self) -> str:
        return f"Graph(nodes={list(self.nodes.values())}, costs={list(self.costs.values())})"
