"""Step time of scgrad against the same estimator written by hand, interleaved in one process.

Discrete VAE 784-200-[20x10]-200-784, batch 100, 4 samples per data point, under three estimators:
REINFORCE with a leave-one-out baseline, Gumbel-softmax (temperature 1), and REBAR (conditional
Concrete control variate with learnable scale and temperature, which ``Objective.backward()`` tunes to
minimise the variance of the gradient with respect to the logits); and a 200-step episode of
Bernoulli actions with reward-to-go REINFORCE; and a small problem where the fixed per-step cost shows:
50 Bernoullis, 8 draws each, REINFORCE with a leave-one-out baseline on a per-element quadratic cost;
and ``vae_enumerate_10``, a VAE 784-200-[10 classes]-200-784 whose one latent is summed out exactly
(``Enumerate()`` against the decoder run once per class by hand).

The hand-written sides are what a PyTorch user would write for the same estimator: no distribution
object where none is needed (Gumbel-softmax), the decoder alone evaluated at the two relaxed values
(REBAR). Two more pairs separate what scgrad's API makes the program do from scgrad's own bookkeeping:
``vae_gumbel_softmax_same_q``, where the hand-written side also builds the (validated)
``OneHotCategorical`` that an scgrad program must pass to ``scgrad.sample`` (and
``vae_gumbel_softmax_unvalidated``, where the scgrad program builds it with ``validate_args=False``,
torch's switch for skipping the checks of its arguments), and ``vae_rebar_rerun``,
where it also re-runs the encoder for each relaxed value, as scgrad's REBAR re-runs the whole program
(it cannot know which part of the program depends on the node). ``vae_rebar_stacked`` times
``REBAR(stack_evaluations=True)``, which re-runs the program once with both relaxed values stacked
(this VAE counts every dim from the right, as that option requires), against the plain hand side.

Before timing, each pair is checked, on a float64 copy, to give the same gradient (model parameters,
and the estimator's own parameters for REBAR) from the same random numbers, so the two sides compute
the same estimator. A step is ``zero_grad``, forward, backward and an SGD step; the sides alternate
step by step. Reported: the median step time of each side, in wall-clock time and in the thread's CPU
time (with one torch thread every op runs on the calling thread, forward and backward alike; CPU time
leaves out the time the process waited for a core), and the ratio as the median over steps of
scgrad's time over the hand-written side's in the same step, with a distribution-free 95% confidence
interval for that median (pairing the two sides step by step cancels the machine's slow drifts).
Pixels are synthetic Bernoulli(0.3) draws: the timing does not depend on the data. Prints the ratios
and writes JSON. ``--device cuda`` builds the models and data there (each timed step then ends with a
``torch.cuda.synchronize()``, on both sides).

    .venv/bin/python benchmarks/overhead.py --steps 200 --threads 1 --out benchmarks/out/overhead.json
    .venv/bin/python benchmarks/overhead.py --steps 300 --only bits_50_reinforce_loo
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.distributions as D
import torch.nn.functional as F
from torch import nn
from torch.distributions.utils import clamp_probs

import scgrad

BATCH, PIXELS, LATENTS, CATEGORIES, HIDDEN, SAMPLES = 100, 784, 20, 10, 200, 4


def make_vae():
    encoder = nn.Sequential(nn.Linear(PIXELS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, LATENTS * CATEGORIES))
    decoder = nn.Sequential(nn.Linear(LATENTS * CATEGORIES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PIXELS))
    return encoder, decoder


def kl_to_uniform(logits):
    log_q = logits.log_softmax(-1)
    return (log_q.exp() * (log_q + math.log(CATEGORIES))).sum((-1, -2))


def nll_of(decoder, x, z):
    """``-log p(x | z)`` per sample and data point, ``z`` of shape ``[..., LATENTS, CATEGORIES]``."""
    return -D.Independent(D.Bernoulli(logits=decoder(z.flatten(-2))), 1).log_prob(x)


def vae_scgrad(encoder, decoder, x, estimator, validate_args=None):
    def program():
        logits = encoder(x).view(-1, LATENTS, CATEGORIES)
        scgrad.cost("kl", kl_to_uniform(logits))
        q = D.Independent(D.OneHotCategorical(logits=logits, validate_args=validate_args), 1)
        z = scgrad.sample("z", q, estimator, num_samples=SAMPLES)
        scgrad.cost("nll", nll_of(decoder, x, z))

    return scgrad.surrogate(program)


def vae_reinforce_by_hand(encoder, decoder, x):
    logits = encoder(x).view(-1, LATENTS, CATEGORIES)
    kl = kl_to_uniform(logits)
    q = D.Independent(D.OneHotCategorical(logits=logits), 1)
    z = q.sample((SAMPLES,))
    log_q = q.log_prob(z)
    nll = nll_of(decoder, x, z)
    f = nll.detach()
    baseline = (f.sum(0, keepdim=True) - f) / (SAMPLES - 1)
    return kl.mean() + nll.mean() + ((f - baseline) * log_q).mean()


def gumbel(shape, like):
    """Standard Gumbel noise, from uniforms clamped away from 0 and 1 (as scgrad draws it)."""
    return -(-clamp_probs(torch.rand(shape, dtype=like.dtype, device=like.device)).log()).log()


def vae_gumbel_by_hand(encoder, decoder, x, temperature=1.0, same_distribution=False):
    logits = encoder(x).view(-1, LATENTS, CATEGORIES)
    kl = kl_to_uniform(logits)
    if same_distribution:  # build the validated distribution the scgrad program needs, perturb its logits
        logits = D.Independent(D.OneHotCategorical(logits=logits), 1).base_dist.logits
    y = ((logits + gumbel((SAMPLES,) + logits.shape, logits)) / temperature).softmax(-1)
    return kl.mean() + nll_of(decoder, x, y).mean()


class RebarByHand(nn.Module):
    """REBAR's tuning parameters: the control variate's scale and log-temperature."""

    def __init__(self, temperature=0.5, eta=1.0):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.eta = nn.Parameter(torch.tensor(float(eta)))


class RebarStep:
    """``backward()``: the variance gradient into REBAR's parameters, the surrogate's into the model's."""

    def __init__(self, loss, variance, tuning):
        self.loss, self.variance, self.tuning = loss, variance, tuning

    def backward(self):
        params = list(self.tuning.parameters())
        grads = torch.autograd.grad(self.variance, params, retain_graph=True)
        self.loss.backward()
        for param, grad in zip(params, grads):
            param.grad = grad


def vae_rebar_by_hand(encoder, decoder, x, tuning, encoder_reruns=0):
    logits = encoder(x).view(-1, LATENTS, CATEGORIES)
    kl = kl_to_uniform(logits)
    q = D.Independent(D.OneHotCategorical(logits=logits), 1)
    theta = q.base_dist.logits  # normalised: the variance is tuned for the gradient with respect to these
    z = theta + gumbel((SAMPLES,) + theta.shape, theta)
    b = F.one_hot(z.detach().argmax(-1), CATEGORIES).to(z.dtype)
    log_q = q.log_prob(b)
    nll = nll_of(decoder, x, b)
    # z~ ~ p(z | b): the winner is Gumbel(logsumexp theta), the others Gumbel(theta_i) truncated below it.
    log_e = (-clamp_probs(torch.rand(b.shape, dtype=theta.dtype, device=theta.device)).log()).log()
    top = ((theta.logsumexp(-1, keepdim=True) - log_e) * b).sum(-1, keepdim=True)
    below = torch.minimum(top - F.softplus(log_e - (theta - top)), torch.nextafter(top, torch.full_like(top, -math.inf)))
    z_tilde = torch.where(b.bool(), top, below)

    for _ in range(encoder_reruns):  # what each re-run of the whole program costs: the encoder and KL again
        again = encoder(x).view(-1, LATENTS, CATEGORIES)
        kl_to_uniform(again)
        D.Independent(D.OneHotCategorical(logits=again), 1)
    tau = tuning.log_temperature.exp()
    c_z = tuning.eta * nll_of(decoder, x, (z / tau).softmax(-1))
    c_tilde = tuning.eta * nll_of(decoder, x, (z_tilde / tau).softmax(-1))
    f = nll.detach()
    loss = kl.mean() + nll.mean() + ((f - c_tilde.detach()) * log_q).mean() + (c_z - c_tilde).mean()
    # Single-sample variance of the gradient with respect to theta, differentiable in eta and tau.
    by_score, = torch.autograd.grad(log_q, theta, grad_outputs=(f - c_tilde) / log_q.numel(), create_graph=True)
    by_path, = torch.autograd.grad((c_z - c_tilde).mean(), theta, create_graph=True)
    return RebarStep(loss, (by_score + by_path).pow(2).sum(), tuning)


EPISODE = 200


def make_enumerated_vae():
    encoder = nn.Sequential(nn.Linear(PIXELS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CATEGORIES))
    decoder = nn.Sequential(nn.Linear(CATEGORIES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PIXELS))
    return encoder, decoder


def class_kl(logits):
    log_q = logits.log_softmax(-1)
    return (log_q.exp() * (log_q + math.log(CATEGORIES))).sum(-1)


def enumerated_scgrad(encoder, decoder, x):
    """One 10-class latent per data point, enumerated by ``Enumerate()``: the decoder sees each class."""
    def program():
        logits = encoder(x)
        scgrad.cost("kl", class_kl(logits))
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.Enumerate())
        one_hot = nn.functional.one_hot(z, CATEGORIES).to(x.dtype)
        scgrad.cost("nll", -D.Independent(D.Bernoulli(logits=decoder(one_hot)), 1).log_prob(x))

    return scgrad.surrogate(program)


def enumerated_by_hand(encoder, decoder, x):
    """The same expectation written out: the decoder run once per class, weighted by ``q``."""
    logits = encoder(x)
    classes = torch.eye(CATEGORIES, dtype=x.dtype, device=x.device)
    nll = -D.Independent(D.Bernoulli(logits=decoder(classes).unsqueeze(1)), 1).log_prob(x)  # [classes, batch]
    return class_kl(logits).mean() + (logits.softmax(-1).T * nll).sum(0).mean()


def episode_scgrad(policy, rewards, estimator=scgrad.ScoreFunction()):
    """An episode of ``len(rewards)`` Bernoulli actions under ``scgrad.surrogate``: one node and one cost per step."""

    def program():
        for t in range(len(rewards)):
            action = scgrad.sample(f"a{t}", D.Bernoulli(logits=policy[t]), estimator)
            scgrad.cost(f"r{t}", -rewards[t] * action)

    return scgrad.surrogate(program)


def episode_by_hand(policy, rewards):
    """The same episode's reward-to-go REINFORCE loss, written out."""
    log_probs, costs = [], []
    for t in range(len(rewards)):
        dist = D.Bernoulli(logits=policy[t])
        action = dist.sample()
        log_probs.append(dist.log_prob(action))
        costs.append(-rewards[t] * action)
    costs = torch.stack(costs)
    to_go = costs.flip(0).cumsum(0).flip(0)
    return costs.sum() + (torch.stack(log_probs) * to_go.detach()).sum()


BITS, DRAWS = 50, 8


def bits_scgrad(logits, targets, estimator):
    """``E[mean (b - t)^2]`` over 50 Bernoullis, 8 draws each, under ``scgrad.surrogate``."""

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=DRAWS)  # [8, 50]
        scgrad.cost("squared_error", (b - targets) ** 2)

    return scgrad.surrogate(program)


def bits_by_hand(logits, targets):
    """The same problem's REINFORCE loss with a leave-one-out baseline over the draws, written out."""
    q = D.Bernoulli(logits=logits)
    b = q.sample((DRAWS,))
    f = (b - targets) ** 2
    baseline = (f.sum(0, keepdim=True) - f) / (DRAWS - 1)
    return f.mean() + ((f - baseline) * q.log_prob(b)).mean()


def check_same_gradient(ours, theirs, model, tuning_ours=(), tuning_theirs=(), seed=0):
    """Both sides' ``.backward()`` from the same random numbers fill the same ``.grad``s.

    Run on a float64 copy of the case (see :func:`main`), where the two sides agree to rounding
    (``|a - b| <= 1e-9 |b|`` per tensor) although they order some sums differently and Gumbel-softmax
    by hand perturbs the raw logits where scgrad perturbs the normalised ones; in float32 such rounding
    can flip a ReLU and move a gradient visibly.
    """
    grads = []
    for run, params in ((ours, [*model, *tuning_ours]), (theirs, [*model, *tuning_theirs])):
        for p in params:
            p.grad = None
        torch.manual_seed(seed)
        run().backward()
        grads.append([p.grad for p in params])
        for p in params:
            p.grad = None
    for a, b in zip(*grads):
        assert a is not None and b is not None
        error = (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item()
        assert error <= 1e-9, f"the two sides' gradients differ: relative error {error:.3g}"


@contextlib.contextmanager
def default_dtype(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def time_pair(ours, theirs, model, tuning_ours=(), tuning_theirs=(), steps=200, warmup=10, device="cpu"):
    # A small step for the tuning parameters: plain SGD on the variance diverges at the model's rate.
    def optimiser(tuning):
        groups = [{"params": model}] + ([{"params": list(tuning), "lr": 1e-7}] if tuning else [])
        return torch.optim.SGD(groups, lr=1e-4)

    optimisers = {"scgrad": optimiser(tuning_ours), "by_hand": optimiser(tuning_theirs)}
    times = {(side, clock): [] for side in ("scgrad", "by_hand") for clock in ("wall", "cpu")}

    def step(name, run):
        optimiser = optimisers[name]
        wall, cpu = time.perf_counter(), time.thread_time()
        optimiser.zero_grad()
        run().backward()
        optimiser.step()
        if torch.device(device).type == "cuda":  # the step's kernels, not just their launch
            torch.cuda.synchronize(device)
        return time.perf_counter() - wall, time.thread_time() - cpu

    for i in range(warmup + steps):
        order = (("scgrad", ours), ("by_hand", theirs)) if i % 2 == 0 else (("by_hand", theirs), ("scgrad", ours))
        for name, run in order:
            wall, cpu = step(name, run)
            if i >= warmup:
                times[name, "wall"].append(wall)
                times[name, "cpu"].append(cpu)
    ms = {key: statistics.median(ts) * 1e3 for key, ts in times.items()}
    wall, wall_low, wall_high = paired_ratio(times["scgrad", "wall"], times["by_hand", "wall"])
    cpu, cpu_low, cpu_high = paired_ratio(times["scgrad", "cpu"], times["by_hand", "cpu"])
    return {
        "scgrad_ms": ms["scgrad", "wall"],
        "by_hand_ms": ms["by_hand", "wall"],
        "ratio": wall,
        "ratio_ci95": [wall_low, wall_high],
        "scgrad_cpu_ms": ms["scgrad", "cpu"],
        "by_hand_cpu_ms": ms["by_hand", "cpu"],
        "cpu_ratio": cpu,
        "cpu_ratio_ci95": [cpu_low, cpu_high],
        "steps": steps,
    }


def paired_ratio(ours, theirs):
    """Median over steps of ``ours[i] / theirs[i]``, and a 95% confidence interval for it.

    The interval is the distribution-free one for a median: the order statistics ``n/2 ± 1.96 √n / 2``
    of the sorted ratios.
    """
    ratios = sorted(a / b for a, b in zip(ours, theirs))
    n = len(ratios)
    half_width = 1.96 * math.sqrt(n) / 2
    low, high = max(math.floor(n / 2 - half_width), 0), min(math.ceil(n / 2 + half_width), n - 1)
    return statistics.median(ratios), ratios[low], ratios[high]


def cases(device="cpu"):
    """``name -> (scgrad step, hand-written step, model parameters[, scgrad's tuning parameters, the hand-written side's])``.

    Models, data and the estimators' own parameters live on ``device``.
    """
    encoder, decoder = (net.to(device) for net in make_vae())
    x = torch.bernoulli(torch.full((BATCH, PIXELS), 0.3, device=device))
    model = [*encoder.parameters(), *decoder.parameters()]
    loo = scgrad.ScoreFunction(scgrad.LeaveOneOut())
    relaxed = scgrad.GumbelSoftmax(temperature=1.0)

    def rebar_pair(stack_evaluations=False, encoder_reruns=0):
        """A REBAR case: each side with tuning parameters of its own, from the same initial values."""
        ours = scgrad.REBAR(temperature=0.5, eta=1.0, stack_evaluations=stack_evaluations).to(device)
        theirs = RebarByHand(0.5, 1.0).to(device)
        return (
            lambda: vae_scgrad(encoder, decoder, x, ours),
            lambda: vae_rebar_by_hand(encoder, decoder, x, theirs, encoder_reruns=encoder_reruns),
            model,
            [ours.temperature.log_value, ours.eta],
            [theirs.log_temperature, theirs.eta],
        )

    policy = torch.zeros(EPISODE, device=device, requires_grad=True)
    rewards = torch.rand(EPISODE, device=device)
    logits = torch.zeros(BITS, device=device, requires_grad=True)
    targets = torch.linspace(0.05, 0.95, BITS, device=device)
    enumerated = [net.to(device) for net in make_enumerated_vae()]
    return {
        "vae_enumerate_10": (lambda: enumerated_scgrad(*enumerated, x), lambda: enumerated_by_hand(*enumerated, x),
                             [p for net in enumerated for p in net.parameters()]),
        "vae_reinforce_loo": (lambda: vae_scgrad(encoder, decoder, x, loo), lambda: vae_reinforce_by_hand(encoder, decoder, x), model),
        "vae_gumbel_softmax": (lambda: vae_scgrad(encoder, decoder, x, relaxed), lambda: vae_gumbel_by_hand(encoder, decoder, x), model),
        "vae_gumbel_softmax_same_q": (
            lambda: vae_scgrad(encoder, decoder, x, relaxed),
            lambda: vae_gumbel_by_hand(encoder, decoder, x, same_distribution=True),
            model,
        ),
        "vae_gumbel_softmax_unvalidated": (
            lambda: vae_scgrad(encoder, decoder, x, relaxed, validate_args=False),
            lambda: vae_gumbel_by_hand(encoder, decoder, x),
            model,
        ),
        "vae_rebar": rebar_pair(),
        "vae_rebar_rerun": rebar_pair(encoder_reruns=2),
        "vae_rebar_stacked": rebar_pair(stack_evaluations=True),
        "episode_200_reinforce": (lambda: episode_scgrad(policy, rewards), lambda: episode_by_hand(policy, rewards), [policy]),
        "bits_50_reinforce_loo": (lambda: bits_scgrad(logits, targets, loo), lambda: bits_by_hand(logits, targets), [logits]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: steadier timings)")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--device", default="cpu", help="where models and data live (default cpu; e.g. cuda)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/overhead.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    results = {}
    for name in cases():
        if args.only and name not in args.only:
            continue
        with default_dtype(torch.float64):
            torch.manual_seed(0)
            ours, theirs, *params = cases(args.device)[name]
            check_same_gradient(ours, theirs, *params)
        torch.manual_seed(0)
        ours, theirs, *params = cases(args.device)[name]
        results[name] = time_pair(ours, theirs, *params, steps=args.steps, warmup=args.warmup, device=args.device)
        r = results[name]
        print(
            f"{name:30s} scgrad {r['scgrad_ms']:7.3f} ms  by hand {r['by_hand_ms']:7.3f} ms  "
            f"ratio {r['ratio']:.3f} [{r['ratio_ci95'][0]:.3f}, {r['ratio_ci95'][1]:.3f}]"
            f"   (thread CPU time: {r['scgrad_cpu_ms']:7.3f} / {r['by_hand_cpu_ms']:7.3f} ms, "
            f"ratio {r['cpu_ratio']:.3f} [{r['cpu_ratio_ci95'][0]:.3f}, {r['cpu_ratio_ci95'][1]:.3f}])",
            flush=True,
        )
    machine = {
        "torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads,
        "device": str(args.device),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "machine": machine, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
