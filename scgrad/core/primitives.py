"""The two primitives a program is written with: ``sample`` and ``cost``."""

from __future__ import annotations

import torch

from scgrad.core.runtime import Message, active, apply_stack, direct_handler, plain_draw
from scgrad.errors import ScgradError


def sample(name: str, dist: torch.distributions.Distribution, estimator=None, *, num_samples: int | None = None):
    """Draw a named random choice from ``dist``; under ``surrogate``, through ``estimator``.

    Args:
        name: unique within one run of the program.
        dist: any ``torch.distributions.Distribution`` (Pyro's too).
        estimator: how the gradient flows through this choice. ``None`` picks one by the
            distribution's type: ``Reparam()`` when it has ``rsample``, else
            ``ScoreFunction(baseline=MovingAverage())`` (see :class:`scgrad.Defaults`).
        num_samples: ``k`` prepends a dimension of size ``k`` (``sample_shape=(k,)``); ``None`` adds none.

    Returns:
        A tensor of shape ``sample_shape + batch_shape + event_shape``. Outside ``surrogate`` it is a
        plain ``dist.sample()``, without gradient.
    """
    if not isinstance(name, str):
        raise ScgradError(f"scgrad.sample: the name must be a str; got {type(name).__name__} {name!r}.")
    if not isinstance(dist, torch.distributions.Distribution):
        raise ScgradError(
            f"scgrad.sample({name!r}, ...): the second argument must be a torch.distributions.Distribution; "
            f"got {type(dist).__name__}. Wrap parameters in one, e.g. D.Bernoulli(logits=x)."
        )
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1):
        raise ScgradError(
            f"scgrad.sample({name!r}, ...): num_samples must be a positive int or None; got {num_samples!r}."
        )
    handler = direct_handler()
    if handler is not None:
        return handler.sample_directly(name, dist, estimator, num_samples)
    if not active():
        return plain_draw(dist, num_samples)
    return apply_stack(Message("sample", name, fn=dist, estimator=estimator, num_samples=num_samples)).value


def cost(name: str, value: torch.Tensor) -> None:
    """Record a named cost: the objective is the expectation of ``value.mean()``, minimised.

    Every element of ``value`` is a cost of one data point or sample; the objective averages them
    (sums, with probabilities as weights, over dimensions that enumerate a node's support). Keep one
    element per data point, rather than summing over the batch, so that each data point's cost is
    credited to its own random choices only. Outside ``surrogate`` this does nothing.
    """
    if not isinstance(name, str):
        raise ScgradError(f"scgrad.cost: the name must be a str; got {type(name).__name__} {name!r}.")
    if not isinstance(value, torch.Tensor):
        raise ScgradError(
            f"scgrad.cost({name!r}, ...): the value must be a torch.Tensor; got {type(value).__name__}. "
            f"Use torch.as_tensor(value) for a constant."
        )
    with torch._C.DisableTorchFunctionSubclass():  # asked of a value carrying provenance, not through its hook
        floating = value.is_floating_point()
    if not floating:
        raise ScgradError(
            f"scgrad.cost({name!r}, ...): the value has dtype {value.dtype}; costs are averaged, minimised and "
            f"differentiated, so they must be real floating point. "
            + ("Record a real function of it (value.abs() ** 2, value.real)." if value.is_complex() else "Use value.float().")
        )
    handler = direct_handler()
    if handler is not None:
        handler.cost_directly(name, value)
    elif active():
        apply_stack(Message("cost", name, value=value))
