"""The temperature of a relaxation: fixed, learnable, or annealed on a schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from scgrad.errors import ScgradError


def _positive(value, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ScgradError(f"{who}: the temperature must be a positive finite number; got {value!r}.")
    return float(value)


class Temperature(nn.Module):
    """A positive temperature, kept on the log scale.

    Fixed by default (a buffer, so it reaches ``state_dict`` and moves with ``.to()``); with
    ``learnable=True`` a parameter, which the surrogate's gradient reaches and an optimiser updates.
    Calling it returns the temperature as a 0-dim tensor.

    Example::

        tau = scgrad.Temperature(0.5, learnable=True)
        estimator = scgrad.GumbelSoftmax(temperature=tau)
        optimizer = torch.optim.Adam([*model.parameters(), *estimator.parameters()])

    Args:
        value: the initial temperature.
        learnable: make it an ``nn.Parameter``.
    """

    def __init__(self, value: float = 1.0, learnable: bool = False):
        super().__init__()
        log_value = torch.tensor(math.log(_positive(value, "Temperature")))
        if learnable:
            self.log_value = nn.Parameter(log_value)
        else:
            self.register_buffer("log_value", log_value)

    @property
    def learnable(self) -> bool:
        return isinstance(self.log_value, nn.Parameter)

    def forward(self) -> torch.Tensor:
        return self.log_value.exp()

    def set(self, value: float) -> None:
        """Replace the value (in place, so optimisers and schedules keep their reference)."""
        with torch.no_grad():
            self.log_value.fill_(math.log(_positive(value, "Temperature.set")))

    def extra_repr(self) -> str:
        return f"{self().item():.4g}, learnable={self.learnable}"


def as_temperature(temperature, who: str) -> Temperature:
    """``temperature`` if it is a :class:`Temperature`, else a fixed one with that value."""
    if isinstance(temperature, Temperature):
        return temperature
    return Temperature(_positive(temperature, who))


class ExponentialAnnealing:
    """Anneal a fixed temperature: ``τ = max(minimum, τ0 · exp(-rate · t))`` after ``t`` steps.

    ``t`` advances by one per :meth:`step` and the value changes every ``every`` steps, as in Jang et
    al. 2017 (``τ = max(0.5, exp(-r t))``, updated every 500 steps). Call :meth:`step` once per training
    step, like a learning-rate scheduler; ``state_dict`` / ``load_state_dict`` checkpoint it.

    Example::

        estimator = scgrad.GumbelSoftmax(temperature=1.0)
        annealing = scgrad.ExponentialAnnealing(estimator.temperature, rate=1e-4, minimum=0.5, every=500)
        for batch in data:
            scgrad.surrogate(model, batch).backward(); optimizer.step(); annealing.step()

    Args:
        temperature: a fixed :class:`Temperature` (e.g. ``estimator.temperature``); its value now is ``τ0``.
        rate: decay per step.
        minimum: the floor.
        every: steps between updates.
    """

    def __init__(self, temperature: Temperature, rate: float, minimum: float = 0.5, every: int = 1):
        if not isinstance(temperature, Temperature):
            raise ScgradError(
                f"ExponentialAnnealing: expected an scgrad.Temperature (e.g. estimator.temperature); got "
                f"{type(temperature).__name__}."
            )
        if temperature.learnable:
            raise ScgradError(
                "ExponentialAnnealing: this temperature is learnable (an optimiser sets it); anneal a fixed one, "
                "Temperature(value, learnable=False)."
            )
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ScgradError(f"ExponentialAnnealing: every must be a positive int; got {every!r}.")
        if not rate >= 0:
            raise ScgradError(f"ExponentialAnnealing: rate must be non-negative; got {rate!r}.")
        self.temperature = temperature
        self.initial = temperature().item()
        self.rate = float(rate)
        self.minimum = _positive(minimum, "ExponentialAnnealing(minimum=...)")
        self.every = every
        self.steps = 0

    def value(self, steps: int) -> float:
        """The temperature after ``steps`` steps."""
        return max(self.minimum, self.initial * math.exp(-self.rate * (steps - steps % self.every)))

    def step(self) -> None:
        """Advance one step and update the temperature."""
        self.steps += 1
        self.temperature.set(self.value(self.steps))

    def state_dict(self) -> dict:
        return {"initial": self.initial, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.initial, self.steps = state["initial"], state["steps"]
        self.temperature.set(self.value(self.steps))
