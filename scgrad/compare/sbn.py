"""Sigmoid belief nets of several stochastic layers on binarised images (the MuProp, REBAR and RELAX papers).

Generative model ``p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1)`` with Bernoulli layers, and the
recognition model ``q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})``; each conditional is one linear map of
the layer below (``linear``) or an MLP with one tanh hidden layer of the same width (``nonlinear``, the
papers' nonlinear model). The program draws the layers of ``q`` in turn and pays, per data point and
draw, ``-log p(x, z) + log q(z | x)``: its expectation is the negative ELBO.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.distributions as D
from torch import nn

import scgrad
from scgrad.compare.problem import Problem, generator
from scgrad.data.splits import Splits

EVALUATED = 2500  # test images (with repeats) behind each reported objective


def layer(width_in: int, width_out: int, nonlinear: bool) -> nn.Module:
    """A linear map, or one tanh hidden layer of ``width_out`` units and a linear map."""
    if not nonlinear:
        return nn.Linear(width_in, width_out)
    return nn.Sequential(nn.Linear(width_in, width_out), nn.Tanh(), nn.Linear(width_out, width_out))


def bits(logits: torch.Tensor) -> D.Distribution:
    """One Bernoulli layer, its units one event per data point; its log-prob is also read at relaxed values
    (MuProp's means, REBAR's and the relaxations' relaxed samples), so values are not validated."""
    return D.Independent(D.Bernoulli(logits=logits, validate_args=False), 1)


class SBN(nn.Module):
    """Recognition and generative networks of a sigmoid belief net with stochastic ``layers`` (widths)."""

    def __init__(self, pixels: int, layers: tuple[int, ...], nonlinear: bool, mean_image: torch.Tensor):
        super().__init__()
        widths = (pixels, *layers)
        self.recognition = nn.ModuleList(layer(a, b, nonlinear) for a, b in zip(widths, widths[1:]))
        self.generative = nn.ModuleList(layer(b, a, nonlinear) for a, b in zip(widths, widths[1:]))
        self.prior = nn.Parameter(torch.zeros(layers[-1]))
        with torch.no_grad():
            last = self.generative[0] if not nonlinear else self.generative[0][-1]
            last.bias.copy_(torch.logit(mean_image.clamp(1e-3, 1 - 1e-3)))

    def negative_elbo(self, x: torch.Tensor, num_samples: int | None, sample) -> torch.Tensor:
        """``-log p(x, z) + log q(z | x)`` per draw and data point, the layers drawn by ``sample(name, q)``."""
        below, log_q, drawn = x, 0.0, []
        for index, net in enumerate(self.recognition):
            q = bits(net(below))
            below = sample(f"z{index + 1}", q, num_samples if index == 0 else None)
            log_q = log_q + q.log_prob(below)
            drawn.append(below)
        log_p = bits(self.prior.expand(drawn[-1].shape)).log_prob(drawn[-1])
        for net, upper, lower in zip(self.generative, drawn, [x, *drawn[:-1]]):
            log_p = log_p + bits(net(upper)).log_prob(lower)
        return log_q - log_p


class SBNProblem(Problem):
    """A sigmoid belief net trained on dynamically binarised images by maximising the ELBO.

    The reported objective is the negative ELBO on the test split, in nats (one draw per binarised
    image, as many passes as make ``EVALUATED`` images). The measured gradient is the recognition
    network's.
    """

    objective_label = "-ELBO on test images (nats, one draw per image; lower is better)"

    def __init__(self, name: str, steps: int, learning_rate: float, load: Callable[[], Splits],
                 layers: tuple[int, ...], nonlinear: bool, batch_size: int):
        self.name, self.steps, self.learning_rate = name, steps, learning_rate
        self.load, self.layers, self.nonlinear, self.batch_size = load, layers, nonlinear, batch_size
        self._splits: Splits | None = None

    @property
    def splits(self) -> Splits:
        """The dataset, loaded on first use."""
        if self._splits is None:
            self._splits = self.load()
        return self._splits

    def model(self):
        train = self.splits.train
        return SBN(train.shape[1], self.layers, self.nonlinear, train.mean(0))

    def program(self, model, data, num_samples):
        def sample(name, q, draws):
            return scgrad.sample(name, q, num_samples=draws)

        scgrad.cost("negative_elbo", model.negative_elbo(data, num_samples, sample))

    def batch(self, step, seed):
        g = generator(seed, step)
        train = self.splits.train
        return torch.bernoulli(train[torch.randint(len(train), (self.batch_size,), generator=g)], generator=g)

    def measured(self, model):
        return list(model.recognition.parameters())

    def objective(self, model):
        test = self.splits.test
        passes = -(-EVALUATED // len(test))
        with torch.no_grad():
            x = torch.bernoulli(test.expand(passes, *test.shape)).flatten(0, 1)
            return float(model.negative_elbo(x, None, lambda name, q, draws: q.sample()).mean())

    def describe(self) -> str:
        """One line on the setup, for reports."""
        kind = "nonlinear (one tanh layer per conditional)" if self.nonlinear else "linear"
        widths = "-".join(str(w) for w in (self.splits.train.shape[1], *self.layers))
        return (f"{kind} sigmoid belief net {widths}, {len(self.layers)} stochastic layer(s), learned prior; batch "
                f"{self.batch_size}, Adam lr {self.learning_rate}; dynamic binarisation")
