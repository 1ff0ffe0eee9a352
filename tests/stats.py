"""Statistical checks shared by the tests: a mean against a known value, within standard errors."""

from __future__ import annotations

import torch

Z_LIMIT = 4.5  # per component; with fixed seeds a pass or a fail is deterministic


def gradient_samples(estimate, repeats: int, seed: int = 0) -> torch.Tensor:
    """Stack ``repeats`` calls of ``estimate()`` (each a flat gradient tensor), under a fixed seed."""
    torch.manual_seed(seed)
    return torch.stack([estimate().detach().reshape(-1) for _ in range(repeats)])


def z_scores(samples: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """``|mean - expected| / standard error`` per component.

    A component with no variance (an exact estimator) must match to rounding: its score is 0 if it
    does and infinite if it does not.
    """
    expected = expected.detach().reshape(-1).to(samples.dtype)
    mean = samples.mean(0)
    stderr = samples.std(0) / samples.shape[0] ** 0.5
    exact = stderr <= 1e-6 * (1 + expected.abs())
    close = (mean - expected).abs() <= 1e-5 * (1 + expected.abs())
    z = (mean - expected).abs() / torch.where(exact, torch.ones_like(stderr), stderr)
    return torch.where(exact, torch.where(close, torch.zeros_like(z), torch.full_like(z, float("inf"))), z)


def assert_unbiased(samples: torch.Tensor, expected: torch.Tensor, limit: float = Z_LIMIT) -> None:
    """Fail if any component's mean is more than ``limit`` standard errors from ``expected``."""
    z = z_scores(samples, expected)
    assert bool((z < limit).all()), (
        f"biased: |z| = {z.tolist()} (limit {limit}); mean {samples.mean(0).tolist()}, "
        f"expected {expected.reshape(-1).tolist()}"
    )


def assert_same_mean(first: torch.Tensor, second: torch.Tensor, limit: float = Z_LIMIT) -> None:
    """Fail if two independent sets of samples have means more than ``limit`` joint standard errors apart.

    For comparing an estimator with another unbiased one where no exact value exists (e.g. ``exact``
    with continuous nodes, exact only given their draws).
    """
    stderr = (first.var(0) / first.shape[0] + second.var(0) / second.shape[0]).sqrt()
    gap = (first.mean(0) - second.mean(0)).abs()
    exact = stderr <= 1e-6 * (1 + second.mean(0).abs())
    close = gap <= 1e-5 * (1 + second.mean(0).abs())
    z = torch.where(exact, torch.where(close, torch.zeros_like(gap), torch.full_like(gap, float("inf"))), gap / stderr.clamp_min(1e-30))
    assert bool((z < limit).all()), f"biased: |z| = {z.tolist()} (limit {limit}); means {first.mean(0).tolist()} vs {second.mean(0).tolist()}"
