"""Re-running the program with one node's value replaced: what re-evaluating estimators read.

MuProp, REBAR, MeasureValued and IndeCateR evaluate a node's downstream cost at other values of the
node. :class:`Replay` runs the program again with that node substituted and every other node held at
its recorded value, once per value, or once for several values stacked on a new leading batch dim
(``stack_evaluations=True``). The program must have no side effects outside scgrad.
"""

from __future__ import annotations

from typing import Callable

import torch

from scgrad.core.dependencies import downstream_costs
from scgrad.core.downstream import evaluation
from scgrad.core.graph import CostSite, Graph, Node
from scgrad.core.runtime import Handler, Message
from scgrad.core.protocol import Evaluation
from scgrad.errors import ScgradError


class Replay:
    """The program of ``graph``, re-run under a fresh recorder from ``record()`` by ``rerun()``.

    Each estimator that stacks evaluations keeps, in its ``unstackable`` set, the names of its nodes
    whose program did not keep a stacked evaluation apart, so they are not tried stacked again.
    """

    def __init__(self, graph: Graph, rerun: Callable[[], None], record: Callable[[], object]):
        self.graph, self.rerun, self.record = graph, rerun, record

    def evaluators(self, node: Node) -> tuple:
        """``Downstream``'s ``evaluate`` and ``evaluate_many`` for ``node``, in that order."""

        def evaluate(value: torch.Tensor, redraw=None) -> Evaluation:
            return evaluation(node, self.costs_at(node, value, redraw))

        def evaluate_many(values: list[torch.Tensor], stacked: bool = False, redraw=None) -> list[Evaluation]:
            # Under torch.compile a program that cannot take the stacked value fails while tracing,
            # where the fallback cannot catch it: one run per value there.
            try_stacked = stacked and len(values) > 1 and not torch.compiler.is_compiling()
            per_value = self._stacked_costs(node, values, redraw) if try_stacked else None
            if per_value is None:
                return [evaluation(node, self.costs_at(node, value, redraw)) for value in values]
            return [evaluation(node, costs) for costs in per_value]

        return evaluate, evaluate_many

    def costs_at(self, node: Node, value: torch.Tensor, redraw=None) -> list:
        """Re-run the program with ``node`` set to ``value``: its downstream costs.

        Every other node is held at its recorded value, except a node drawn after ``node`` from a
        distribution that changed with it (a later layer of a hierarchy): ``redraw(original, dist)`` gives
        its value under the new distribution (the estimator's rule: the same noise, a relaxed value, a
        mean), and without a rule that is refused, since holding it would bias the gradient.
        """
        recorder = self.record()
        with recorder, _Held(self.graph, node, value, redraw):
            self.rerun()
        replay = recorder.graph.nodes.get(node.name)
        if replay is None:
            raise ScgradError(
                f"re-running the program to evaluate the cost downstream of node {node.name!r} did not "
                f"reach that node; the program must make the same random choices when re-run (no side "
                f"effects outside scgrad)."
            )
        return downstream_costs(replay, recorder.graph)

    def _stacked_costs(self, node: Node, values: list[torch.Tensor], redraw) -> list[list] | None:
        """Each value's downstream costs from one run of the program, with the values stacked on a new
        batch dim left of every dim in use; ``None`` where the run shows the program does not take them.

        The program must keep that dim apart, as ``Enumerate`` also requires: count dims from the right
        in every reduction, softmax, index and reshape. That is the estimator's opt-in
        (``stack_evaluations=True``), because it cannot be checked: a shape-preserving operation over a
        dim counted from the left (``log_softmax(dim=1)``) would mix the values and bias the gradient.
        What can be seen is refused: a downstream cost without the new dim in front of its own shape
        (padded with size-1 dims to the depth in use), or a run that raises, sends the evaluation back to
        one run per value (which raises any error of the program's own), and that node is not tried
        stacked again.
        """
        unstackable = node.estimator.unstackable
        if node.name in unstackable:
            return None
        depth = max([_rank(n) for n in self.graph.nodes.values()] + [c.value.dim() for c in self.graph.costs.values()])
        count = len(values)
        stacked = torch.stack(values).reshape((count,) + (1,) * (depth - len(node.sample_shape + node.dist.batch_shape)) + tuple(node.value.shape))
        try:
            costs = self.costs_at(node, stacked, redraw)
        except ScgradError:  # a refusal of the program or of a rule holds for every value: say it once
            raise
        except Exception:  # the program cannot take the stacked value; one run per value says why, if it fails again
            costs = None
        split = None if costs is None else _split(costs, self.graph, count, depth)
        if split is None:
            unstackable.add(node.name)
        return split


class _Held(Handler):
    """Gives ``node`` the value ``value``, later nodes whose distribution changed ``redraw(original, dist)``,
    and every other recorded node its recorded value."""

    def __init__(self, graph: Graph, node: Node, value: torch.Tensor, redraw):
        self.graph, self.node, self.value, self.redraw = graph, node, value, redraw

    def process(self, msg: Message) -> None:
        if msg.kind != "sample":
            return
        if msg.name == self.node.name:
            msg.value = self.value
            return
        original = self.graph.nodes.get(msg.name)
        if original is None:
            return
        if original.order < self.node.order or _same_distribution(original.dist, msg.fn):
            msg.value = original.value
        elif self.redraw is None:
            raise ScgradError(
                f"node {msg.name!r} is drawn from a distribution that depends on node {self.node.name!r}. "
                f"Evaluating the cost at another value of {self.node.name!r} holds {msg.name!r} at its drawn "
                f"value, which would bias the gradient, and this estimator gives no rule to re-draw it. Give "
                f"{self.node.name!r} an estimator that does not re-evaluate the cost (e.g. ScoreFunction()), or make "
                f"{self.node.name!r} the last random choice its costs depend on."
            )
        else:
            msg.value = self.redraw(original, msg.fn)


def _rank(node: Node) -> int:
    """The number of batch dims a node's log-prob has: its distribution's, its sample dim, its enumeration dims."""
    own = len(node.sample_shape + node.dist.batch_shape)
    return max([own] + [-dim for dim in node.enum_dims])


def _split(costs: list, graph: Graph, count: int, depth: int) -> list[list] | None:
    """The costs of a stacked run as ``count`` lists of costs of the original shapes, or ``None``."""
    slots = [[] for _ in range(count)]
    for site in costs:
        original = graph.costs.get(site.name)
        if original is None:
            return None
        shape = tuple(original.value.shape)
        if tuple(site.value.shape) != (count,) + (1,) * (depth - len(shape)) + shape:
            return None
        for slot, value in zip(slots, site.value.unbind(0)):
            slot.append(CostSite(site.name, value.reshape(shape), site.order, site.upstream))
    return slots


def _same_distribution(first, second) -> bool:
    """Whether two distributions of one node have the same type and parameters.

    Only attributes present on both are compared: drawing caches lazy ones (``probs`` of a
    ``Categorical`` built from logits) on one side only.
    """
    if type(first) is not type(second):
        return False
    mine, theirs = vars(first), vars(second)
    for name in mine.keys() & theirs.keys():
        value, other = mine[name], theirs[name]
        if isinstance(value, torch.Tensor):
            if not isinstance(other, torch.Tensor) or value.shape != other.shape or not torch.equal(value, other):
                return False
        elif isinstance(value, torch.distributions.Distribution) and not _same_distribution(value, other):
            return False
    return True
