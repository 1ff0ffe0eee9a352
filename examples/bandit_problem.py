"""A problem of your own for ``scgrad compare``: a 5-arm contextual bandit (docs/user_problems.md).

    .venv/bin/scgrad compare --problem examples/bandit_problem.py:Bandit

A linear policy sees a context (4 features) and picks one of 5 arms; the arm is used as an index into
the table of the context's mean rewards, and the cost is the regret of the pick. The relaxations
(Gumbel-softmax and kin) hand the program a point of the simplex instead of an arm, which cannot
index a table: their rows say so, and the other estimators run on.
"""

from __future__ import annotations

import torch
import torch.distributions as D
from torch import nn

import scgrad
from scgrad.compare import Problem, generator


class Bandit(Problem):
    """Minimise the expected regret of a linear softmax policy on a linear contextual bandit.

    The mean reward of arm ``k`` in context ``x`` is ``(x @ W)[k]`` for a fixed random ``W``; the reported
    objective is the exact expected regret (by summing over the arms) on 1,000 held-out contexts.
    """

    name = "bandit"
    steps = 300
    learning_rate = 0.05
    objective_label = "expected regret on held-out contexts (lower is better)"
    arms, features, batch_size = 5, 4, 32

    def __init__(self):
        g = torch.Generator().manual_seed(2024)
        self.weights = torch.randn(self.features, self.arms, generator=g)
        self.held_out = torch.randn(1000, self.features, generator=g)

    def model(self) -> nn.Module:
        return nn.Linear(self.features, self.arms)

    def program(self, model, contexts, num_samples):
        arm = scgrad.sample("arm", D.Categorical(logits=model(contexts)), num_samples=num_samples)  # [S, B]
        means = contexts @ self.weights  # [B, arms]
        reward = means[torch.arange(len(contexts)), arm]  # the arm indexes the table: [S, B]
        scgrad.cost("regret", means.max(-1).values - reward)

    def batch(self, step, seed):
        return torch.randn(self.batch_size, self.features, generator=generator(seed, step))

    def measured(self, model):
        return list(model.parameters())

    def describe(self):
        return (f"{self.arms}-arm contextual bandit, {self.features} context features, mean rewards linear in "
                f"the context; linear softmax policy; batch {self.batch_size}, Adam lr {self.learning_rate}")

    def objective(self, model):
        with torch.no_grad():
            means = self.held_out @ self.weights
            regret = means.max(-1, keepdim=True).values - means
            return float((model(self.held_out).softmax(-1) * regret).sum(-1).mean())
