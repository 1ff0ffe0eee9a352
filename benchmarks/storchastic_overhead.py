"""Step time of Storchastic 0.3.7 against scgrad and a hand-written version, interleaved in one process.

The discrete VAE of ``benchmarks/overhead.py``: 784-200-[20x10]-200-784, batch 100, 4 samples per
data point, synthetic Bernoulli(0.3) pixels, under three estimators:

* ``reinforce_loo``: REINFORCE with a leave-one-out baseline. Storchastic:
  ``ScoreFunction("z", n_samples=4, baseline_factory="batch_average")`` (its ``BatchAverageBaseline``
  is the mean of the *other* samples' costs, i.e. leave-one-out); scgrad:
  ``ScoreFunction(LeaveOneOut())``.
* ``gumbel_softmax``: temperature 1, no annealing. Storchastic: ``GumbelSoftmax("z", n_samples=4,
  annealing_rate=0)``; scgrad: ``GumbelSoftmax(1.0)``.
* ``rebar``: Storchastic: ``REBAR("z", n_samples=4)`` (learnable temperature and eta; it pushes the hard,
  relaxed and conditional samples through the decoder as one batch of 3 x 4 samples). scgrad:
  ``REBAR()`` (learnable temperature and eta, tuned by ``Objective.backward()``; it re-runs the whole
  program, encoder included, at each relaxed value). By hand: scgrad's estimator written out, the
  decoder alone evaluated at the two relaxed values. Storchastic's REBAR only runs on a distribution
  built from ``probs`` (built from ``logits`` it fails with ``KeyError: 'probs'`` in
  ``RELAX.update_parameters``), so its side uses ``OneHotCategorical(probs=logits.softmax(-1))``; its
  source marks REBAR's ``post_sample`` "TODO: This doesn't work": it is timed as shipped, its gradient
  not vouched for.

A step is ``zero_grad``, forward, backward (with any estimator tuning) and an SGD step on the model (the
estimators' own parameters get their gradients but a learning rate of zero: plain SGD on REBAR's
variance loss at the model's rate, 1e-4, diverges within ~25 steps, by hand as in scgrad); the sides take
turns step by step, in a rotating order, and the median over many steps is reported. Before timing,
scgrad and the hand-written side are checked to give the same gradient from the same random numbers;
Storchastic's gradient is compared with the hand-written one in the same way and the result reported
(it matches for ``reinforce_loo`` and ``gumbel_softmax``; REBAR draws its noise in another order).

Storchastic patches torch when imported: ``torch.is_tensor``, ``Tensor.to``, ``Tensor.le`` and
``Tensor.gt`` are replaced, and argument validation is turned off for every
``torch.distributions.Distribution``. So the three sides are timed together after that import, all
under the same patched torch, and scgrad and the hand-written side are timed again in a child process
that never imports Storchastic (``without_storchastic`` in the JSON).

Install (its metadata asks for ``pyro-ppl`` and ``entmax`` unpinned; all are pure Python and none pulls
another torch, but pin them and keep pip away from torch)::

    .venv/bin/pip install --no-deps storchastic==0.3.7 entmax==1.3 pyro-ppl==1.9.2 pyro-api==0.1.2 opt_einsum==3.4.0

(the same pins are in the ``bench`` extra: ``pip install -e '.[bench]'`` resolves them with torch==2.13.0).

Run::

    .venv/bin/python benchmarks/storchastic_overhead.py --steps 200 --out benchmarks/out/storchastic_overhead.json

``--device cuda`` builds the model, data and noise there (each timed step then waits for its kernels);
whether Storchastic itself runs there is its own affair, reported like any failure of a side.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.distributions as D
import torch.nn.functional as F
from torch import nn
from torch.distributions.utils import clamp_probs

import scgrad

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_vae import SyntheticVAE, kl_to_uniform, reinforce_loo_loss  # noqa: E402

BATCH, PIXELS, LATENTS, CATEGORIES, HIDDEN, SAMPLES = 100, 784, 20, 10, 200, 4
CASES = ("reinforce_loo", "gumbel_softmax", "rebar")


# --- scgrad -----------------------------------------------------------------------------------------


def scgrad_side(model: SyntheticVAE, estimator):
    def program():
        logits = model.logits()
        scgrad.cost("kl", kl_to_uniform(logits))
        z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), estimator, num_samples=SAMPLES)
        scgrad.cost("nll", model.nll(z))

    return lambda: scgrad.surrogate(program).backward()


# --- by hand ----------------------------------------------------------------------------------------


def reinforce_loo_by_hand(model: SyntheticVAE):
    def step():
        reinforce_loo_loss(model, SAMPLES).backward()

    return step


def gumbel_by_hand(model: SyntheticVAE, temperature=1.0):
    def step():
        logits = model.logits()
        u = clamp_probs(torch.rand((SAMPLES,) + logits.shape, device=logits.device))
        z = ((logits.log_softmax(-1) - (-u.log()).log()) / temperature).softmax(-1)
        (kl_to_uniform(logits).mean() + model.nll(z).mean()).backward()

    return step


class RebarByHand(nn.Module):
    """scgrad's REBAR written out: ``(f(b) - eta f(s(z~))) d log q(b) + eta d f(s(z)) - eta d f(s(z~))``,
    with eta and the temperature tuned on ``|g|^2``, g the estimate of the gradient of the logits."""

    def __init__(self, model: SyntheticVAE, temperature=0.5, eta=1.0):
        super().__init__()
        self.model = model
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.eta = nn.Parameter(torch.tensor(float(eta)))

    def forward(self):
        model = self.model
        raw = model.logits()
        q = D.Independent(D.OneHotCategorical(logits=raw), 1)
        logits = q.base_dist.logits  # normalised, as scgrad's Concrete view sees them
        u = clamp_probs(torch.rand((SAMPLES,) + logits.shape, device=logits.device))
        z = logits - (-u.log()).log()
        b = F.one_hot(z.detach().argmax(-1), CATEGORIES).to(z.dtype)
        nll = model.nll(b)
        # z given b: the top coordinate is Gumbel(logsumexp), the others truncated below it
        log_exp = (-clamp_probs(torch.rand(b.shape, device=b.device)).log()).log()
        top = ((logits.logsumexp(-1, keepdim=True) - log_exp) * b).sum(-1, keepdim=True)
        below = torch.minimum(top - F.softplus(log_exp - (logits - top)), torch.nextafter(top, torch.full_like(top, -torch.inf)))
        z_given = torch.where(b.bool(), top, below)
        temperature = self.log_temperature.exp()
        at_z = self.eta * model.nll((z / temperature).softmax(-1))
        at_given = self.eta * model.nll((z_given / temperature).softmax(-1))
        score = q.log_prob(b)
        f = nll.detach()
        loss = (
            kl_to_uniform(raw).mean() + nll.mean() + ((f - at_given.detach()) * score).mean()
            + (at_z - at_z.detach()).mean() - (at_given - at_given.detach()).mean()
        )
        (by_score,) = torch.autograd.grad(score, logits, grad_outputs=(f - at_given) / score.numel(), create_graph=True)
        (by_path,) = torch.autograd.grad((at_z - at_given).mean(), logits, create_graph=True)
        tuning = torch.autograd.grad((by_score + by_path).pow(2).sum(), [self.eta, self.log_temperature], retain_graph=True)
        loss.backward()
        for param, grad in zip((self.eta, self.log_temperature), tuning):
            param.grad = grad


# --- storchastic ------------------------------------------------------------------------------------


def storch_side(model: SyntheticVAE, case: str):
    """One Storchastic training step for ``case``; returns ``(step, estimator)``."""
    import storch
    from storch.method import REBAR, GumbelSoftmax, ScoreFunction

    if case == "reinforce_loo":
        method = ScoreFunction("z", n_samples=SAMPLES, baseline_factory="batch_average")
    elif case == "gumbel_softmax":
        method = GumbelSoftmax("z", n_samples=SAMPLES, initial_temperature=1.0, annealing_rate=0.0)
    else:
        method = REBAR("z", n_samples=SAMPLES)
    probs = case == "rebar"  # its REBAR reads the gradient of `probs` (KeyError: 'probs' otherwise)

    encode = storch.deterministic(lambda x: model.logits(x))
    kl = storch.deterministic(kl_to_uniform)
    # one call cannot take both z ([20, 10] per draw) and x ([784]): Storchastic pads the arguments' trailing
    # dims to one rank (x becomes [1, 100, 784, 1]) and the log-prob fails to broadcast. So decode first.
    decode = storch.deterministic(lambda z: model.decoder(z.flatten(-2)))
    nll = storch.deterministic(lambda out, x: -D.Independent(D.Bernoulli(logits=out), 1).log_prob(x))

    def step():
        storch.reset()
        x = storch.denote_independent(model.x, 0, "data")
        logits = encode(x)
        storch.add_cost(kl(logits), "kl")
        q = D.OneHotCategorical(probs=logits.softmax(-1)) if probs else D.OneHotCategorical(logits=logits)
        z = method(q)
        storch.add_cost(nll(decode(z), x), "nll")
        storch.backward()

    return step, method


# --- harness ----------------------------------------------------------------------------------------


def make_sides(case: str, sides: list[str], device="cpu") -> tuple[SyntheticVAE, dict]:
    """``{side: (step, extra parameters)}`` over one shared model, on ``device``."""
    model = SyntheticVAE(BATCH, PIXELS, HIDDEN, LATENTS, CATEGORIES, device)
    made = {}
    for side in sides:
        if side == "scgrad":
            estimator = {
                "reinforce_loo": lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()),
                "gumbel_softmax": lambda: scgrad.GumbelSoftmax(1.0),
                "rebar": lambda: scgrad.REBAR(),
            }[case]().to(device)
            made[side] = (scgrad_side(model, estimator), list(estimator.parameters()))
        elif side == "by_hand":
            if case == "rebar":
                rebar = RebarByHand(model).to(device)
                made[side] = (rebar.forward, [rebar.eta, rebar.log_temperature])
            else:
                made[side] = ({"reinforce_loo": reinforce_loo_by_hand, "gumbel_softmax": gumbel_by_hand}[case](model), [])
        else:
            step, method = storch_side(model, case)
            made[side] = (step, [p for p in method.parameters() if p.requires_grad])
    return model, made


def gradient_of(model: SyntheticVAE, step, extra, seed=0):
    for p in model.params + extra:
        p.grad = None
    torch.manual_seed(seed)
    step()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.params + extra]


def compare(a, b) -> dict:
    """Largest absolute difference over parameters, relative to the largest gradient element."""
    diff = max(float((x - y).detach().abs().max()) for x, y in zip(a, b))
    scale = max(float(y.detach().abs().max()) for y in b)
    return {"max_abs_diff": diff, "relative": diff / scale if scale else diff, "match": diff <= 1e-4 * max(scale, 1.0)}


def time_sides(model: SyntheticVAE, made: dict, steps: int, warmup: int = 10) -> dict:
    names = list(made)
    extra = [p for _, params in made.values() for p in params]
    # the estimators' own parameters get their tuning gradients but are not stepped: plain SGD on REBAR's
    # variance loss at this rate diverges within ~25 steps (eta reaches 1e16), by hand as in scgrad
    groups = [{"params": model.params}] + ([{"params": extra, "lr": 0.0}] if extra else [])
    optimiser = torch.optim.SGD(groups, lr=1e-4)
    times = {name: [] for name in names}
    for i in range(warmup + steps):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            optimiser.zero_grad()
            start = time.perf_counter()
            made[name][0]()
            optimiser.step()
            if model.x.is_cuda:
                torch.cuda.synchronize(model.x.device)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times[name].append(elapsed)
    return {f"{name}_ms": statistics.median(ts) * 1e3 for name, ts in times.items()}


def run(cases, sides, steps, device="cpu") -> dict:
    results = {}
    for case in cases:
        entry = {}
        try:
            model, made = make_sides(case, sides, device)
        except Exception as error:  # a side that cannot even be built
            entry["error"] = f"{type(error).__name__}: {error}"
            results[case] = entry
            continue
        failed = {}
        grads = {}
        for name, (step, extra) in list(made.items()):
            try:
                grads[name] = gradient_of(model, step, extra)
            except Exception as error:
                failed[name] = f"{type(error).__name__}: {error}"
                failed[name + "_traceback"] = traceback.format_exc(limit=4)
                del made[name]
        if "scgrad" in grads and "by_hand" in grads:
            entry["scgrad_vs_by_hand_gradient"] = compare(grads["scgrad"], grads["by_hand"])
            if not entry["scgrad_vs_by_hand_gradient"]["match"]:
                raise AssertionError(f"{case}: scgrad and the hand-written side disagree: {entry['scgrad_vs_by_hand_gradient']}")
        if "storchastic" in grads and "by_hand" in grads:
            if case == "rebar":  # it draws hard, relaxed and conditional noise in another order
                entry["storchastic_vs_by_hand_gradient"] = "not compared: Storchastic's REBAR draws its noise in another order"
            else:
                entry["storchastic_vs_by_hand_gradient"] = compare(grads["storchastic"], grads["by_hand"])
        entry.update(time_sides(model, made, steps))
        if failed:
            entry["failed"] = failed
        for name in made:
            if name != "by_hand" and "by_hand" in made:
                entry[f"{name}_over_by_hand"] = entry[f"{name}_ms"] / entry["by_hand_ms"]
        if "storchastic" in made and "scgrad" in made:
            entry["storchastic_over_scgrad"] = entry["storchastic_ms"] / entry["scgrad_ms"]
        results[case] = entry
    return results


def report_line(case, entry) -> str:
    if "error" in entry:
        return f"{case:16s} failed: {entry['error']}"
    parts = [f"{k[:-3]} {v:8.3f} ms" for k, v in entry.items() if k.endswith("_ms")]
    ratios = [f"{k} {v:.2f}" for k, v in entry.items() if k.endswith("_over_by_hand") or k == "storchastic_over_scgrad"]
    fails = [f"{k} FAILED: {v}" for k, v in entry.get("failed", {}).items() if not k.endswith("_traceback")]
    return f"{case:16s} " + "  ".join(parts + ratios + fails)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: steadier timings)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--device", default="cpu", help="where the model and data live (default cpu; e.g. cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/storchastic_overhead.json"))
    parser.add_argument("--without-storchastic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.without_storchastic:  # the child: never imports storch, prints its results
        results = run(args.cases, ["scgrad", "by_hand"], args.steps, args.device)
        print("RESULT " + json.dumps(results))
        return results

    report = {
        "threads": args.threads, "steps": args.steps, "torch": torch.__version__, "python": platform.python_version(),
        "device": str(args.device),
    }
    try:
        import storch  # noqa: F401  (patches torch: see the module's docstring)
        from importlib.metadata import version

        report["storchastic"] = version("storchastic")
    except Exception as error:
        report["storchastic"] = None
        report["storchastic_import_error"] = f"{type(error).__name__}: {error}"
        print(f"storchastic does not import: {report['storchastic_import_error']}")

    sides = ["storchastic", "scgrad", "by_hand"] if report["storchastic"] else ["scgrad", "by_hand"]
    print(f"with storchastic imported (torch patched by it), sides {sides}:")
    report["results"] = run(args.cases, sides, args.steps, args.device)
    for case, entry in report["results"].items():
        print(report_line(case, entry))

    command = [sys.executable, str(Path(__file__).resolve()), "--without-storchastic", "--steps", str(args.steps),
               "--threads", str(args.threads), "--device", str(args.device), "--cases", *args.cases]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the child without storchastic failed:\n{done.stderr[-4000:]}")
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RESULT "))
    report["without_storchastic"] = json.loads(line[len("RESULT "):])
    print("in a process that never imports storchastic:")
    for case, entry in report["without_storchastic"].items():
        print(report_line(case, entry))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
