"""The toy problem of the REBAR and RELAX papers: minimise E[(b - t)^2], b ~ Bernoulli(θ).

For t = 0.45 and t = 0.499 the optimum is θ = 0, but the two outcomes' costs differ by only
1 - 2t (0.1, then 0.002), so the gradient is tiny next to the noise of a one-sample estimate. Each
estimator trains θ = sigmoid(φ) from θ = 0.5 with Adam (its own parameters too, through
``Objective.backward()``), one draw per step (a pair for ARM and DisARM); every ``--every`` steps the
variance of its gradient at the current θ is measured over ``--replicas`` independent draws.

What the papers show (read off their figures, not tables): on t = 0.499 RELAX drives θ towards 0
with a gradient variance orders of magnitude below REINFORCE's, while REINFORCE and REBAR make slow,
noisy progress (Grathwohl et al. 2018, Fig. 1; Tucker et al. 2017, Fig. 1 for t = 0.45).

    .venv/bin/python benchmarks/toy.py --steps 2000 --out benchmarks/out/toy

``--device cuda`` keeps φ, the replicas and the estimators' parameters there.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

import torch
import torch.distributions as D

import scgrad

ESTIMATORS = {
    "REINFORCE": (lambda: scgrad.ScoreFunction(), None),
    "REBAR": (lambda: scgrad.REBAR(), None),
    "RELAX": (lambda: scgrad.RELAX(), None),
    "RELAX+REBAR": (lambda: scgrad.RELAX(relaxed_cost=True), None),
    "MuProp+MA": (lambda: scgrad.MuProp(scgrad.MovingAverage()), None),
    "ARM": (lambda: scgrad.ARM(), 2),
    "DisARM": (lambda: scgrad.DisARM(), 2),
}


def toy(logits: torch.Tensor, target: float, estimator, num_samples) -> None:
    b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=num_samples)
    scgrad.cost("squared_error", (b - target) ** 2)


FLOOR = 1e-30  # a variance of exactly zero (DisARM at θ = 0.5) is recorded as this


def gradient_variance(phi, target, estimator, num_samples, replicas):
    """Variance of the one-step gradient at φ, over `replicas` independent draws (batch elements).

    Measured with a copy of the estimator, so that measuring leaves its state (moving averages) alone.
    """
    copies = phi.detach().expand(replicas).clone().requires_grad_()
    objective = scgrad.surrogate(toy, copies, target, copy.deepcopy(estimator), num_samples)
    (grad,) = torch.autograd.grad(objective.loss, copies)
    return (grad * replicas).var().item()


def train(name, target, steps, every, replicas, seed, device="cpu"):
    make, num_samples = ESTIMATORS[name]
    torch.manual_seed(seed)
    estimator = make().to(device)
    phi = torch.zeros((), device=device, requires_grad=True)
    scgrad.surrogate(toy, phi, target, estimator, num_samples)  # builds lazy controls
    optimiser = torch.optim.Adam([phi, *estimator.parameters()], lr=0.01)
    record = {"step": [], "theta": [], "log_variance": []}
    for step in range(steps + 1):
        if step % every == 0:
            record["step"].append(step)
            record["theta"].append(torch.sigmoid(phi).item())
            variance = gradient_variance(phi, target, estimator, num_samples, replicas)
            record["log_variance"].append(math.log(max(variance, FLOOR)))
        optimiser.zero_grad()
        scgrad.surrogate(toy, phi, target, estimator, num_samples).backward()
        optimiser.step()
    record["final_theta"] = record["theta"][-1]
    record["converged"] = record["final_theta"] < 0.1
    return record


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(results)
    fig, axes = plt.subplots(2, len(targets), figsize=(6 * len(targets) + 2, 7), squeeze=False)
    for column, target in enumerate(targets):
        for name, record in results[target].items():
            axes[0, column].plot(record["step"], record["theta"], label=name)
            axes[1, column].plot(record["step"], record["log_variance"], label=name)
        axes[0, column].set(title=f"t = {target}", ylabel="θ = P(b = 1)", ylim=(-0.02, 1.02))
        axes[1, column].set(xlabel="step", ylabel="log variance of the gradient")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside the data
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.45, 0.499])
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where φ and the estimators live (default cpu; e.g. cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/toy"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for target in args.targets:
        results[target] = {}
        for name in args.estimators:
            record = train(name, target, args.steps, args.every, args.replicas, args.seed, args.device)
            results[target][name] = record
            print(f"t={target:<6} {name:10s} final θ {record['final_theta']:.4f}  "
                  f"log variance first {record['log_variance'][0]:7.2f} last {record['log_variance'][-1]:7.2f}  "
                  f"converged {record['converged']}")
    (args.out / "toy.json").write_text(json.dumps({str(t): r for t, r in results.items()}, indent=1))
    plot(results, args.out / "toy.png")
    print(f"wrote {args.out / 'toy.json'} and {args.out / 'toy.png'}")


if __name__ == "__main__":
    main()
