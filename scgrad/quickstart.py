"""``scgrad quickstart``: learn Bernoulli probabilities with the score function, checked exactly.

The problem is the toy of the REBAR and RELAX papers, made a little wider: minimise
``E[(b - t)^2]`` over independent ``b_i ~ Bernoulli(sigmoid(a_i))`` for targets ``t``. The optimum
puts ``b_i = 1`` where ``t_i > 0.5``. The score function cannot see that directly (the cost is a
black box to it); it learns from samples, with a leave-one-out baseline over 8 draws.
"""

from __future__ import annotations

import torch
import torch.distributions as D
from rich.console import Console
from rich.table import Table

import scgrad

TARGETS = (0.1, 0.3, 0.45, 0.55, 0.7, 0.9)


def toy(logits: torch.Tensor, targets: torch.Tensor, num_samples: int | None = 8) -> None:
    """The generative story: draw ``b``, pay ``(b - t)^2``."""
    estimator = scgrad.ScoreFunction(baseline=scgrad.LeaveOneOut())
    b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=num_samples)
    scgrad.cost("squared_error", (b - targets) ** 2)


def run(steps: int = 300, seed: int = 0, console: Console | None = None) -> torch.Tensor:
    """Train the toy and print the learned probabilities next to the targets; returns the probabilities."""
    console = console or Console()
    torch.manual_seed(seed)
    targets = torch.tensor(TARGETS)
    logits = torch.zeros(len(TARGETS), requires_grad=True)
    optimiser = torch.optim.Adam([logits], lr=0.1)
    for _ in range(steps):
        optimiser.zero_grad()
        scgrad.surrogate(toy, logits, targets).backward()
        optimiser.step()
    probs = torch.sigmoid(logits.detach())
    exact = scgrad.diagnostics.exact(toy, logits.detach(), targets, num_samples=None).cost
    best = torch.minimum(targets**2, (1 - targets) ** 2).mean()
    table = Table(title=f"scgrad quickstart: E[(b - t)^2], score function + leave-one-out, {steps} steps")
    for column in ("target t", "learned P(b = 1)", "optimum"):
        table.add_column(column, justify="right")
    for t, p in zip(targets.tolist(), probs.tolist()):
        table.add_row(f"{t:.2f}", f"{p:.3f}", "1" if t > 0.5 else "0")
    console.print(table)
    console.print(f"exact objective at the learned probabilities: {exact.item():.4f} (optimum {best.item():.4f})")
    return probs
