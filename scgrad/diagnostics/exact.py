"""Ground truth: the exact objective of a program, every discrete node enumerated.

Small discrete nodes are enumerated *jointly* and *in sequence*: the program is run once per joint
outcome of them (every combination of every element and draw), each run weighted by that outcome's
probability. Each run sees plain values, so nothing is asked of the program: costs may reduce over
batch dims, mix elements, branch on values or count dims from the left. A node too large for that
(more than :data:`MAX_JOINT` joint outcomes, or past :data:`MAX_RUNS` runs with the nodes before it)
is enumerated *element by element* in parallel (``Enumerate``), which relies on the contract that each
cost element depends on its own elements of the node only (past the budget, the one-element nodes go that
way first, the factors summed one node at a time); :attr:`Exact.per_element` names such nodes,
every reduction that can be detected is refused, and ``scgrad.audit`` checks the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from scgrad.core.graph import Node
from scgrad.core.provenance import strip
from scgrad.core.record import GraphRecorder
from scgrad.core.runtime import Handler, Message, find
from scgrad.core.objective import Objective
from scgrad.program import surrogate
from scgrad.errors import CombinedDrawsError, ScgradError
from scgrad.core.protocol import Estimator, Parts
from scgrad.estimators.enumerate import Enumerate, has_finite_support, joint_size, support_of
from scgrad.estimators.reparam import Reparam

MAX_JOINT = 2**10
"""The most joint outcomes of one node that ``exact`` enumerates jointly."""
MAX_RUNS = 2**12
"""The most runs of the program (joint outcomes of all jointly enumerated nodes together)."""


@dataclass
class Exact:
    """What :func:`exact` returns.

    Attributes:
        loss: the exact objective ``E[sum over costs of cost.mean()]`` as a differentiable function of the
            parameters: its gradient (and ``create_graph=True`` higher derivatives) is exact. With
            continuous nodes, each run draws them afresh (reparameterised), and ``loss`` is an unbiased
            estimate instead.
        costs: each cost's expectation, by name (detached).
        jointly: nodes enumerated jointly, by runs of the program: exact for any program.
        per_element: nodes enumerated element by element, exact only under the contract that each cost
            element depends on its own elements of the node.
        continuous: nodes reparameterised rather than enumerated.
        runs: how many times the program ran.
    """

    loss: torch.Tensor
    costs: dict
    jointly: tuple
    per_element: tuple
    continuous: tuple
    runs: int

    @property
    def cost(self) -> torch.Tensor:
        """The exact objective, detached."""
        return self.loss.detach()


class _Held(Estimator):
    """A node given one of its joint outcomes by :func:`exact`: it adds nothing to the surrogate."""

    def draw(self, node: Node, layout):
        raise AssertionError("a held node's value is given, never drawn")

    def parts(self, node, downstream):
        return Parts()


class _PresentedEnumerate(Enumerate):
    """``Enumerate``, handing the program each outcome in the form its own estimator gives it."""

    def __init__(self, each_draw: bool, present):
        super().__init__(each_draw=each_draw)
        self._present = present

    def draw(self, node: Node, layout):
        outcome = super().draw(node, layout)
        node._log_prob = strip(node.dist.log_prob(outcome))
        return self._present(node.dist, outcome)


class _Choices(Handler):
    """One run of :func:`exact`: gives each node its estimator, and the jointly enumerated ones an outcome.

    ``fixed`` maps node names to the index of their joint outcome; a small node met for the first time
    takes outcome 0 and is listed in :attr:`new` with its number of outcomes, for the caller to run the
    others. :attr:`log_weight` sums the held outcomes' log-probabilities.
    """

    def __init__(self, fixed: dict, each_draw: bool, scalars_per_element: bool):
        self.fixed, self.each_draw, self.scalars_per_element = fixed, each_draw, scalars_per_element
        self.new: list[tuple[str, int]] = []
        self.log_weight = None
        self.kinds: dict[str, str] = {}
        self._runs = 1

    def process(self, msg: Message) -> None:
        if msg.kind != "sample":
            return
        name, dist, own = msg.name, msg.fn, msg.estimator
        present = own.present if isinstance(own, Estimator) else (lambda d, outcome: outcome)
        if not has_finite_support(dist):
            if not dist.has_rsample:
                raise ScgradError(
                    f"exact: node {name!r} ({type(dist).__name__}) can be neither enumerated (no enumerate_support) "
                    f"nor reparameterised (no rsample): check it with a program whose nodes have a finite support "
                    f"or rsample."
                )
            msg.estimator = Reparam()
            self.kinds[name] = "continuous"
            return
        shape = _draw_shape(dist, msg.num_samples)
        elements = math.prod(shape[: len(shape) - len(dist.event_shape)])
        size = joint_size(dist) ** elements
        too_large = size > MAX_JOINT or _spans_enumerated(dist)
        over_budget = self._runs * size > MAX_RUNS
        if name not in self.fixed and over_budget and not too_large and not self.scalars_per_element:
            raise _OverBudget
        scalar = self.scalars_per_element and elements == 1
        if name not in self.fixed and (too_large or over_budget or scalar):
            msg.estimator = _PresentedEnumerate(self.each_draw, present)
            self.kinds[name] = "per_element"
            return
        if name not in self.fixed:
            self.new.append((name, size))
        outcome = _outcome(dist, self.fixed.get(name, 0), elements).reshape(shape)
        log_prob = strip(dist.log_prob(outcome).sum())  # a plain tensor, though the parameters carry provenance
        self.log_weight = log_prob if self.log_weight is None else self.log_weight + log_prob
        self._runs *= size
        msg.value = present(dist, outcome)
        msg.estimator = _Held()
        self.kinds[name] = "jointly"


class _OverBudget(Exception):
    """The jointly enumerated nodes would need more than :data:`MAX_RUNS` runs: enumerate scalars by contraction."""


def _draw_shape(dist, num_samples) -> torch.Size:
    return torch.Size(() if num_samples is None else (num_samples,)) + dist.batch_shape + dist.event_shape


def _outcome(dist, index: int, elements: int) -> torch.Tensor:
    """Joint outcome number ``index`` of ``elements`` elements of ``dist``: ``[elements, *event_shape]``.

    The digits of ``index`` in base ``K`` (the outcomes of one element) pick each element's outcome.
    """
    support = support_of(dist)
    count = support.shape[0]
    digits = [(index // count**power) % count for power in reversed(range(elements))]
    return support[torch.tensor(digits, dtype=torch.long, device=support.device)]


def _spans_enumerated(dist) -> bool:
    """Whether ``dist`` varies along a dim on which an earlier node was enumerated element by element."""
    recorder = find(GraphRecorder)
    shape = dist.batch_shape
    return any(len(shape) >= -dim and shape[dim] > 1 for dim in recorder.layout.enum_dims)


def _run(program, args, kwargs, fixed: dict, scalars: bool) -> tuple[_Choices, Objective]:
    """One run under :class:`_Choices`; again with a dim per draw if a cost combines the draws."""
    try:
        with _Choices(fixed, each_draw=False, scalars_per_element=scalars) as choices:
            return choices, surrogate(program, *args, **kwargs)
    except CombinedDrawsError:
        with _Choices(fixed, each_draw=True, scalars_per_element=scalars) as choices:
            return choices, surrogate(program, *args, **kwargs)


def _leaves(program, args, kwargs, scalars: bool) -> tuple[list, dict]:
    """Every run of the jointly enumerated outcomes: ``[(log_weight, objective)]``, and each node's kind."""
    leaves, pending, kinds = [], [{}], {}
    while pending:
        fixed = pending.pop()
        choices, objective = _run(program, args, kwargs, fixed, scalars)
        prefix = dict(fixed)
        for name, size in choices.new:
            pending.extend({**prefix, name: index} for index in range(size - 1, 0, -1))
            prefix[name] = 0
        leaves.append((choices.log_weight, objective))
        for name, kind in choices.kinds.items():
            kinds.setdefault(name, kind)
    return leaves, kinds


def exact(program, *args, **kwargs) -> Exact:
    """The exact objective of ``program``: every discrete node enumerated, every other reparameterised.

    Whatever estimators the program names are replaced; each node is handed its outcomes in the form
    its own estimator would give (a relaxed ``Categorical`` node a one-hot vector). A discrete node with
    at most :data:`MAX_JOINT` joint outcomes (``K ** n`` for ``n`` elements and draws of ``K`` outcomes)
    is enumerated jointly, by one run of the program per outcome (at most :data:`MAX_RUNS` runs for all
    such nodes together): for those, ``exact`` is right for any program. Past that budget, the program's
    scalar nodes (one element, no draws: a chain's steps, a global latent) are enumerated by contraction
    instead (``Enumerate``, summed one node at a time): one element meets the per-element contract
    whatever its costs do with it, as long as they count dims from the right. Larger nodes are
    enumerated element by element in parallel: a cost element must depend on its own elements only
    (reductions that can be seen are refused; :attr:`Exact.per_element` lists the nodes). If a cost combines the
    ``num_samples`` draws of such a node, the run is repeated with a dim per draw
    (``Enumerate(each_draw=True)``). The program must have no side effects outside scgrad.

    Returns an :class:`Exact`; ``torch.autograd.grad(exact(...).loss, params)`` is the exact gradient.
    """
    try:
        leaves, kinds = _leaves(program, args, kwargs, scalars=False)
    except _OverBudget:
        leaves = None
    if leaves is None:  # outside the handler, so that an error of the second pass is not chained to it
        leaves, kinds = _leaves(program, args, kwargs, scalars=True)
    loss, costs = None, {}
    for log_weight, objective in leaves:
        weight = None if log_weight is None else log_weight.exp()
        term = objective.loss if weight is None else weight * objective.loss
        loss = term if loss is None else loss + term
        for name, value in objective.costs.items():
            value = value if weight is None else weight.detach() * value
            costs[name] = value if name not in costs else costs[name] + value
    return Exact(
        loss, costs,
        jointly=tuple(name for name, kind in kinds.items() if kind == "jointly"),
        per_element=tuple(name for name, kind in kinds.items() if kind == "per_element"),
        continuous=tuple(name for name, kind in kinds.items() if kind == "continuous"),
        runs=len(leaves),
    )
