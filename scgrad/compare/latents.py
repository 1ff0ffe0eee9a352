"""The discrete latent layers of the VAE problems: independent bits, or groups of one-hot categories."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributions as D


@dataclass(frozen=True)
class BinaryLatent:
    """``bits`` independent Bernoulli variables, uniform prior (the ARM / DisARM benchmark)."""

    bits: int

    @property
    def size(self) -> int:
        """Logits per data point (and width of the flattened sample)."""
        return self.bits

    def posterior(self, logits: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` from the encoder's ``[B, size]`` logits; one event per data point."""
        return D.Independent(D.Bernoulli(logits=logits), 1)

    def prior(self, posterior: D.Independent) -> D.Distribution:
        """The uniform prior, batched like ``posterior``."""
        return D.Independent(type(posterior.base_dist)(logits=torch.zeros_like(posterior.base_dist.logits)), 1)

    def flatten(self, z: torch.Tensor) -> torch.Tensor:
        """The sample as the decoder's input, ``[..., size]``."""
        return z

    def __str__(self) -> str:
        return f"{self.bits} Bernoulli"


@dataclass(frozen=True)
class CategoricalLatent:
    """``groups`` independent one-hot variables of ``classes`` categories, uniform prior (Jang et al. 2017)."""

    groups: int
    classes: int

    @property
    def size(self) -> int:
        """Logits per data point (and width of the flattened sample)."""
        return self.groups * self.classes

    def posterior(self, logits: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` from the encoder's ``[B, size]`` logits; one event per data point."""
        return D.Independent(D.OneHotCategorical(logits=logits.unflatten(-1, (self.groups, self.classes))), 1)

    def prior(self, posterior: D.Independent) -> D.Distribution:
        """The uniform prior, batched like ``posterior``."""
        return D.Independent(type(posterior.base_dist)(logits=torch.zeros_like(posterior.base_dist.logits)), 1)

    def flatten(self, z: torch.Tensor) -> torch.Tensor:
        """The sample as the decoder's input, ``[..., size]``."""
        return z.flatten(-2)

    def __str__(self) -> str:
        return f"{self.groups} x {self.classes} categorical"
