"""Learning to sort N uniform numbers with Gumbel-Sinkhorn (Mena et al. 2018, the sorting experiment).

The setup of the paper and its reference code (google/gumbel_sinkhorn, sorting/): every number
``x_i ~ U(0, 1)`` of a sequence goes through the same network, Linear(1, 32) - ReLU - Linear(32, N),
whose output is row ``i`` of ``log_alpha`` (scores for item ``i`` at each position). The training cost
is the squared error between the sorted sequence and ``Pᵀ x`` for soft permutations
``P ~ GumbelSinkhorn(log_alpha, temperature 1, 10 Sinkhorn iterations)``, 5 samples per sequence,
batches of 10 (the reference code's defaults), Adam with learning rate 0.01 (the reference code's 0.1
destabilised training at N = 15 after a few hundred steps in our runs). Nothing tells the network
what sorting is beyond that cost. At test time the permutation is the Hungarian matching of
``log_alpha`` (no noise) on fresh sequences; reported are the proportion of sequences sorted exactly
and the proportion of elements put in their right place (one minus the paper's "Prop. any wrong" and
"Prop. wrong").

    .venv/bin/python benchmarks/sorting.py --n 5 10 15 80 100 120 --steps 2000 --out benchmarks/out/sorting.json

Paper numbers: Mena et al. 2018, Table 1, reports these two measures for N = 5, 10, 15, 80, 100, 120.
We could not confirm its values from a source available while writing this script (the paper's text was
not reachable; only its abstract and reference code were), so the table prints "unconfirmed" in their
place rather than numbers from memory; fill ``PAPER`` in from the paper to compare.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

import scgrad
from scgrad.distributions import GumbelSinkhorn, matching

# N -> (proportion of sequences sorted exactly, per-element accuracy) from Mena et al. 2018, Table 1;
# None where we could not confirm the published value.
PAPER: dict[int, tuple[float | None, float | None]] = {n: (None, None) for n in (5, 10, 15, 80, 100, 120)}


def make_model(n: int, units: int) -> nn.Module:
    return nn.Sequential(nn.Linear(1, units), nn.ReLU(), nn.Linear(units, n))


def sorting_cost(model, x, args):
    """The program: soft permutations of ``x`` [B, N] scored against the sorted sequence."""
    log_alpha = model(x.unsqueeze(-1))  # [B, N, N]: row i scores item i at every position
    perm = scgrad.sample("perm", GumbelSinkhorn(log_alpha, args.temperature, args.sinkhorn_iters), num_samples=args.samples)
    reconstructed = (perm.transpose(-1, -2) @ x.unsqueeze(-1)).squeeze(-1)  # [S, B, N]
    scgrad.cost("l2", (reconstructed - x.sort(-1).values) ** 2)


def evaluate(model, n: int, sequences: int, device="cpu") -> dict:
    x = torch.rand(sequences, n, device=device)
    with torch.no_grad():
        position = matching(model(x.unsqueeze(-1))).argmax(-1)  # predicted position of each item
    rank = x.argsort(-1).argsort(-1)  # its true position
    right = position == rank
    return {
        "proportion_sorted": right.all(-1).float().mean().item(),
        "element_accuracy": right.float().mean().item(),
    }


def run(n: int, args) -> dict:
    torch.manual_seed(args.seed + n)
    model = make_model(n, args.units).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for _ in range(args.steps):
        x = torch.rand(args.batch, n, device=args.device)
        optimizer.zero_grad()
        objective = scgrad.surrogate(sorting_cost, model, x, args)
        objective.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    result = {"n": n, "steps": args.steps, "train_seconds": round(seconds, 1), "final_l2": objective.cost.item()}
    result.update(evaluate(model, n, args.test_sequences, args.device))
    result["paper_proportion_sorted"], result["paper_element_accuracy"] = PAPER.get(n, (None, None))
    return result


def show(value) -> str:
    return "unconfirmed" if value is None else f"{value:.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5, 10, 15], help="sequence lengths")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per N")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--samples", type=int, default=5, help="Gumbel-Sinkhorn samples per sequence")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sinkhorn-iters", type=int, default=10)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--test-sequences", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny tensors: one is fastest)")
    parser.add_argument("--device", default="cpu", help="where the network and sequences live (default cpu; e.g. cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/sorting.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    results = []
    print(f"{'N':>4} {'sorted':>8} {'paper':>12} {'elements':>9} {'paper':>12} {'train s':>8}")
    for n in args.n:
        r = run(n, args)
        results.append(r)
        print(f"{n:>4} {r['proportion_sorted']:>8.3f} {show(r['paper_proportion_sorted']):>12} "
              f"{r['element_accuracy']:>9.3f} {show(r['paper_element_accuracy']):>12} {r['train_seconds']:>8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.out.write_text(json.dumps({"config": config, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
