"""Exact expectations of long chains: time and peak memory of ``exact()`` and ``Enumerate()`` against length.

The model (issue 19's): a 3-state hidden Markov model with observed emissions (4 symbols), float64,
written as the natural loop ``z = sample(f"z{t}", Categorical(logits=A[z]), Enumerate())`` inside
``scgrad.markov`` (each step depending on the one before), one cost per step (the emission's
surprise, ``-log p(x_t | z_t)``); and the plain chain, the same loop with the cost ``W[z_t]``. For
each length T, one point is:

- ``exact``: ``scgrad.diagnostics.exact(program).loss`` and its gradient (``torch.autograd.grad``)
  with respect to the three parameter tensors;
- ``enumerate``: one training step, ``scgrad.surrogate(program)`` with every node enumerated, then
  ``backward()``;
- ``forward_by_hand``: the forward recursion of the chain's marginals written out (``hmm_forward``
  below), value and gradient: the reference cost.

A chain of at most 3^7 joint outcomes (T <= 7) is enumerated by ``exact`` jointly, one run of the program
per outcome (``MAX_RUNS``; right for any program), which costs seconds there; longer chains are
contracted in one run. ``exact_runs`` in the JSON gives the number of runs. Before a point is timed, ``exact``'s value and gradient are checked against the forward recursion's
(relative error below 1e-9). Time: the median of ``--repeats`` runs. Peak memory: the most resident
memory the computation added (``VmHWM - VmRSS`` after resetting the peak, as ``benchmarks/scaling.py``
measures it), in the process itself, the largest point last.

Pyro's figure for T = 30 (``TraceEnum_ELBO``, value and gradient, measured on this machine when the
issue was filed): 0.15 s. The joint-outcome path this replaced took 0.4 s at T = 12 and 4 s and 1.4 GB
at T = 14, and could not run T = 30 (3^30 outcomes).

    .venv/bin/python benchmarks/enumeration_scale.py --out benchmarks/out/enumeration_scale.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributions as D

import scgrad
from scgrad.diagnostics import exact

sys.path.insert(0, str(Path(__file__).parent))
from scaling import PeakRSS  # noqa: E402  (a sibling script)

STATES, SYMBOLS = 3, 4
PYRO_SECONDS_AT_30 = 0.15


def parameters(length: int, seed: int = 0):
    """Initial logits, transition logits, emission logits (or the chain's cost table) and the emissions."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(STATES, generator=g, dtype=torch.float64, requires_grad=True),
              torch.randn(STATES, STATES, generator=g, dtype=torch.float64, requires_grad=True),
              torch.randn(STATES, SYMBOLS, generator=g, dtype=torch.float64, requires_grad=True)]
    return params, torch.randint(SYMBOLS, (length,), generator=g)


def _chain_of(init, transition, length, cost):
    """The natural loop under ``scgrad.markov``: step ``t``'s state drawn given the last, and the cost
    ``cost(t, z)`` recorded as ``c{t}``."""
    z = None
    for t in scgrad.markov(range(length)):
        z = scgrad.sample(f"z{t}", D.Categorical(logits=init if z is None else transition[z]), scgrad.Enumerate())
        scgrad.cost(f"c{t}", cost(t, z))


def hmm(init, transition, emission, observed):
    _chain_of(init, transition, len(observed), lambda t, z: -D.Categorical(logits=emission[z]).log_prob(observed[t]))


def chain(init, transition, costs, observed):
    _chain_of(init, transition, len(observed), lambda t, z: costs[z, 0])


def _forward(init, transition, per_state):
    """``E[sum_t per_state[t][z_t]]`` by the forward recursion of the chain's marginals."""
    marginal, total = init.softmax(-1), 0.0
    for t, costs in enumerate(per_state):
        if t:
            marginal = marginal @ transition.softmax(-1)
        total = total + (marginal * costs).sum()
    return total


def hmm_forward(init, transition, emission, observed):
    """``E[sum_t -log p(x_t | z_t)]``."""
    return _forward(init, transition, [-emission.log_softmax(-1)[:, x] for x in observed])


def chain_forward(init, transition, costs, observed):
    """``E[sum_t costs[z_t, 0]]``."""
    return _forward(init, transition, [costs[:, 0]] * len(observed))


MODELS = {"hmm": (hmm, hmm_forward), "chain": (chain, chain_forward)}


def check(program, forward, params, observed) -> tuple[float, int]:
    """The largest relative error of ``exact``'s value and gradient against the forward recursion's, and the
    number of runs of the program ``exact`` made."""
    result = exact(program, *params, observed)
    ours, truth = result.loss, forward(*params, observed)
    errors = [((ours - truth).abs() / truth.abs()).item()]
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(truth, params)):
        errors.append((torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item())
    return max(errors), result.runs


def runs(program, forward, params, observed) -> dict:
    def exact_step():
        torch.autograd.grad(exact(program, *params, observed).loss, params)

    def enumerate_step():
        scgrad.surrogate(program, *params, observed).backward()
        for p in params:
            p.grad = None

    def forward_step():
        torch.autograd.grad(forward(*params, observed), params)

    return {"exact": exact_step, "enumerate": enumerate_step, "forward_by_hand": forward_step}


def measure(length: int, model: str, repeats: int, peak: PeakRSS) -> dict:
    program, forward = MODELS[model]
    params, observed = parameters(length)
    error, exact_runs = check(program, forward, params, observed)
    assert error < 1e-9, f"{model} T={length}: exact() is off the forward recursion by {error:.3g}"
    point = {"length": length, "model": model, "relative_error": error, "exact_runs": exact_runs}
    for name, run in runs(program, forward, params, observed).items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        memory = {}
        with peak.measure(memory):
            run()
        point[name] = {"seconds": statistics.median(times), "peak_mb": None if memory["peak_bytes"] is None else memory["peak_bytes"] / 2**20}
    return point


def _figures(run: dict) -> str:
    memory = "memory n/a" if run["peak_mb"] is None else f"{run['peak_mb']:.1f} MB"
    return f"{run['seconds']:.4f} s, {memory}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/enumeration_scale.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak = PeakRSS()
    points = []
    for model in args.models:
        for length in sorted(args.lengths):
            point = measure(length, model, args.repeats, peak)
            points.append(point)
            print(f"{model:5s} T={length:4d}  " + "   ".join(f"{name} {_figures(point[name])}" for name in ("exact", "enumerate", "forward_by_hand")),
                  flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "states": STATES, "symbols": SYMBOLS, "threads": args.threads, "repeats": args.repeats,
        "pyro_seconds_at_30": PYRO_SECONDS_AT_30, "torch": torch.__version__, "points": points,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
