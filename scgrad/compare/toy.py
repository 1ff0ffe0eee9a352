"""``bernoulli-toy``: minimise ``E[(b - t)^2]`` over independent Bernoulli ``b`` (the REBAR / RELAX toy)."""

from __future__ import annotations

import torch
import torch.distributions as D
from torch import nn

import scgrad
from scgrad.compare.problem import Problem
from scgrad.quickstart import TARGETS


class Logits(nn.Module):
    """One free logit per target."""

    def __init__(self, size: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(size))


class BernoulliToy(Problem):
    """``b_i ~ Bernoulli(sigmoid(a_i))``, cost ``(b_i - t_i)^2`` for the targets of ``scgrad quickstart``.

    The objective and its gradient are known exactly (by enumeration), so the bias of every estimator
    is measured and the objective reported is exact.
    """

    name = "bernoulli-toy"
    steps = 300
    learning_rate = 0.05
    objective_label = "exact E[(b - t)^2], mean over the targets (lower is better)"

    def model(self) -> nn.Module:
        return Logits(len(TARGETS))

    def program(self, model, data, num_samples):
        b = scgrad.sample("b", D.Bernoulli(logits=model.logits), num_samples=num_samples)
        scgrad.cost("squared_error", (b - data) ** 2)

    def batch(self, step, seed):
        return torch.tensor(TARGETS)

    def measured(self, model):
        return [model.logits]

    def describe(self):
        return f"targets {TARGETS}, one logit each; Adam lr {self.learning_rate}; exact objective by enumeration"

    def objective(self, model):
        with torch.no_grad():
            return float(scgrad.diagnostics.exact(self.program, model, torch.tensor(TARGETS), 1).cost)
