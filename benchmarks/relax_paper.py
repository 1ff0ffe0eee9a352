"""The RELAX paper's sigmoid-belief-net table (Grathwohl et al. 2018, Table 1), rerun with scgrad.

Linear one- and two-layer sigmoid belief nets (200 units a layer) on MNIST, batch 24, trained by the
ELBO with one draw per image, each with the paper's five estimators:

- ``concrete``: Gumbel-softmax (Concrete) relaxation, temperature 0.5 (biased);
- ``nvil``: the score function with a learned baseline, an MLP (one tanh layer of 100) of the layer's
  logits, fitted by squared error (NVIL's input-dependent baseline, without its running normalisation);
- ``muprop``: MuProp with a moving-average baseline;
- ``rebar``: REBAR, η and λ tuned;
- ``relax``: RELAX with REBAR's control plus a learned one, ``η f(σ_λ(z)) + r_ρ(z)``, ``r_ρ`` two ReLU
  layers of 200 (the paper's discrete VAE control).

Every layer uses the same estimator. Adam at 5e-4 (from the paper's grid for REBAR, {5e-3, 1e-3, 5e-4,
1e-4, 5e-5}), for the model and the estimators' own parameters alike. Each (model, estimator) run is
its own resumable checkpoint under ``benchmarks/results/relax_paper/<model>/checkpoints/``: rerunning a
command with a larger ``--steps`` continues it. Every 10,000 steps the test −ELBO (2,500 test images,
one draw each), the mean training −ELBO of the minibatches since the last measurement (each estimated with one draw),
and the recognition gradient's variance on a fixed batch are recorded. ``--report`` writes
``results.json``, ``report.md`` (ours beside the published numbers) and ``curves.png`` from what is there.

    .venv/bin/python benchmarks/relax_paper.py --model linear-1 --steps 100000
    .venv/bin/python benchmarks/relax_paper.py --report
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

import scgrad
from scgrad.baselines import Critic
from scgrad.compare import checkpoint
from scgrad.compare.sbn import SBNProblem
from scgrad.compare.train import Settings, train
from scgrad.data.mnist import load_mnist
from scgrad.diagnostics.catalogue import Entry, discrete
from scgrad.distributions.base import base_distribution

OUT = Path(__file__).parent / "results" / "relax_paper"
EVERY = 10_000  # steps between measurements
LEARNING_RATE = 5e-4
MODELS = {"linear-1": (200,), "linear-2": (200, 200)}
PUBLISHED = {  # Grathwohl et al. 2018, Table 1: highest training ELBO (nats), 2,000,000 iterations, batch 24
    "linear-1": {"concrete": -111.3, "nvil": -112.5, "muprop": -111.7, "rebar": -111.6, "relax": -111.20},
    "linear-2": {"concrete": -99.62, "nvil": -99.6, "muprop": -99.07, "rebar": -98.22, "relax": -98.00},
}


class LogitCritic(Critic):
    """NVIL's input-dependent baseline: a network of the node's logits (a function of its inputs only)."""

    def forward(self, node, downstream):
        base, _ = base_distribution(node.dist)
        return Critic(self.module, (base.logits,)).forward(node, downstream)


class Flatten(nn.Module):
    """Drop a trailing dim of size 1: one prediction per data point."""

    def forward(self, x):
        return x.squeeze(-1)


def nvil() -> scgrad.ScoreFunction:
    return scgrad.ScoreFunction(LogitCritic(nn.Sequential(nn.LazyLinear(100), nn.Tanh(), nn.Linear(100, 1), Flatten())))


def relax() -> scgrad.RELAX:
    control = nn.Sequential(nn.LazyLinear(200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 1))
    return scgrad.RELAX(control, relaxed_cost=True)


ENTRIES = {
    "concrete": Entry("concrete", lambda dist: scgrad.GumbelSoftmax(0.5), discrete),
    "nvil": Entry("nvil", lambda dist: nvil(), discrete, biased=False),
    "muprop": Entry("muprop", lambda dist: scgrad.MuProp(scgrad.MovingAverage()), discrete),
    "rebar": Entry("rebar", lambda dist: scgrad.REBAR(), discrete),
    "relax": Entry("relax", lambda dist: relax(), discrete, biased=False),
}


def problem(model: str, steps: int) -> SBNProblem:
    return SBNProblem(f"relax-paper-{model}", steps, LEARNING_RATE, load_mnist, MODELS[model], False, 24)


def run(model: str, names: list[str], steps: int, every: int, out: Path) -> None:
    """Train each estimator on ``model`` to ``steps`` (continuing its checkpoint), printing progress."""
    folder = out / model / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(steps=steps, samples=1, seed=0, repeats=20, checkpoints=steps // every)
    for name in names:
        start = time.perf_counter()
        for step in train(problem(model, steps), ENTRIES[name], settings, folder / f"{name}.pt"):
            if step % every == 0:
                print(f"{model} {name}: step {step:,} ({time.perf_counter() - start:.0f} s)", flush=True)
        report(out)


def curves(out: Path) -> dict:
    """Every run's history, by model and estimator, from the checkpoints present."""
    found = {}
    for model in MODELS:
        for name in ENTRIES:
            state = checkpoint.load(out / model / "checkpoints" / f"{name}.pt")
            if state is not None:
                found.setdefault(model, {})[name] = {
                    "steps": state["step"], "ms_per_step": 1000 * statistics.median(state["durations"] or [0.0]),
                    "history": state["history"]}
    return found


def report(out: Path) -> None:
    """``results.json``, ``report.md`` and ``curves.png`` in ``out``, from the checkpoints there."""
    found = curves(out)
    checkpoint.write_json({"published": PUBLISHED, "runs": found, "learning_rate": LEARNING_RATE}, out / "results.json")
    lines = ["# The RELAX paper's sigmoid belief nets, rerun with scgrad", "",
             "Training ELBO: the mean one-draw ELBO of the minibatches since the previous measurement (nats, higher is better); test: the "
             "ELBO of 2,500 test images, one draw each. Published: Grathwohl et al. 2018, Table 1 (highest training "
             "ELBO after 2,000,000 iterations). Produced by `benchmarks/relax_paper.py` (its docstring has the "
             "commands and every difference from the paper's setup). Concrete's training ELBO is the relaxed one (the cost "
             "at the relaxed sample, which the relaxation trains on), not comparable with the others; its test ELBO is "
             "the true one.", ""]
    for model, runs in found.items():
        lines += [f"## {model}", "", "| estimator | steps | train ELBO | test ELBO | best train ELBO | published | ms/step |",
                  "|---|---|---|---|---|---|---|"]
        for name, run_ in runs.items():
            history = [h for h in run_["history"] if h["train_objective"] is not None]
            last = history[-1] if history else None
            best = max((-h["train_objective"] for h in history), default=None)
            cells = [f"{-last['train_objective']:.2f}" if last else "-", f"{-last['objective']:.2f}" if last else "-",
                     f"{best:.2f}" if best is not None else "-"]
            lines.append(f"| {name} | {run_['steps']:,} | {' | '.join(cells)} | {PUBLISHED[model][name]} | "
                         f"{run_['ms_per_step']:.1f} |")
        lines.append("")
    lines.append("![test ELBO against training steps](curves.png)")
    checkpoint.write_text("\n".join(lines) + "\n", out / "report.md")
    plot(found, out)


def plot(found: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(MODELS), figsize=(12, 4.5), squeeze=False)
    styles = dict(zip(ENTRIES, ["-o", "--s", "-.^", ":D", "-v"]))
    for axis, model in zip(axes[0], MODELS):
        for name, run_ in found.get(model, {}).items():
            history = [h for h in run_["history"] if h["step"] > 0]
            axis.plot([h["step"] for h in history], [-h["objective"] for h in history], styles[name], label=name,
                      markersize=4)
            axis.axhline(PUBLISHED[model][name], color=axis.lines[-1].get_color(), linewidth=0.6, alpha=0.6)
        if not found.get(model):
            axis.set_visible(False)
            continue
        axis.set_xscale("log")
        axis.set_title(f"{model} sigmoid belief net, MNIST\n(thin lines: published best training ELBO at 2M steps)")
        axis.set_xlabel("training step")
        axis.set_ylabel("test ELBO, 2,500 images, one draw each (nats)")
        if axis.lines:
            axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=110)
    plt.close(figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS))
    parser.add_argument("--estimators", default=",".join(ENTRIES), help=f"comma-separated, of {', '.join(ENTRIES)}")
    parser.add_argument("--steps", type=int, default=100_000, help="a multiple of --every")
    parser.add_argument("--every", type=int, default=EVERY, help="steps between measurements")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only write the report from the checkpoints present")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.report or args.model is None:
        report(args.out)
        print(json.dumps({m: {n: r["steps"] for n, r in runs.items()} for m, runs in curves(args.out).items()}))
        return
    run(args.model, args.estimators.split(","), args.steps, args.every, args.out)


if __name__ == "__main__":
    main()
