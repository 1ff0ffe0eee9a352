"""What ``surrogate`` returns: the surrogate loss, the cost estimates, and the tuning of estimators."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from scgrad.errors import ScgradError

from scgrad.core.graph import Graph


@dataclass
class Objective:
    """What ``surrogate`` returns.

    Attributes:
        loss: the surrogate scalar; ``loss.backward()`` gives the gradient estimate.
        cost: the detached Monte-Carlo estimate of ``E[sum of costs]`` (equal to ``loss`` in value, up to
            rounding).
        costs: that estimate per cost name (a dict built from ``per_cost`` on each access).
        per_cost: the estimates of the costs, in the order of ``cost_names`` (detached).
        (Each cost's estimate is kept, detached, as the surrogate is built; these three are put
        together on first access.)
        graph: the recorded nodes and costs.
        aux_loss: the sum of what the estimators' learned parts minimise (a critic's squared error, a
            control variate's variance), or ``None``.
        parts: each node's :class:`~scgrad.Parts`, by name.
    """

    loss: torch.Tensor
    graph: Graph
    aux_loss: torch.Tensor | None = None
    parts: dict = field(default_factory=dict, repr=False)
    tuning: list = field(default_factory=list, repr=False)
    cost_terms: list = field(default_factory=list, repr=False)
    _per_cost: torch.Tensor | None = field(default=None, init=False, repr=False)

    @property
    def cost_names(self) -> list[str]:
        """The costs' names, in the order of :attr:`per_cost`."""
        return [site.name for term in self.cost_terms for site in term.group]

    @property
    def per_cost(self) -> torch.Tensor:
        """The estimate of each cost's expectation (detached), in the order of :attr:`cost_names`."""
        if self._per_cost is None:
            estimates = [term.estimate for term in self.cost_terms]
            self._per_cost = estimates[0] if len(estimates) == 1 else torch.cat(estimates)
        return self._per_cost

    @property
    def cost(self) -> torch.Tensor:
        """The estimate of ``E[sum of costs]`` (detached; equal to ``loss`` in value, up to rounding)."""
        return self.per_cost.sum()

    @property
    def costs(self) -> dict[str, torch.Tensor]:
        """The estimate of each cost's expectation, by name (detached), from :attr:`per_cost`."""
        return dict(zip(self.cost_names, self.per_cost.unbind()))

    def backward(self, **kwargs) -> None:
        """Backpropagate ``loss``; also fill each estimator's own parameters' ``.grad`` from its ``aux_loss``.

        This is the one place where learned parts of estimators are trained: a ``Critic``'s squared
        error, and the single-sample estimate of the gradient of the gradient estimator's variance that
        self-tuning estimators (REBAR, RELAX, LAX) minimise. The parameters of an estimator that reports
        an aux loss receive the gradient of that loss only (never the surrogate's), and the aux loss
        reaches no other parameter (never the model's), so one optimiser over model and estimators, or
        two separate ones, can step after this call. Keyword arguments go to ``torch.Tensor.backward``
        (e.g. ``retain_graph``, ``create_graph``). ``loss.backward()`` alone does not tune estimators.
        """
        pending, kept = [], {}
        for aux, estimator in self.tuning:
            params = [p for p in estimator.parameters() if p.requires_grad]
            if params:
                grads = torch.autograd.grad(aux, params, retain_graph=True, allow_unused=True)
                pending += [(p, g) for p, g in zip(params, grads) if g is not None]
                kept.update((id(p), (p, p.grad)) for p in params)
        if not self.loss.requires_grad and not pending:
            nodes = list(self.graph.nodes)
            costs = list(self.graph.costs)
            raise ScgradError(
                f"Objective.backward(): the surrogate needs no gradient: no tensor it is computed from requires one "
                f"(nodes {nodes}, costs {costs}), so there is nothing to differentiate. Give the distributions' "
                f"parameters or the costs' inputs requires_grad=True (nn.Parameter), and build the surrogate outside "
                f"torch.no_grad()."
            )
        if self.loss.requires_grad:
            self.loss.backward(**kwargs)
        for param, grad in kept.values():
            param.grad = grad
        for param, grad in pending:
            param.grad = grad if param.grad is None else param.grad + grad
