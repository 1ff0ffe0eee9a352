"""What ``scgrad compare`` trains: a model and the stochastic program whose expected cost it minimises."""

from __future__ import annotations

import torch
from torch import nn


def generator(seed: int, step: int) -> torch.Generator:
    """A generator for one step's data, the same for every estimator and on resume (``step = -1``: the probe)."""
    return torch.Generator().manual_seed((seed << 32) + step + 1)


class Problem:
    """A problem for ``scgrad compare``: subclass it, set the attributes and fill in every method.

    ``scgrad compare --problem FILE.py:NAME`` (or ``module:NAME``) runs a subclass (or an instance)
    of your own; docs/user_problems.md walks through a complete one (``examples/bandit_problem.py``).
    The program is called as ``program(model, data, num_samples)``; ``data`` comes from :meth:`batch`
    (training, a pure function of the step and seed, so a resumed run sees the same data) or from
    :meth:`probe` (the fixed batch on which gradient variance is measured). Every estimator trains a
    fresh :meth:`model` (made under the same seed) with Adam at ``learning_rate``.

    Attributes:
        name: how reports name the problem (and the default output folder, ``scgrad-compare/NAME``).
        steps: the default number of training steps (``--steps`` overrides it).
        learning_rate: Adam's learning rate.
        objective_label: what :meth:`objective` returns, for the plots' axis and the reports
            (e.g. ``"-ELBO on test images (nats)"``).
    """

    name: str = ""
    steps: int = 0
    learning_rate: float = 1e-3
    objective_label: str = "objective (lower is better)"

    def model(self) -> nn.Module:
        """A freshly initialised model (under torch's global generator)."""
        raise NotImplementedError

    def program(self, model: nn.Module, data: torch.Tensor, num_samples: int) -> None:
        """The generative story: draws with ``scgrad.sample``, pays with ``scgrad.cost``."""
        raise NotImplementedError

    def batch(self, step: int, seed: int) -> torch.Tensor:
        """The training data of ``step``."""
        raise NotImplementedError

    def probe(self, seed: int) -> torch.Tensor:
        """The fixed data on which gradient variance (and bias, where known) is measured."""
        return self.batch(-1, seed)

    def measured(self, model: nn.Module) -> list[torch.Tensor]:
        """The parameters whose gradient the estimator affects (e.g. a VAE's encoder)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line on the setup (architecture, optimiser), for reports."""
        raise NotImplementedError

    def objective(self, model: nn.Module) -> float:
        """The objective to report (lower is better), evaluated with torch's generator as seeded by the caller."""
        raise NotImplementedError
