"""The extension point: what an estimator is, and the pieces it gives the surrogate."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn

from scgrad.core.graph import Node


class Evaluation(NamedTuple):
    """The costs downstream of a node, evaluated (by a re-run) at another value of the node.

    ``cost``: per element of the node's log-prob, on the scale of :attr:`Downstream.cost` (a cost shared
    by several elements counts in full for each, as the score-function term needs it). ``objective``: the
    downstream costs' part of the objective, ``sum over costs of cost.mean()`` (each counted once, as a
    pathwise term needs it). Neither is detached.
    """

    cost: torch.Tensor
    objective: torch.Tensor


class Downstream(NamedTuple):
    """What the surrogate knows about the costs that depend on a node.

    ``cost``: the detached downstream cost per element of the node's log-prob, scaled so that
    a baseline equal to it cancels the score term's contribution. ``independent_dims``: the
    log-prob dimensions (negative positions) along which elements share no downstream cost, so
    that the cost of one element is independent of another's sample. ``evaluate(value)``: the same
    downstream cost, not detached, with this node's value replaced by ``value`` and every other node
    held at its drawn value, as an :class:`Evaluation`; it re-runs the program, which must therefore have
    no side effects outside scgrad (``None`` where the program is not known). ``evaluate_many(values, stacked=False)``:
    ``[evaluate(v) for v in values]``; with ``stacked=True``, from a single run of the program with the
    values stacked on a new leading batch dim, which is correct only for a program that counts every dim
    from the right (see ``Dependencies._stacked_costs``; estimators expose it as ``stack_evaluations``).
    ``sites()``: the downstream costs themselves (``CostSite``s), to name them in errors.
    """

    cost: torch.Tensor
    independent_dims: tuple[int, ...]
    evaluate: Callable[[torch.Tensor], Evaluation] | None = None
    evaluate_many: Callable[..., list[Evaluation]] | None = None  # (values, stacked=False) -> evaluations
    sites: Callable[[], list] | None = None


class Parts(NamedTuple):
    """The pieces one node adds to the surrogate; every field may be ``None``.

    - ``score``: log-probability put in the magic box of every downstream cost (score function).
    - ``baseline``: ``b`` in the term ``(1 - MB(score)) * MB(upstream) * b``; same shape as ``score``.
    - ``enumerated``: log-probabilities (one per enumeration slot) whose enumeration dims the surrogate
      sums exactly, weighting each outcome by its probability (see ``Enumerate``).
    - ``extra``: a scalar added to the surrogate as it is.
    - ``aux_loss``: a scalar that ``Objective.backward()`` minimises too, outside the surrogate's value
      (e.g. a critic's squared error).
    - ``update``: called once every node has its parts, to change state learnt from this build's
      costs (e.g. a moving average); no node's parts may read it earlier.
    """

    score: torch.Tensor | None = None
    baseline: torch.Tensor | None = None
    enumerated: tuple = ()
    extra: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None
    update: Callable[[], None] | None = None


class Estimator(nn.Module):
    """Base of every estimator: how to draw a node's value, and which terms it adds.

    An estimator is configuration plus, where it learns something, parameters and buffers; it is an
    ``nn.Module`` so that what it learns reaches an optimiser and a checkpoint.

    Capabilities, declared on the class (torch.distributions-style flags):

    - ``first_order_only``: its terms are unbiased for first derivatives only; the surrogate then refuses
      to be differentiated with ``create_graph=True`` rather than give wrong higher derivatives.
    - ``biased``: its gradient is biased by design (the relaxations); ``diagnose`` never recommends it.
    - ``needs_downstream``: :meth:`parts` reads ``downstream`` (computed only when some estimator does).
    - ``wants_dependencies``: it needs to know which costs are computed from its node's value (not merely
      recorded after it): the surrogate then tracks the value's provenance (:mod:`scgrad.core.provenance`).
    - ``pathwise``: its gradient flows through the value itself (no score term), so it does not rely on
      each cost element depending on its own elements of the node; ``scgrad.audit`` does not check that
      contract for it.
    - ``batches_log_probs``: its node's log-prob may be computed in one batched call with alike nodes.
    - ``stack_evaluations``: an option (a constructor argument of the estimators that re-run the program
      for several values): evaluate them in one re-run, stacked on a new batch dim.
    """

    first_order_only = False
    wants_dependencies = False
    pathwise = False
    biased = False
    batches_log_probs = False
    stack_evaluations = False

    def __init__(self):
        super().__init__()
        self.unstackable: set[str] = set()  # nodes whose program did not keep a stacked evaluation apart

    def check(self, name: str, dist: torch.distributions.Distribution) -> None:
        """Raise :class:`~scgrad.errors.ScgradError` if this estimator cannot serve ``dist``."""

    def draw(self, node: Node, layout) -> torch.Tensor:
        """Return the node's value; ``layout`` allocates new batch dimensions when one is needed.

        By default a plain draw of ``num_samples`` samples, without gradient (``dist.sample``), noted as
        ``node.sampled`` (so its log-prob skips checking that it lies in the support).
        """
        node.sampled = node.dist.sample(node.sample_shape)
        return node.sampled

    def parts(self, node: Node, downstream: Downstream) -> Parts:
        """Return the node's :class:`Parts` given what depends on it."""
        raise NotImplementedError

    needs_downstream = False

    def present(self, dist: torch.distributions.Distribution, outcome: torch.Tensor) -> torch.Tensor:
        """The value the program sees for ``outcome``, a sample of ``dist`` (as ``dist.sample()`` gives it).

        The outcome itself, except for estimators that hand the program another form of it (a
        relaxation of a ``Categorical`` node gives a vector on the simplex): ``scgrad.diagnostics.exact``
        feeds each node its outcomes in the form its program is written for.
        """
        return outcome
