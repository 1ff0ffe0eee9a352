"""Training one problem's model with one estimator, measured at checkpoints, resumable."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from scgrad.compare import checkpoint
from scgrad.compare.problem import Problem
from scgrad.program import surrogate
from scgrad.diagnostics.assignment import Assignment
from scgrad.diagnostics.catalogue import Entry
from scgrad.diagnostics.measure import cost_elements, exact_gradient, measure


@dataclass(frozen=True)
class Settings:
    """How ``scgrad compare`` trains and measures.

    Attributes:
        steps: training steps per estimator.
        samples: draws of the latent per data point (``num_samples``).
        seed: seeds the model's initialisation, the data and the draws; the same for every estimator.
        repeats: gradient estimates per variance measurement.
        checkpoints: variance measurements after step 0 (evenly spaced, the last at the final step);
            each one also writes the checkpoint a resumed run continues from.
    """

    steps: int
    samples: int
    seed: int
    repeats: int
    checkpoints: int

    def checkpoint_steps(self) -> list[int]:
        """The steps after which variance is measured and a checkpoint is written (step 0 included)."""
        count = max(1, min(self.checkpoints, self.steps))
        return sorted({0} | {round(i * self.steps / count) for i in range(1, count + 1)})


def train(problem: Problem, entry: Entry, settings: Settings, path: Path) -> Iterator[int]:
    """Train a fresh model (or continue the checkpoint at ``path``) with ``entry``; yield each step done.

    At every checkpoint step the gradient of ``problem.measured(model)`` is estimated
    ``settings.repeats`` times on the problem's probe batch (variance, signal-to-noise, bias where the
    exact gradient is known) and the objective evaluated, with a generator of their own and a copy of
    the estimators, so measuring does not change the training. Then the
    whole state (model, optimiser, estimators, torch's generator, the history, the duration of each
    step) is saved at ``path``, finally with ``"done": True``. A checkpoint of fewer steps continues to
    ``settings.steps`` (a longer run of the same configuration, its checkpoint steps on the same grid).
    """
    state = checkpoint.load(path)
    if state is not None and state["step"] >= settings.steps:
        yield state["step"]
        return
    torch.manual_seed(settings.seed)
    model = problem.model()
    probe = problem.probe(settings.seed)
    assignment = Assignment(entry)
    assignment.prepare(problem.program, model, probe, settings.samples)
    optimiser = torch.optim.Adam([*model.parameters(), *assignment.parameters()], lr=problem.learning_rate)
    reference = cost_elements(problem.program, model, probe, 1)
    checkpoints = settings.checkpoint_steps()

    if state is None:
        step, durations, history = 0, [], []
    else:
        step, durations, history = state["step"], state["durations"], state["history"]
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        assignment.load_state_dict(state["estimators"])
        torch.set_rng_state(state["rng"])

    def measure_and_save(costs: list[float]) -> None:
        args = (model, probe, settings.samples)
        params = problem.measured(model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed * 1_000_003 + step)
            exact, _ = exact_gradient(problem.program, args, params)
            with copy.deepcopy(assignment):  # measuring must not move the training estimators' state
                m = measure(problem.program, args, params, settings.repeats, reference, exact)
            objective = problem.objective(model)
        history.append({"step": step, "seconds": sum(durations), "variance": m.variance, "snr": m.snr,
                        "bias": m.bias, "bias_detected": m.bias_detected, "evaluations": m.evaluations,
                        "objective": objective, "train_objective": sum(costs) / len(costs) if costs else None})
        checkpoint.save({"step": step, "durations": durations, "history": history, "done": step == settings.steps,
                         "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                         "estimators": assignment.state_dict(), "rng": torch.get_rng_state()}, path)

    if state is None:
        measure_and_save([])
    costs: list[float] = []
    while step < settings.steps:
        data = problem.batch(step, settings.seed)
        start = time.perf_counter()
        optimiser.zero_grad()
        with assignment:
            objective = surrogate(problem.program, model, data, settings.samples)
        objective.backward()
        optimiser.step()
        durations.append(time.perf_counter() - start)
        costs.append(float(objective.cost))
        step += 1
        if step in checkpoints:
            measure_and_save(costs)
            costs = []
        yield step
