"""Gradient variance at fixed θ on the Bernoulli toy E[mean_d (b_d − t)²], b_d ~ Bernoulli(θ), t = 0.45.

With ``D`` components sharing the cost (``Independent``), each component's exact gradient is
``(1 − 2t) / D``. For each D, θ and estimator, ``--replicas`` independent estimates come from one call
(the replicas are batch elements, each with its own θ). Reported: the mean estimate of the first
component against the exact value, the variance averaged over components, and the cost evaluations
one estimate spends (draws plus re-runs of the program), so that estimators can be compared at equal
cost (variance × evaluations). With D = 1, MeasureValued and IndeCateR evaluate both outcomes and are
exact; DisARM is exact at θ = 1/2.

    .venv/bin/python benchmarks/bernoulli_toy_variance.py --replicas 100000 --out benchmarks/out/bernoulli_toy_variance.json

``--device cuda`` draws the replicas there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.distributions as D

import scgrad

TARGET = 0.45

# name: (estimator factory, num_samples, cost evaluations per estimate as a function of D)
ESTIMATORS = {
    "REINFORCE": (scgrad.ScoreFunction, None, lambda dims: 1),
    "REINFORCE+LOO (2 draws)": (lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()), 2, lambda dims: 2),
    "ARM (1 pair)": (scgrad.ARM, 2, lambda dims: 2),
    "DisARM (1 pair)": (scgrad.DisARM, 2, lambda dims: 2),
    "MeasureValued": (scgrad.MeasureValued, None, lambda dims: 1 + dims),
    "IndeCateR": (scgrad.IndeCateR, None, lambda dims: 1 + dims),
}


def estimates(make, num_samples, theta: float, dims: int, replicas: int, device="cpu") -> torch.Tensor:
    """``[replicas, dims]`` estimates of the gradient with respect to each component's θ."""
    prob = torch.full((replicas, dims), theta, dtype=torch.float64, device=device, requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Independent(D.Bernoulli(probs=prob), 1), make().to(device), num_samples=num_samples)
        scgrad.cost("squared_error", ((b - TARGET) ** 2).mean(-1))

    (grad,) = torch.autograd.grad(scgrad.surrogate(program).loss, prob)
    return grad * replicas


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=100_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--thetas", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where the replicas live (default cpu; e.g. cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/bernoulli_toy_variance.json"))
    args = parser.parse_args(argv)

    rows = []
    for dims, theta in ((d, t) for d in args.dims for t in args.thetas):
        for name, (make, num_samples, evaluations) in ESTIMATORS.items():
            torch.manual_seed(args.seed)
            grads = estimates(make, num_samples, theta, dims, args.replicas, args.device)
            row = {
                "dims": dims, "theta": theta, "estimator": name, "mean": grads[:, 0].mean().item(),
                "exact": (1 - 2 * TARGET) / dims, "variance": grads.var(0).mean().item(),
                "evaluations": evaluations(dims),
            }
            rows.append(row)
            print(f"D={dims}  θ={theta:.1f}  {name:24s} mean {row['mean']:+.5f} (exact {row['exact']:+.5f})  "
                  f"variance {row['variance']:.3e}  evaluations {row['evaluations']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"target": TARGET, "replicas": args.replicas, "seed": args.seed, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
