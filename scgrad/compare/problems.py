"""The problems ``scgrad compare --problem NAME`` knows, by name; adding one is one line."""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable

from scgrad.compare.latents import BinaryLatent, CategoricalLatent
from scgrad.compare.problem import Problem
from scgrad.compare.sbn import SBNProblem
from scgrad.compare.toy import BernoulliToy
from scgrad.compare.vae import VAEProblem
from scgrad.data.digits import load_digits
from scgrad.data.mnist import load_mnist
from scgrad.errors import ScgradError

PROBLEMS: MappingProxyType[str, Callable[[], Problem]] = MappingProxyType({
    "bernoulli-toy": BernoulliToy,
    "vae-digits": lambda: VAEProblem("vae-digits", 400, 1e-2, load_digits, BinaryLatent(16), (128,), 50),
    "vae-digits-categorical": lambda: VAEProblem(
        "vae-digits-categorical", 400, 1e-2, load_digits, CategoricalLatent(4, 4), (128,), 50),
    # ARM / DisARM's nonlinear Bernoulli VAE (Yin & Zhou 2019; Dong, Mnih & Tucker 2020).
    "vae-mnist": lambda: VAEProblem("vae-mnist", 5000, 1e-4, load_mnist, BinaryLatent(200), (200, 200), 50),
    # Jang, Gu & Poole 2017's categorical VAE, as in the ReinMax and Gumbel-Rao benchmarks.
    "vae-mnist-categorical": lambda: VAEProblem(
        "vae-mnist-categorical", 5000, 1e-3, load_mnist, CategoricalLatent(20, 10), (512, 256), 100),
    # Sigmoid belief nets: a small one for quick runs; the REBAR / RELAX papers' linear models (one and two
    # stochastic layers of 200, batch 24); the MuProp paper's three layers of 200 (linear).
    "sbn-digits": lambda: SBNProblem("sbn-digits", 400, 3e-3, load_digits, (16, 16), False, 50),
    "sbn-mnist-linear-1": lambda: SBNProblem("sbn-mnist-linear-1", 5000, 3e-4, load_mnist, (200,), False, 24),
    "sbn-mnist-linear-2": lambda: SBNProblem("sbn-mnist-linear-2", 5000, 3e-4, load_mnist, (200, 200), False, 24),
    "sbn-mnist-linear-3": lambda: SBNProblem("sbn-mnist-linear-3", 5000, 3e-4, load_mnist, (200, 200, 200), False, 24),
})
DEFAULT = "vae-digits"


def problem(name: str) -> Problem:
    """A new instance of the problem called ``name``."""
    if name not in PROBLEMS:
        raise ScgradError(f"unknown problem {name!r}; known: {sorted(PROBLEMS)}.")
    return PROBLEMS[name]()
