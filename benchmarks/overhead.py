"""Step time of scgrad against the same estimator written by hand, interleaved in one process.

Discrete VAE 784-200-[20x10]-200-784, batch 100, 4 samples per data point, REINFORCE with a
leave-one-out baseline; and a 200-step episode of Bernoulli actions with reward-to-go REINFORCE.
Before timing, each pair is checked to give the same gradient from the same random numbers, so the
two sides compute the same estimator. Pixels are synthetic Bernoulli(0.3) draws: the timing does not
depend on the data. Prints the ratios and writes JSON.

    .venv/bin/python benchmarks/overhead.py --steps 200 --out benchmarks/out/overhead.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.distributions as D
from torch import nn

import scgrad

BATCH, PIXELS, LATENTS, CATEGORIES, HIDDEN, SAMPLES = 100, 784, 20, 10, 200, 4


def make_vae():
    encoder = nn.Sequential(nn.Linear(PIXELS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, LATENTS * CATEGORIES))
    decoder = nn.Sequential(nn.Linear(LATENTS * CATEGORIES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PIXELS))
    return encoder, decoder


def kl_to_uniform(logits):
    log_q = logits.log_softmax(-1)
    return (log_q.exp() * (log_q + torch.log(torch.tensor(float(CATEGORIES))))).sum((-1, -2))


def vae_scgrad(encoder, decoder, x):
    def program():
        logits = encoder(x).view(-1, LATENTS, CATEGORIES)
        scgrad.cost("kl", kl_to_uniform(logits))
        q = D.Independent(D.OneHotCategorical(logits=logits), 1)
        z = scgrad.sample("z", q, scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=SAMPLES)
        px = D.Independent(D.Bernoulli(logits=decoder(z.flatten(-2))), 1)
        scgrad.cost("nll", -px.log_prob(x))

    return scgrad.surrogate(program).loss


def vae_by_hand(encoder, decoder, x):
    logits = encoder(x).view(-1, LATENTS, CATEGORIES)
    kl = kl_to_uniform(logits)
    q = D.Independent(D.OneHotCategorical(logits=logits), 1)
    z = q.sample((SAMPLES,))
    log_q = q.log_prob(z)
    nll = -D.Independent(D.Bernoulli(logits=decoder(z.flatten(-2))), 1).log_prob(x)
    f = nll.detach()
    baseline = (f.sum(0, keepdim=True) - f) / (SAMPLES - 1)
    return kl.mean() + nll.mean() + ((f - baseline) * log_q).mean()


EPISODE = 200


def episode_scgrad(policy, rewards, estimator=scgrad.ScoreFunction()):
    def program():
        for t in range(EPISODE):
            action = scgrad.sample(f"a{t}", D.Bernoulli(logits=policy[t]), estimator)
            scgrad.cost(f"r{t}", -rewards[t] * action)

    return scgrad.surrogate(program).loss


def episode_by_hand(policy, rewards):
    log_probs, costs = [], []
    for t in range(EPISODE):
        dist = D.Bernoulli(logits=policy[t])
        action = dist.sample()
        log_probs.append(dist.log_prob(action))
        costs.append(-rewards[t] * action)
    costs = torch.stack(costs)
    to_go = costs.flip(0).cumsum(0).flip(0)
    return costs.sum() + (torch.stack(log_probs) * to_go.detach()).sum()


def check_same_gradient(loss_a, loss_b, params, seed=0):
    grads = []
    for loss in (loss_a, loss_b):
        torch.manual_seed(seed)
        grads.append(torch.autograd.grad(loss(), params))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def time_pair(loss_a, loss_b, params, steps, warmup=10):
    optimiser = torch.optim.SGD(params, lr=1e-4)
    times = {"scgrad": [], "by_hand": []}

    def step(loss):
        optimiser.zero_grad()
        start = time.perf_counter()
        loss().backward()
        optimiser.step()
        return time.perf_counter() - start

    for i in range(warmup + steps):
        for name, loss in (("scgrad", loss_a), ("by_hand", loss_b)) if i % 2 == 0 else (("by_hand", loss_b), ("scgrad", loss_a)):
            elapsed = step(loss)
            if i >= warmup:
                times[name].append(elapsed)
    medians = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    return {"scgrad_ms": medians["scgrad"], "by_hand_ms": medians["by_hand"], "ratio": medians["scgrad"] / medians["by_hand"], "steps": steps}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: steadier timings)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/overhead.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    encoder, decoder = make_vae()
    x = torch.bernoulli(torch.full((BATCH, PIXELS), 0.3))
    vae_params = [*encoder.parameters(), *decoder.parameters()]
    policy = torch.zeros(EPISODE, requires_grad=True)
    rewards = torch.rand(EPISODE)

    cases = {
        "vae_reinforce_loo": (lambda: vae_scgrad(encoder, decoder, x), lambda: vae_by_hand(encoder, decoder, x), vae_params),
        "episode_200_reinforce": (lambda: episode_scgrad(policy, rewards), lambda: episode_by_hand(policy, rewards), [policy]),
    }
    results = {}
    for name, (ours, theirs, params) in cases.items():
        check_same_gradient(ours, theirs, params)
        results[name] = time_pair(ours, theirs, params, args.steps)
        r = results[name]
        print(f"{name:24s} scgrad {r['scgrad_ms']:7.3f} ms  by hand {r['by_hand_ms']:7.3f} ms  ratio {r['ratio']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
