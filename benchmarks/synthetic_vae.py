"""The discrete VAE that the speed benchmarks time: MLP encoder and decoder, synthetic pixels.

Pixels are Bernoulli(0.3) draws (a step's time does not depend on the data); the latent is
``latents`` one-hot groups of ``categories`` classes. Imported by ``scaling.py`` and
``storchastic_overhead.py``, which put this folder on ``sys.path``, with the REINFORCE + leave-one-out
loss they time scgrad against.
"""

from __future__ import annotations

import math

import torch
import torch.distributions as D
from torch import nn


class SyntheticVAE:
    """Encoder ``pixels-hidden-(latents x categories)``, the mirrored decoder, one fixed batch, seed 0, on ``device``."""

    def __init__(self, batch: int, pixels: int, hidden: int, latents: int, categories: int, device="cpu"):
        torch.manual_seed(0)
        self.shape = (latents, categories)
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, latents * categories)).to(device)
        self.decoder = nn.Sequential(nn.Linear(latents * categories, hidden), nn.ReLU(), nn.Linear(hidden, pixels)).to(device)
        self.x = torch.bernoulli(torch.full((batch, pixels), 0.3, device=device))
        self.params = [*self.encoder.parameters(), *self.decoder.parameters()]

    def logits(self, x=None) -> torch.Tensor:
        """Encoder logits of ``x`` (default: the fixed batch), shape ``[batch, latents, categories]``."""
        return self.encoder(self.x if x is None else x).view(-1, *self.shape)

    def nll(self, z, x=None) -> torch.Tensor:
        """``-log p(x | z)`` per sample and data point, ``z`` of shape ``[..., latents, categories]``."""
        x = self.x if x is None else x
        return -D.Independent(D.Bernoulli(logits=self.decoder(z.flatten(-2))), 1).log_prob(x)


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """``KL(q || uniform)`` per data point for one-hot groups with ``logits`` ``[..., latents, categories]``."""
    log_q = logits.log_softmax(-1)
    return (log_q.exp() * (log_q + math.log(logits.shape[-1]))).sum((-1, -2))


def reinforce_loo_loss(vae: SyntheticVAE, samples: int) -> torch.Tensor:
    """REINFORCE with a leave-one-out baseline over ``samples`` draws per data point, written out by hand."""
    logits = vae.logits()
    q = D.Independent(D.OneHotCategorical(logits=logits), 1)
    z = q.sample((samples,))
    nll = vae.nll(z)
    f = nll.detach()
    baseline = (f.sum(0, keepdim=True) - f) / (samples - 1)
    return kl_to_uniform(logits).mean() + nll.mean() + ((f - baseline) * q.log_prob(z)).mean()
