"""Relaxations the estimators need: Concrete with conditional Gumbel sampling, Gumbel-Sinkhorn."""

from scgrad.distributions.concrete import BinaryConcrete, Concrete, concrete
from scgrad.distributions.gumbel_sinkhorn import GumbelSinkhorn, matching, sinkhorn

__all__ = ["BinaryConcrete", "Concrete", "GumbelSinkhorn", "concrete", "matching", "sinkhorn"]
