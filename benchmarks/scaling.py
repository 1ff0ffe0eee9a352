"""Scaling curves: step time and peak memory against the number of samples and the size of a program.

Two families of curves, each point one training step (run the program under ``scgrad.surrogate``,
build the surrogate, ``backward()``):

* ``samples/*``: a small categorical VAE (batch 32, 128 Bernoulli "pixels", 128-64-[8x8]-64-128)
  against ``num_samples`` = 1, 2, 4, ..., 1024: REINFORCE with a leave-one-out baseline (from 2: it
  needs two draws), Gumbel-softmax, and the same REINFORCE written by hand as a reference.
* ``nodes/*``: an episode of N Bernoulli actions, one node and one cost per step, N = 1 to 10,000:
  ``ScoreFunction()``, ``ScoreFunction(MovingAverage())``, ``ScoreFunction()`` under
  ``scgrad.provenance()``, and reward-to-go REINFORCE written by hand as a reference.

Time: the median over repeated steps, the points of a curve taken in turns (round-robin) so that a
burst of load on the machine spreads over all of them; one thread (``--threads``).

Peak memory: each curve runs in a fresh child process. Before each point the child collects garbage,
returns freed heap to the kernel (glibc ``malloc_trim(0)``) and resets the kernel's peak-RSS counter
(writes ``5`` to ``/proc/self/clear_refs``); it then runs one step and reads ``VmHWM - VmRSS`` from
``/proc/self/status``: the most resident memory the step added, whoever allocated it (torch's CPU
allocator, the Python heap, oneDNN scratch space). ``tracemalloc`` is no use here: it sees only
Python's own allocator, and a 100 MB tensor shows in it as about 300 bytes. A warm-up step at the
smallest size runs first, so one-off initialisation is not charged to the first point. Resolution is
a page (4 KiB); where ``clear_refs`` is unavailable (not Linux) memory is reported as ``null``.

No Python loop over samples: each ``samples/*`` point also counts the Python function calls made in
scgrad's own files during one step (``sys.setprofile``); the count is the same at every
``num_samples``. For ``nodes/*`` it is counted up to N = 1000 and grows in proportion to N.

Slopes: for each curve, the least-squares slope of log(value) against log(size) over the upper half
of the range (size >= sqrt(min * max), where the per-step constant no longer dominates) and over the
whole range; 1 means linear growth, 2 quadratic. Also an affine fit ``time = fixed + per_unit * size``.

    .venv/bin/python benchmarks/scaling.py                 # full: several minutes
    .venv/bin/python benchmarks/scaling.py --quick         # smoke test, well under a minute

``--device cuda`` puts models, data and policies there; each timed step then waits for its kernels, and
peak memory is the most CUDA memory the step allocated beyond what was allocated before it
(``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``), not resident memory.

Writes ``scaling.json`` and ``scaling.png`` under ``--out`` (default ``benchmarks/out``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributions as D

import scgrad

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import episode_by_hand, episode_scgrad  # noqa: E402
from synthetic_vae import SyntheticVAE, kl_to_uniform, reinforce_loo_loss  # noqa: E402

SCGRAD_DIR = str(Path(scgrad.__file__).resolve().parent)

# --- the samples curves: a small categorical VAE ---------------------------------------------------

BATCH, PIXELS, HIDDEN, LATENTS, CATEGORIES = 32, 128, 64, 8, 8


def vae_step(estimator_factory):
    def make(size, device="cpu"):
        vae, estimator = SyntheticVAE(BATCH, PIXELS, HIDDEN, LATENTS, CATEGORIES, device), estimator_factory().to(device)

        def program():
            logits = vae.logits()
            scgrad.cost("kl", kl_to_uniform(logits))
            q = D.Independent(D.OneHotCategorical(logits=logits), 1)
            z = scgrad.sample("z", q, estimator, num_samples=size)
            scgrad.cost("nll", vae.nll(z))

        return vae.params, lambda: scgrad.surrogate(program).backward()

    return make


def vae_by_hand_step(size, device="cpu"):
    vae = SyntheticVAE(BATCH, PIXELS, HIDDEN, LATENTS, CATEGORIES, device)

    def step():
        reinforce_loo_loss(vae, size).backward()

    return vae.params, step


# --- the nodes curves: an episode with one node and one cost per step ------------------------------


def episode_step(estimator_factory, tracked=False):
    def make(size, device="cpu"):
        torch.manual_seed(0)
        policy, rewards = torch.zeros(size, device=device, requires_grad=True), torch.rand(size, device=device)
        estimator = estimator_factory().to(device)

        def step():
            with scgrad.provenance() if tracked else contextlib.nullcontext():
                objective = episode_scgrad(policy, rewards, estimator)
            objective.backward()

        return [policy], step

    return make


def episode_by_hand_step(size, device="cpu"):
    torch.manual_seed(0)
    policy, rewards = torch.zeros(size, device=device, requires_grad=True), torch.rand(size, device=device)

    def step():
        episode_by_hand(policy, rewards).backward()

    return [policy], step


SAMPLES = [2**k for k in range(11)]  # 1 .. 1024
NODES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]

CURVES = {
    "samples/score_loo": ("num_samples", "ScoreFunction(LeaveOneOut())", vae_step(lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut())), 2),
    "samples/gumbel_softmax": ("num_samples", "GumbelSoftmax()", vae_step(scgrad.GumbelSoftmax), 1),
    "samples/by_hand_loo": ("num_samples", "REINFORCE + leave-one-out by hand (reference)", vae_by_hand_step, 2),
    "nodes/score": ("nodes", "ScoreFunction()", episode_step(scgrad.ScoreFunction), 1),
    "nodes/score_moving_average": ("nodes", "ScoreFunction(MovingAverage())", episode_step(lambda: scgrad.ScoreFunction(scgrad.MovingAverage())), 1),
    "nodes/score_provenance": ("nodes", "ScoreFunction() under scgrad.provenance()", episode_step(scgrad.ScoreFunction, tracked=True), 1),
    "nodes/by_hand": ("nodes", "reward-to-go REINFORCE by hand (reference)", episode_by_hand_step, 1),
}


# --- measuring -------------------------------------------------------------------------------------


def _proc_status() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` in bytes."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
    return found


class PeakRSS:
    """Peak resident memory added by a block of code (see the module's docstring), or ``None``."""

    def __init__(self):
        try:
            self.libc = ctypes.CDLL("libc.so.6")
            self.reset()
            self.available = True
        except OSError:
            self.available = False

    def reset(self):
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")

    @contextlib.contextmanager
    def measure(self, into: dict):
        if not self.available:
            into["peak_bytes"] = None
            yield
            return
        gc.collect()
        self.libc.malloc_trim(0)
        self.reset()
        before = _proc_status()["VmRSS"]
        yield
        into["peak_bytes"] = _proc_status()["VmHWM"] - before


class PeakCUDA:
    """Peak CUDA memory a block of code allocated beyond what was allocated before it (``PeakRSS``'s interface)."""

    available = True

    def __init__(self, device):
        self.device = torch.device(device)

    @contextlib.contextmanager
    def measure(self, into: dict):
        gc.collect()
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        yield
        torch.cuda.synchronize(self.device)
        into["peak_bytes"] = torch.cuda.max_memory_allocated(self.device) - before


def synchronize(device) -> None:
    """Wait for the device's kernels (timing a CUDA step); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def count_scgrad_calls(step) -> int:
    """Python function calls made in scgrad's files while ``step()`` runs."""
    count = 0

    def hook(frame, event, arg):
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(SCGRAD_DIR):
            count += 1

    sys.setprofile(hook)
    try:
        step()
    finally:
        sys.setprofile(None)
    return count


def _zero_grad(params):
    for p in params:
        p.grad = None


def run_curve(name: str, sizes: list[int], repeats: int, budget_s: float, count_calls_up_to: int, device="cpu") -> dict:
    """Measure one curve in this process: memory and call counts per point, then times round-robin."""
    axis, label, make, smallest = CURVES[name]
    sizes = [s for s in sizes if s >= smallest]
    peak = PeakCUDA(device) if torch.device(device).type == "cuda" else PeakRSS()
    params, warm = make(sizes[0], device)
    warm()  # one-off initialisation (autograd engine, kernels) is not charged to the first point
    del params, warm
    points = []
    for size in sizes:
        point = {"x": size}
        params, step = make(size, device)
        with peak.measure(point):
            step()
        if size <= count_calls_up_to:
            _zero_grad(params)
            point["scgrad_calls"] = count_scgrad_calls(step)
        point["_make"] = (params, step)
        point["times_s"] = []
        points.append(point)
    for _ in range(repeats):
        for point in points:
            spent = sum(point["times_s"])
            if len(point["times_s"]) >= 2 and spent > budget_s:
                continue
            params, step = point["_make"]
            _zero_grad(params)
            start = time.perf_counter()
            step()
            synchronize(device)
            point["times_s"].append(time.perf_counter() - start)
    for point in points:
        del point["_make"]
        point["time_ms"] = statistics.median(point["times_s"]) * 1e3
        point["times_ms"] = [round(t * 1e3, 4) for t in point.pop("times_s")]
        point["peak_mb"] = None if point["peak_bytes"] is None else point["peak_bytes"] / 2**20
    return {"axis": axis, "estimator": label, "points": points}


# --- fitting and plotting --------------------------------------------------------------------------


def log_slope(xs, ys):
    """Least-squares slope of log(y) on log(x), or ``None`` with fewer than two positive points."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y is not None and y > 0 and x > 0]
    if len(pairs) < 2 or len({p[0] for p in pairs}) < 2:
        return None
    mx = sum(p[0] for p in pairs) / len(pairs)
    my = sum(p[1] for p in pairs) / len(pairs)
    return sum((a - mx) * (b - my) for a, b in pairs) / sum((a - mx) ** 2 for a, _ in pairs)


def affine_fit(xs, ys):
    """``(fixed, per_unit)`` minimising the relative squared error of ``fixed + per_unit * x``."""
    w = [1 / y**2 for y in ys]
    sw, sx, sy = sum(w), sum(wi * x for wi, x in zip(w, xs)), sum(wi * y for wi, y in zip(w, ys))
    sxx, sxy = sum(wi * x * x for wi, x in zip(w, xs)), sum(wi * x * y for wi, x, y in zip(w, xs, ys))
    det = sw * sxx - sx * sx
    if len(xs) < 2 or det == 0:
        return None, None
    return (sxx * sy - sx * sxy) / det, (sw * sxy - sx * sy) / det


def summarise(curve: dict) -> dict:
    xs = [p["x"] for p in curve["points"]]
    times = [p["time_ms"] for p in curve["points"]]
    mems = [p["peak_mb"] for p in curve["points"]]
    if len(xs) >= 2:
        cut = math.sqrt(xs[0] * xs[-1])
        upper = [i for i, x in enumerate(xs) if x >= cut - 1e-9]
    else:
        upper = list(range(len(xs)))
    fixed, per_unit = affine_fit(xs, times)
    curve.update(
        time_slope=log_slope([xs[i] for i in upper], [times[i] for i in upper]),
        time_slope_all=log_slope(xs, times),
        memory_slope=None if any(mems[i] is None or mems[i] <= 0 for i in upper) else log_slope([xs[i] for i in upper], [mems[i] for i in upper]),
        fit_range=[xs[upper[0]], xs[-1]] if xs else None,
        fixed_ms=fixed,
        per_unit_us=None if per_unit is None else per_unit * 1e3,
    )
    return curve


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for row, family in enumerate(("samples", "nodes")):
        for col, (key, ylabel) in enumerate((("time_ms", "time per step (ms)"), ("peak_mb", "peak memory added by a step (MiB)"))):
            ax = axes[row][col]
            for name, curve in curves.items():
                if not name.startswith(family + "/"):
                    continue
                pts = [(p["x"], p[key]) for p in curve["points"] if p[key] is not None and p[key] > 0]
                if not pts:
                    continue
                slope = curve["time_slope"] if key == "time_ms" else curve["memory_slope"]
                tag = "n/a" if slope is None else f"{slope:.2f}"
                style = "--" if "by_hand" in name else "-"
                ax.plot(*zip(*pts), style, marker="o", ms=3, label=f"{name.split('/', 1)[1]} (slope {tag})")
            lo, hi = ax.get_xlim() if ax.lines else (1, 10)
            if ax.lines:
                ys = [y for line in ax.lines for y in line.get_ydata()]
                ref_x = [max(lo, 1), hi]
                ref_y = [max(ys) * ref_x[0] / ref_x[1], max(ys)]
                ax.plot(ref_x, ref_y, ":", color="grey", label="slope 1 (linear)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("num_samples" if family == "samples" else "nodes and costs in the program")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("scgrad scaling (slopes fitted on log-log axes over the upper half of each range)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- driver ----------------------------------------------------------------------------------------


def child(args) -> None:
    """Run the curves named in ``args.child`` in this process and print one JSON line."""
    torch.set_num_threads(args.threads)
    spec = json.loads(args.child)
    out = {}
    for name in spec["curves"]:
        sizes = spec["samples"] if CURVES[name][0] == "num_samples" else spec["nodes"]
        count_up_to = max(sizes) if CURVES[name][0] == "num_samples" else spec["count_nodes_up_to"]
        out[name] = run_curve(name, sizes, spec["repeats"], spec["budget_s"], count_up_to, spec.get("device", "cpu"))
    print("RESULT " + json.dumps(out))


def run_in_child(curves: list[str], spec: dict, threads: int) -> dict:
    payload = json.dumps({**spec, "curves": curves})
    command = [sys.executable, str(Path(__file__).resolve()), "--threads", str(threads), "--child", payload]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child for {curves} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def scgrad_revision() -> dict:
    """The commit of the checkout scgrad was imported from, and whether its ``scgrad/`` differs from it."""
    root = str(Path(SCGRAD_DIR).parent)
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "scgrad"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"scgrad_commit": None, "scgrad_modified": None}
    return {"scgrad_commit": commit, "scgrad_modified": bool(dirty.strip())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few small points, all curves in one child: a smoke test")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"), help="folder for scaling.json and scaling.png")
    parser.add_argument("--curves", nargs="*", default=list(CURVES), choices=list(CURVES))
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per point (default 15; 3 with --quick)")
    parser.add_argument("--budget", type=float, default=20.0, help="stop repeating a point after this many seconds of steps (at least 2 steps)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: steadier timings)")
    parser.add_argument("--note", default=None, help="free text stored in the JSON (e.g. which scgrad was measured)")
    parser.add_argument("--device", default="cpu", help="where models, data and policies live (default cpu; e.g. cuda)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    if args.quick:
        spec = {"samples": [1, 4, 16, 64], "nodes": [1, 10, 100], "repeats": args.repeats or 3, "budget_s": 1.0, "count_nodes_up_to": 100,
                "device": args.device}
        groups = [list(args.curves)]
    else:
        spec = {"samples": SAMPLES, "nodes": NODES, "repeats": args.repeats or 15, "budget_s": args.budget, "count_nodes_up_to": 1000,
                "device": args.device}
        groups = [[name] for name in args.curves]
    curves = {}
    for group in groups:
        started = time.perf_counter()
        curves.update(run_in_child(group, spec, args.threads))
        print(f"  measured {', '.join(group)} in {time.perf_counter() - started:.1f} s", flush=True)
    for name in args.curves:
        summarise(curves[name])

    print(f"{'curve':28s} {'fit range':>12s} {'time slope':>10s} {'(all)':>6s} {'mem slope':>9s} {'fixed ms':>9s} {'per unit us':>11s}  largest point")
    for name in args.curves:
        c = curves[name]
        fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
        last = c["points"][-1]
        print(
            f"{name:28s} {str(c['fit_range']):>12s} {fmt(c['time_slope'], '.3f'):>10s} {fmt(c['time_slope_all'], '.2f'):>6s} "
            f"{fmt(c['memory_slope'], '.3f'):>9s} {fmt(c['fixed_ms'], '.3f'):>9s} {fmt(c['per_unit_us'], '.3f'):>11s}  "
            f"x={last['x']}: {last['time_ms']:.2f} ms, {fmt(last['peak_mb'], '.2f')} MiB"
        )
    calls = {n: [p.get("scgrad_calls") for p in curves[n]["points"]] for n in args.curves if n.startswith("samples/") and "by_hand" not in n}
    for name, counts in calls.items():
        print(f"{name}: Python calls in scgrad per step, by num_samples: {counts}")

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "config": {
            **{k: v for k, v in spec.items()},
            "quick": args.quick,
            "threads": args.threads,
            "vae": {"batch": BATCH, "pixels": PIXELS, "hidden": HIDDEN, "latents": LATENTS, "categories": CATEGORIES},
            "torch": torch.__version__,
            "scgrad_source": SCGRAD_DIR,
            **scgrad_revision(),
            "note": args.note,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "memory_method": (
            "torch.cuda.max_memory_allocated - memory_allocated before, after reset_peak_memory_stats, per point"
            if torch.device(args.device).type == "cuda" else
            "VmHWM - VmRSS after resetting the peak with /proc/self/clear_refs, per point, in a child process"
        ),
        "curves": curves,
    }
    (args.out / "scaling.json").write_text(json.dumps(report, indent=2))
    plot(curves, args.out / "scaling.png")
    print(f"wrote {args.out / 'scaling.json'} and {args.out / 'scaling.png'}")
    return report


if __name__ == "__main__":
    main()
