"""Control-variate estimators built on a relaxation: REBAR and RELAX (and LAX, in :mod:`scgrad.estimators.lax`).

All three subtract a control variate ``c`` inside the score-function term and add back its
reparameterised gradient, so they stay unbiased whatever ``c`` is; ``c`` has parameters that
``Objective.backward()`` tunes to minimise the estimator's own variance (see
:mod:`scgrad.estimators.tuning`). For a discrete node (REBAR, RELAX), with ``b = H(z)`` and
``z~ ~ p(z | b)`` drawn given the outcome:

    g = (f(b) - c(z~)) d log p(b) + d c(z) - d c(z~)

and for a reparameterisable node (LAX), ``g = (f(z) - c(z)) d log p(z) + d c(z)``. In the surrogate,
``c(z~)`` (or ``c(z)``) is the baseline and the pathwise differences are the extra term, of value zero.
Each estimator is first order only: its second derivatives are not unbiased.
"""

from __future__ import annotations

import torch
import torch.distributions as D
from torch import nn

from scgrad.core.graph import Node
from scgrad.distributions.concrete import concrete
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts
from scgrad.distributions.base import base_distribution
from scgrad.estimators.redraw import relaxed
from scgrad.estimators.temperature import Temperature
from scgrad.estimators.tuning import flat_events, variance_loss


def default_control(hidden: int = 32) -> nn.Module:
    """A small MLP from a flattened event to one number, its input size inferred on first use."""
    return nn.Sequential(nn.LazyLinear(hidden), nn.Tanh(), nn.Linear(hidden, 1))


def apply_control(control: nn.Module, node: Node, z: torch.Tensor) -> torch.Tensor:
    """The control's value per log-prob element, computed in the control's dtype and returned in ``z``'s."""
    shape = node.log_prob.shape
    param = next(control.parameters(), None)
    inputs = flat_events(z, shape)
    try:
        out = control(inputs if param is None else inputs.to(param.dtype)).to(z.dtype)
    except RuntimeError as error:
        raise ScgradError(
            f"node {node.name!r}: the control variate failed on the node's relaxed value, flattened to shape "
            f"{tuple(inputs.shape)} ({error}). A control takes one input size: its default network is sized on "
            f"the first node it sees, so one RELAX() or LAX() instance serves nodes whose events flatten to the "
            f"same size only; give each node its own estimator, or a control that takes "
            f"{inputs.shape[-1]} inputs."
        ) from error
    if out.shape == tuple(shape) + (1,):
        out = out.squeeze(-1)
    if out.shape != shape:
        raise ScgradError(
            f"node {node.name!r}: the control variate returned shape {tuple(out.shape)}; it takes the relaxed value "
            f"flattened to {tuple(shape) + (flat_events(z, shape).shape[-1],)} and must return the log-prob shape "
            f"{tuple(shape)} (or that with a trailing 1)."
        )
    return out


class _GivenOutcome(Estimator):
    """Discrete nodes drawn as ``b = H(z)``; ``parts`` draws ``z~`` given ``b`` and builds the RELAX terms."""

    first_order_only = True

    needs_evaluation = False

    needs_downstream = True

    def check(self, name, dist):
        base, _ = base_distribution(dist)
        if concrete(dist) is None or (self.needs_evaluation and isinstance(base, D.Categorical)):
            kinds = "Bernoulli or OneHotCategorical" if self.needs_evaluation else "Bernoulli, Categorical or OneHotCategorical"
            why = (" (it evaluates the cost at relaxed values, which an index cannot hold: use OneHotCategorical)"
                   if self.needs_evaluation and isinstance(base, D.Categorical) else "")
            raise ScgradError(
                f"node {name!r}: {type(self).__name__} serves {kinds} nodes (or Independent of them); got "
                f"{type(base).__name__}{why}. Use ScoreFunction() for other distributions."
            )

    def draw(self, node: Node, layout):
        view = concrete(node.dist)
        z = view.perturb(node.sample_shape)
        outcome = view.outcome(z.detach())
        node.state.update(z=z, outcome=outcome)
        return _as_value(node.dist, outcome)

    def parts(self, node, downstream):
        view = concrete(node.dist)
        if "z" in node.state:
            z, outcome = node.state["z"], node.state["outcome"]
        else:  # a substituted value: z drawn given it has the same joint law with it
            outcome = _as_outcome(node.dist, node.value, view)
            z = view.perturb_given(outcome)
        z_given = view.perturb_given(outcome)
        (at_z, total_z), (at_given, total_given) = self.controls(node, view, [z, z_given], downstream)
        score = node.log_prob
        pathwise = total_z - total_given
        aux = variance_loss(score, (downstream.cost - at_given) / score.numel(), pathwise, [view.logits])
        return Parts(
            score=score,
            baseline=at_given.detach(),
            extra=(total_z - total_z.detach()) - (total_given - total_given.detach()),
            aux_loss=aux,
        )

    def controls(self, node, view, perturbed: list[torch.Tensor], downstream) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The control variate at each of the ``perturbed`` logits: ``(per element, in the objective)``.

        Per element of the log-prob, on the scale of ``downstream.cost`` (the baseline of the score
        term); and its part of the objective, whose pathwise gradient is added back.
        """
        raise NotImplementedError


def _as_value(dist, outcome):
    base, _ = base_distribution(dist)
    return outcome.argmax(-1) if isinstance(base, D.Categorical) else outcome


def _as_outcome(dist, value, view):
    base, _ = base_distribution(dist)
    if isinstance(base, D.Categorical):
        return torch.nn.functional.one_hot(value.long(), view.logits.shape[-1]).to(view.logits.dtype)
    return value.to(view.logits.dtype)


class REBAR(_GivenOutcome):
    """REBAR: the score function with the relaxed cost as its control variate, self-tuned.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]`` for a discrete node with logits θ.
    With: ``(f(b) - η f(σ_λ(z~))) d log p(b) + η d f(σ_λ(z)) - η d f(σ_λ(z~))``, ``σ_λ`` the Concrete
    relaxation at temperature λ (``sigmoid(z/λ)``, or ``softmax(z/λ)``), ``z~ ~ p(z | b)``. The cost is
    evaluated at the two relaxed values by re-running the program (every other node held at its drawn
    value, except the later layers of a hierarchy, which pass relaxed values at the same temperature with
    their own noise held: :func:`scgrad.estimators.redraw.relaxed`), so the program must have no side
    effects outside scgrad and be defined at relaxed values.
    η and λ are parameters, tuned by ``Objective.backward()`` to minimise the estimator's variance.
    Requires: ``Bernoulli`` or ``OneHotCategorical`` (or ``Independent`` of them); costs differentiable at
    relaxed values; later layers that relax (Bernoulli, OneHotCategorical) or reparameterise.
    Bias: none, for any η and λ. First order only: second derivatives are not unbiased. Costs 2 program
    evaluations per step, or 1 with ``stack_evaluations=True``.
    Paper: Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein 2017.

    Args:
        temperature: initial λ (learnable).
        eta: initial scale η (learnable).
        stack_evaluations: evaluate the cost at both relaxed values in one re-run, stacked on a new
            batch dim left of every dim in use. Only for a program that counts every dim from the right
            (reductions, softmaxes, indexing and reshapes, as ``Enumerate`` requires): one that counts a
            dim from the left would mix the two values and bias the gradient. A program whose costs come
            back without the new dim, or that raises, is re-run once per value instead.
    """

    needs_evaluation = True

    def __init__(self, temperature: float = 0.5, eta: float = 1.0, stack_evaluations: bool = False):
        super().__init__()
        self.stack_evaluations = stack_evaluations
        self.temperature = Temperature(temperature, learnable=True)
        self.eta = nn.Parameter(torch.tensor(float(eta)))

    def controls(self, node, view, perturbed, downstream):
        return _relaxed_costs(self, node, view, perturbed, downstream, self.stack_evaluations)


def _relaxed_costs(estimator, node, view, perturbed, downstream,
                   stacked: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """REBAR's control ``η f(σ_λ(z))`` at each of the ``perturbed`` logits, by re-running the program
    (once with the values ``stacked``, else once per value); ``estimator`` has the ``temperature`` and ``eta``."""
    if downstream.evaluate_many is None:
        raise ScgradError(
            f"node {node.name!r}: {type(estimator).__name__} re-runs the program at relaxed values; build the "
            f"objective with scgrad.surrogate."
        )
    temperature = estimator.temperature()
    evaluations = downstream.evaluate_many(
        [view.relax(z, temperature) for z in perturbed], stacked=stacked, redraw=relaxed(temperature)
    )
    return [(estimator.eta * cost, estimator.eta * objective) for cost, objective in evaluations]


class RELAX(_GivenOutcome):
    """RELAX: the score function with a learned control variate ``c_φ`` of the relaxed value, self-tuned.

    Approximates: ``d/dθ E_{b~p_θ}[f(b)]`` for a discrete node with logits θ.
    With: ``(f(b) - c_φ(z~)) d log p(b) + d c_φ(z) - d c_φ(z~)``, ``z = θ + Gumbel noise``, ``b = H(z)``,
    ``z~ ~ p(z | b)``. ``c_φ`` sees ``z`` with its event dims flattened (shape ``log_prob.shape + (E,)``;
    ``E = K`` for a categorical) and returns one value per log-prob element; φ is tuned by
    ``Objective.backward()`` to minimise the estimator's variance. The cost is never re-evaluated.
    With ``relaxed_cost=True``, the control is REBAR's plus the learned one,
    ``c_φ(z) = η f(σ_λ(z)) + r_φ(z)``, as in the paper's discrete VAE experiments: the cost is then
    evaluated at the two relaxed values (2 more program evaluations per step), and η, λ and φ are tuned.
    Requires: ``Bernoulli``, ``Categorical`` or ``OneHotCategorical`` (or ``Independent`` of them); nothing
    of the cost (a black box); with ``relaxed_cost``, what :class:`REBAR` requires.
    Bias: none, for any φ (and η, λ). First order only.
    Paper: Grathwohl, Choi, Wu, Roeder & Duvenaud 2018.

    Args:
        control: any ``nn.Module`` mapping ``(..., E)`` to ``(...)`` or ``(..., 1)``; default a small MLP
            whose input size is inferred on first use (run one step before building an optimiser over
            its parameters).
        relaxed_cost: add REBAR's relaxed cost ``η f(σ_λ(z))`` to the control.
        temperature: initial λ of the relaxed cost (learnable).
        eta: initial η of the relaxed cost (learnable).
    """

    def __init__(self, control: nn.Module | None = None, relaxed_cost: bool = False, temperature: float = 0.5,
                 eta: float = 1.0):
        super().__init__()
        self.net = default_control() if control is None else control
        self.needs_evaluation = relaxed_cost
        if relaxed_cost:
            self.temperature = Temperature(temperature, learnable=True)
            self.eta = nn.Parameter(torch.tensor(float(eta)))

    def controls(self, node, view, perturbed, downstream):
        learned = [apply_control(self.net, node, z) for z in perturbed]
        if not self.needs_evaluation:
            return [(control, control.mean()) for control in learned]
        rebar = _relaxed_costs(self, node, view, perturbed, downstream, stacked=False)
        return [(cost + control, objective + control.mean()) for (cost, objective), control in zip(rebar, learned)]
