"""Repeated gradient estimates at fixed parameters: variance, signal-to-noise, bias, time and cost."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import torch

from scgrad.core.runtime import Handler, Message
from scgrad.program import surrogate
from scgrad.diagnostics.exact import exact
from scgrad.diagnostics.failure import summary
from scgrad.errors import ScgradError

BIAS_LIMIT = 3.0  # standard errors of the mean's distance from the exact gradient


class CostCounter(Handler):
    """Counts the cost elements a program computes, per cost name, re-runs by estimators included."""

    def __init__(self):
        self.counts: Counter = Counter()

    def postprocess(self, msg: Message) -> None:
        if msg.kind == "cost":
            self.counts[msg.name] += msg.value.numel()


def cost_elements(program, *args) -> Counter:
    """The cost elements per cost name of one plain run of ``program(*args)`` (the unit of evaluations)."""
    with CostCounter() as counter:
        program(*args)
    return counter.counts


def evaluations(counts: Counter, reference: Counter) -> float:
    """How many plain runs' worth of costs ``counts`` holds: the largest ratio over the cost names."""
    return max(counts[name] / reference[name] for name in reference if reference[name])


@dataclass(frozen=True)
class Measurement:
    """``repeats`` gradient estimates of the same parameters, summarised.

    Attributes:
        gradients: the estimates, one flat row each (``[repeats, number of parameter elements]``).
        variance: trace of their covariance (sum of the per-element variances).
        snr: signal-to-noise, ``|mean| / sqrt(variance)`` (0 where the mean is 0; infinite where
            the variance is 0 and the mean is not).
        ms_per_step: milliseconds per estimate (building the surrogate and differentiating it).
        evaluations: cost evaluations per estimate, in plain runs of the program (see :func:`evaluations`).
        cost: mean of the objective estimates.
        bias: ``|mean - exact|`` against the exact gradient, or ``None`` where it is unknown.
        bias_stderr: the distance expected from noise alone, ``sqrt(variance / repeats)``.
        bias_detected: whether ``bias`` exceeds ``BIAS_LIMIT`` standard errors (plus rounding), or ``None``.
    """

    gradients: torch.Tensor
    variance: float
    snr: float
    ms_per_step: float
    evaluations: float
    cost: float
    bias: float | None
    bias_stderr: float
    bias_detected: bool | None


def exact_gradient(program, args: tuple, params: list[torch.Tensor]):
    """``(gradient, None)``: the exact gradient of ``params`` (flat) by enumeration; or ``(None, reason)``
    where the program has a node that cannot be enumerated (then the gradient would not be exact), or
    where the program raised when given the enumerated outcomes (its error is the reason)."""
    try:
        objective = exact(program, *args)
    except ScgradError as error:
        return None, str(error)
    except Exception as error:  # noqa: BLE001 -- a program written for samples may not take enumerated outcomes
        return None, f"the program raised {summary(error)} on the enumerated outcomes"
    if objective.continuous:
        return None, f"node(s) {list(objective.continuous)} cannot be enumerated"
    grads = torch.autograd.grad(objective.loss, params, allow_unused=True, materialize_grads=True)
    return torch.cat([g.detach().reshape(-1) for g in grads]), None


def estimate(program, args: tuple, params: list[torch.Tensor], fit: torch.optim.Optimizer | None = None):
    """One gradient estimate of ``params`` (flat, detached) and the objective estimate.

    With ``fit``, the estimators' own loss (``aux_loss``: critics, control variates) is minimised by one
    step of ``fit``; its gradient is taken with respect to ``fit``'s parameters only, as
    ``Objective.backward()`` does, so the parameters in ``params`` are left untouched (their ``.grad`` too),
    and no derivative of the aux loss is taken through the model (where an op such as ``Dirichlet.rsample``
    has no second derivative).
    """
    objective = surrogate(program, *args)
    fitting = fit is not None and objective.aux_loss is not None
    grads = torch.autograd.grad(objective.loss, params, allow_unused=True, materialize_grads=True, retain_graph=fitting)
    if fitting:
        tuned = [p for group in fit.param_groups for p in group["params"] if p.requires_grad]
        fit.zero_grad()
        if objective.aux_loss.requires_grad and tuned:
            for param, grad in zip(tuned, torch.autograd.grad(objective.aux_loss, tuned, allow_unused=True)):
                param.grad = grad
            fit.step()
    return torch.cat([g.detach().reshape(-1) for g in grads]), objective.cost


def measure(program, args: tuple, params: list[torch.Tensor], repeats: int, reference: Counter,
            exact_gradient: torch.Tensor | None = None, fit: torch.optim.Optimizer | None = None) -> Measurement:
    """Estimate the gradient of ``params`` ``repeats`` times under the handlers in force, and summarise.

    ``reference`` is :func:`cost_elements` of a plain run (the unit of evaluations); ``exact_gradient``
    (flat) gives the bias where it is known.
    """
    rows, costs, seconds = [], [], 0.0
    with CostCounter() as counter:
        for _ in range(repeats):
            start = time.perf_counter()
            gradient, cost = estimate(program, args, params, fit)
            seconds += time.perf_counter() - start
            rows.append(gradient)
            costs.append(float(cost))
    gradients = torch.stack(rows).double()
    mean = gradients.mean(0)
    variance = float(gradients.var(0).sum()) if repeats > 1 else float("nan")
    norm = float(mean.norm())
    snr = norm / variance**0.5 if variance > 0 else (float("inf") if norm > 0 else 0.0)
    stderr = (variance / repeats) ** 0.5
    bias = detected = None
    if exact_gradient is not None:
        exact = exact_gradient.double()
        bias = float((mean - exact).norm())
        detected = bias > BIAS_LIMIT * stderr + 1e-5 * (1 + float(exact.norm()))
    return Measurement(
        gradients=gradients,
        variance=variance,
        snr=snr,
        ms_per_step=1000 * seconds / repeats,
        evaluations=evaluations(counter.counts, reference) / repeats,
        cost=sum(costs) / repeats,
        bias=bias,
        bias_stderr=stderr,
        bias_detected=detected,
    )
