"""Step time of the discrete VAE of ``overhead.py``, eager against ``torch.compile``, interleaved in one process.

Two estimators: REINFORCE with a leave-one-out baseline, and Gumbel-softmax. Two ways to compile:

- ``compiled_step``: the whole step, ``scgrad.surrogate(program).loss`` and its ``backward()``, in one
  compiled function, with ``torch._dynamo.config.trace_autograd_ops`` so that Dynamo traces the
  backward call too (one graph, no break; see ``tests/test_compile.py``);
- ``compiled_loss``: only ``scgrad.surrogate(program).loss`` compiled (default settings),
  ``loss.backward()`` called eagerly, running the backward graph AOTAutograd compiled.

The optimiser step (SGD) runs eagerly in every variant. ``tests/test_compile.py`` checks that compiled
and eager steps give the same gradients for the same samples; this script only times them.

Argument validation of ``torch.distributions``: ``torch.compile`` turns it off for the whole process on
first use, so the eager steps here run without it too (``eager``); ``eager_validated`` times eager steps
with it on, as a default eager process runs them. ``first_call_s`` is the first call of each compiled
function: compilation, or mostly loading from Inductor's on-disk cache where an earlier run filled it
(point ``TORCHINDUCTOR_CACHE_DIR`` at an empty folder to time a cold compile). Prints the speedups and
writes JSON.

    .venv/bin/python benchmarks/compile.py --steps 100 --threads 1 --out benchmarks/out/compile.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributions as D

import scgrad

_spec = importlib.util.spec_from_file_location("overhead_benchmark", Path(__file__).resolve().parent / "overhead.py")
overhead = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # Dynamo looks modules up by name
_spec.loader.exec_module(overhead)  # the same VAE, cost and sizes as the overhead benchmark


def program_for(encoder, decoder, estimator):
    def program(x):
        logits = encoder(x).view(-1, overhead.LATENTS, overhead.CATEGORIES)
        scgrad.cost("kl", overhead.kl_to_uniform(logits))
        q = D.Independent(D.OneHotCategorical(logits=logits), 1)
        z = scgrad.sample("z", q, estimator, num_samples=overhead.SAMPLES)
        scgrad.cost("nll", overhead.nll_of(decoder, x, z))

    return program


def step_for(program):
    def step(x):
        loss = scgrad.surrogate(program, x).loss
        loss.backward()
        return loss.detach()

    return step


def loss_for(program):
    def loss(x):
        return scgrad.surrogate(program, x).loss

    return loss


def time_variants(variants, params, x, steps, warmup):
    """Median wall-clock and thread-CPU milliseconds per step of each variant, taken in rotation (on CUDA,
    each step waits for its kernels)."""
    optimiser = torch.optim.SGD(params, lr=1e-4)
    times = {name: {"wall": [], "cpu": []} for name in variants}
    names = list(variants)
    for i in range(warmup + steps):
        for name in names[i % len(names):] + names[: i % len(names)]:
            run, validate = variants[name]
            D.Distribution.set_default_validate_args(validate)
            wall, cpu = time.perf_counter(), time.thread_time()
            optimiser.zero_grad()
            run(x)
            optimiser.step()
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            D.Distribution.set_default_validate_args(False)
            if i >= warmup:
                times[name]["wall"].append(wall)
                times[name]["cpu"].append(cpu)
    return {name: {f"{clock}_ms": statistics.median(ts) * 1e3 for clock, ts in clocks.items()} for name, clocks in times.items()}


def run_case(estimator, steps, warmup, device="cpu"):
    torch.manual_seed(0)
    encoder, decoder = (net.to(device) for net in overhead.make_vae())
    x = torch.bernoulli(torch.full((overhead.BATCH, overhead.PIXELS), 0.3, device=device))
    params = [*encoder.parameters(), *decoder.parameters()]
    program = program_for(encoder, decoder, estimator)
    eager_step = step_for(program)
    compiled_step = torch.compile(step_for(program))
    compiled_loss = torch.compile(loss_for(program))

    def whole(x):
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            return compiled_step(x)

    def forward_only(x):
        compiled_loss(x).backward()

    compile_s = {}
    for name, run in (("compiled_step", whole), ("compiled_loss", forward_only)):
        start = time.perf_counter()
        run(x)
        compile_s[name] = time.perf_counter() - start
    variants = {
        "eager": (eager_step, False),
        "eager_validated": (eager_step, True),
        "compiled_step": (whole, False),
        "compiled_loss": (forward_only, False),
    }
    result = time_variants(variants, params, x, steps, warmup)
    for name in ("compiled_step", "compiled_loss"):
        result[name]["first_call_s"] = compile_s[name]
        for base in ("eager", "eager_validated"):
            result[name][f"speedup_over_{base}"] = result[base]["wall_ms"] / result[name]["wall_ms"]
            result[name][f"cpu_speedup_over_{base}"] = result[base]["cpu_ms"] / result[name]["cpu_ms"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: steadier timings)")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--device", default="cpu", help="where the model and data live (default cpu; e.g. cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/compile.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    D.Distribution.set_default_validate_args(False)  # what torch.compile does on first use anyway

    cases = {
        "vae_reinforce_loo": lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()),
        "vae_gumbel_softmax": lambda: scgrad.GumbelSoftmax(temperature=1.0),
    }
    results = {}
    for name, estimator in cases.items():
        if args.only and name not in args.only:
            continue
        results[name] = r = run_case(estimator().to(args.device), args.steps, args.warmup, args.device)
        print(
            f"{name:20s} eager {r['eager']['wall_ms']:7.3f} ms (validated {r['eager_validated']['wall_ms']:7.3f})  "
            f"compiled step {r['compiled_step']['wall_ms']:7.3f} ms ({r['compiled_step']['speedup_over_eager']:.2f}x)  "
            f"compiled loss {r['compiled_loss']['wall_ms']:7.3f} ms ({r['compiled_loss']['speedup_over_eager']:.2f}x)   "
            f"first calls {r['compiled_step']['first_call_s']:.1f} s, {r['compiled_loss']['first_call_s']:.1f} s",
            flush=True,
        )
    machine = {
        "torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads,
        "device": str(args.device),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "machine": machine, "steps": args.steps, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
