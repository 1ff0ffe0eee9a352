"""Discrete VAEs on binarised images: the model, its ELBO as a stochastic program, and the problem."""

from __future__ import annotations

from typing import Callable

import torch
import torch.distributions as D
from torch import nn

import scgrad
from scgrad.compare.latents import BinaryLatent, CategoricalLatent
from scgrad.compare.problem import Problem, generator
from scgrad.data.splits import Splits

EVALUATED = 2500  # test images (with repeats) behind each reported objective


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with LeakyReLU between them."""
    layers: list[nn.Module] = []
    for i, (width_in, width_out) in enumerate(zip(widths, widths[1:])):
        if i:
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Encoder ``x -> logits of q(z | x)``, decoder ``z -> logits of p(x | z)``, uniform prior on ``z``.

    The encoder's hidden widths are ``hidden``; the decoder mirrors them. The decoder's output bias
    starts at the logit of the mean training image (a common start that saves early steps).
    """

    def __init__(self, pixels: int, latent: BinaryLatent | CategoricalLatent, hidden: tuple[int, ...], mean_image: torch.Tensor):
        super().__init__()
        self.latent = latent
        self.encoder = mlp([pixels, *hidden, latent.size])
        self.decoder = mlp([latent.size, *reversed(hidden), pixels])
        with torch.no_grad():
            self.decoder[-1].bias.copy_(torch.logit(mean_image.clamp(1e-3, 1 - 1e-3)))

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` for binary images ``x`` of shape ``[B, pixels]``."""
        return self.latent.posterior(self.encoder(x))

    def kl(self, q: D.Distribution) -> torch.Tensor:
        """``KL(q || prior)`` per data point, ``[B]``."""
        return D.kl_divergence(q, self.latent.prior(q))

    def nll(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``-log p(x | z)`` per sample and data point, ``[S, B]`` for ``z`` of shape ``[S, B, ...]``."""
        return -D.Independent(D.Bernoulli(logits=self.decoder(self.latent.flatten(z))), 1).log_prob(x)


def negative_elbo(model: VAE, x: torch.Tensor, num_samples: int) -> None:
    """The ELBO's costs: ``KL(q(z|x) || p(z))`` (recorded before ``z``, so it is not downstream of it)
    and ``-log p(x | z)`` for ``num_samples`` draws of ``z ~ q(z | x)``."""
    q = model.posterior(x)
    scgrad.cost("kl", model.kl(q))
    z = scgrad.sample("z", q, num_samples=num_samples)
    scgrad.cost("nll", model.nll(z, x))


class VAEProblem(Problem):
    """A discrete VAE trained on dynamically binarised images by maximising the single-level ELBO.

    The reported objective is the negative ELBO on the test split, in nats: one draw of ``z`` per
    binarised image, with as many passes over the split (fresh binarisations) as make
    ``EVALUATED`` images. The measured gradient is the encoder's.

    Args:
        name, steps, learning_rate: as in :class:`~scgrad.compare.problem.Problem`.
        load: returns the dataset's :class:`~scgrad.data.splits.Splits` (called once, on first use).
        latent: the latent layer.
        hidden: the encoder's hidden widths.
        batch_size: images per training step.
    """

    objective_label = "-ELBO on test images (nats, one draw of z each; lower is better)"

    def __init__(self, name: str, steps: int, learning_rate: float, load: Callable[[], Splits],
                 latent: BinaryLatent | CategoricalLatent, hidden: tuple[int, ...], batch_size: int):
        self.name, self.steps, self.learning_rate = name, steps, learning_rate
        self.load, self.latent, self.hidden, self.batch_size = load, latent, hidden, batch_size
        self._splits: Splits | None = None

    @property
    def splits(self) -> Splits:
        """The dataset, loaded on first use."""
        if self._splits is None:
            self._splits = self.load()
        return self._splits

    def model(self):
        train = self.splits.train
        return VAE(train.shape[1], self.latent, self.hidden, train.mean(0))

    def program(self, model, data, num_samples):
        negative_elbo(model, data, num_samples)

    def batch(self, step, seed):
        g = generator(seed, step)
        train = self.splits.train
        images = train[torch.randint(len(train), (self.batch_size,), generator=g)]
        return torch.bernoulli(images, generator=g)

    def measured(self, model):
        return list(model.encoder.parameters())

    def objective(self, model):
        test = self.splits.test
        passes = -(-EVALUATED // len(test))
        with torch.no_grad():
            x = torch.bernoulli(test.expand(passes, *test.shape))
            q = model.posterior(x)
            return float((model.nll(q.sample(), x) + model.kl(q)).mean())

    def describe(self) -> str:
        """One line on the setup, for reports."""
        pixels = self.splits.train.shape[1]
        widths = "-".join(str(w) for w in (pixels, *self.hidden))
        return (f"encoder {widths}-({self.latent}), mirrored decoder, LeakyReLU; batch {self.batch_size}, "
                f"Adam lr {self.learning_rate}; dynamic binarisation")
