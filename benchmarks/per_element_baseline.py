"""Gradient variance of moving-average baselines on a mixture with a plate of 5: scalar, per element, Pyro's.

The model: five data points ``x_i``, each assigned to one of three Gaussian components (means -3, 0, 3,
unit variance, uniform prior) by a ``Categorical`` choice ``z_i`` with its own logits ``phi_i``
(``[5, 3]``, fixed, drawn once from the seed). The data points lie at very different distances from
the components (one is far out), so their costs differ by two orders of magnitude. The gradient is that
of the negative ELBO, ``sum_i E_q[log q(z_i) - log p(z_i) - log p(x_i | z_i)]``, with respect to
``phi``, by the score function with a baseline:

- ``scgrad_scalar``: ``ScoreFunction(MovingAverage(decay=0.9))``, one average;
- ``scgrad_per_element``: ``ScoreFunction(MovingAverage(decay=0.9, per_element=True))``, one per data point;
- ``pyro``: Pyro's ``TraceGraph_ELBO`` with ``infer={"baseline": {"use_decaying_avg_baseline": True,
  "baseline_beta": 0.9}}``, which keeps one decaying average per site and plate element.

The three use the estimator Pyro's ``TraceGraph_ELBO`` builds for a non-reparameterised site (the
score times the downstream cost, ``log q`` in it detached), so they differ only in the baseline. At
fixed ``phi``, each runs ``--warmup`` steps (the averages settle; Pyro's starts from zero, scgrad's
from the first cost) and then ``--estimates`` gradient estimates, each step updating its average as in
training, all from the same seed (common random numbers: the three draw the same assignments).
Reported: the variance (trace of the covariance of the estimates), the ratios with a 95% bootstrap
interval (pairs of steps resampled together), the mean gradient's distance from the exact one (the
model is enumerated in closed form) in standard errors, and the largest difference between scgrad's
per-element estimates and Pyro's (after the warmup both compute the same numbers up to rounding and
what is left of their different starts, ``0.9 ** warmup``).

Needs Pyro (``pip install pyro-ppl==1.9.2 pyro-api==0.1.2 opt_einsum==3.4.0 --no-deps``; the ``bench``
extra); ``--without-pyro`` runs the scgrad sides alone.

    .venv/bin/python benchmarks/per_element_baseline.py --out benchmarks/out/per_element_baseline.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import torch
import torch.distributions as D

import scgrad

LOCS = (-3.0, 0.0, 3.0)
DATA = (-3.5, -0.2, 0.4, 2.5, 9.0)
DECAY = 0.9


def problem(device, seed: int):
    """``(phi, locs, data)`` in float64 on ``device``; ``phi`` a leaf with gradient."""
    generator = torch.Generator().manual_seed(seed)
    phi = torch.randn(len(DATA), len(LOCS), generator=generator, dtype=torch.float64).to(device).requires_grad_()
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float64, device=device)  # noqa: E731
    return phi, as_tensor(LOCS), as_tensor(DATA)


def log_joint(z, locs, data):
    """``log p(z_i) + log p(x_i | z_i)`` per data point."""
    prior = -math.log(len(LOCS))
    return prior + D.Normal(locs[z], 1.0).log_prob(data)


def exact_gradient(phi, locs, data):
    """``d/dphi`` of the negative ELBO, summed over the outcomes of each data point's assignment."""
    phi = phi.detach().requires_grad_()
    log_q = phi.log_softmax(-1)  # [5, 3]
    outcomes = torch.arange(len(LOCS), device=phi.device)
    joint = log_joint(outcomes, locs, data.unsqueeze(-1))  # [5, 3]
    loss = (log_q.exp() * (log_q - joint)).sum()
    return torch.autograd.grad(loss, phi)[0]


def scgrad_estimator(per_element: bool):
    estimator = scgrad.ScoreFunction(scgrad.MovingAverage(decay=DECAY, per_element=per_element)).double()

    def estimate(phi, locs, data):
        def program():
            q = D.Categorical(logits=phi)
            z = scgrad.sample("z", q, estimator)
            # the negative ELBO per data point; log q detached, as Pyro's surrogate has it for this site
            scgrad.cost("negative_elbo", q.log_prob(z).detach() - log_joint(z, locs, data))

        loss = scgrad.surrogate(program).loss * len(DATA)  # scgrad averages over data points; the ELBO sums them
        return torch.autograd.grad(loss, phi)[0]

    return estimate


def pyro_estimator():
    import pyro
    import pyro.distributions as dist
    from pyro.infer import TraceGraph_ELBO

    pyro.clear_param_store()
    baseline = {"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": DECAY}}

    def model(phi, locs, data):
        with pyro.plate("data", len(DATA)):
            z = pyro.sample("z", dist.Categorical(logits=torch.zeros_like(phi)))
            pyro.sample("x", dist.Normal(locs[z], 1.0), obs=data)

    def guide(phi, locs, data):
        with pyro.plate("data", len(DATA)):
            pyro.sample("z", dist.Categorical(logits=phi), infer=baseline)

    elbo = TraceGraph_ELBO()

    def estimate(phi, locs, data):
        phi.grad = None
        elbo.loss_and_grads(model, guide, phi, locs, data)
        return phi.grad.clone()

    return estimate


def run(estimate, phi, locs, data, warmup: int, estimates: int, seed: int) -> torch.Tensor:
    """``[estimates, phi.numel()]`` gradient estimates after ``warmup`` steps, from ``seed``."""
    torch.manual_seed(seed)
    for _ in range(warmup):
        estimate(phi, locs, data)
    return torch.stack([estimate(phi, locs, data).reshape(-1) for _ in range(estimates)]).cpu()


def variance(samples: torch.Tensor) -> torch.Tensor:
    """Trace of the covariance of the rows of ``samples`` (``[..., n, d]``)."""
    return samples.var(-2).sum(-1)


def ratio_interval(first: torch.Tensor, second: torch.Tensor, resamples: int, seed: int) -> list[float]:
    """95% bootstrap interval of ``variance(first) / variance(second)``, the two resampled by the same steps."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(first.shape[0], (resamples, first.shape[0]), generator=generator)
    ratios = variance(first[index]) / variance(second[index])
    return [float(ratios.quantile(0.025)), float(ratios.quantile(0.975))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--estimates", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the ratio intervals")
    parser.add_argument("--device", default="cpu", help="where parameters and data live (default cpu; e.g. cuda)")
    parser.add_argument("--without-pyro", action="store_true", help="measure the two scgrad baselines only")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/per_element_baseline.json"))
    args = parser.parse_args(argv)

    phi, locs, data = problem(args.device, args.seed)
    exact = exact_gradient(phi, locs, data).reshape(-1).cpu()
    sides = {"scgrad_scalar": scgrad_estimator(False), "scgrad_per_element": scgrad_estimator(True)}
    if not args.without_pyro:
        sides["pyro"] = pyro_estimator()
    samples = {
        name: run(estimate, phi, locs, data, args.warmup, args.estimates, args.seed + 1) for name, estimate in sides.items()
    }

    results = {}
    for name, found in samples.items():
        stderr = found.std(0) / found.shape[0] ** 0.5
        results[name] = {
            "variance": float(variance(found)),
            "max_z_from_exact": float(((found.mean(0) - exact).abs() / stderr).max()),
        }
        print(f"{name:20s} variance {results[name]['variance']:10.4g}   mean within {results[name]['max_z_from_exact']:.2f} "
              f"standard errors of the exact gradient")
    pairs = [("scgrad_scalar", "scgrad_per_element")]
    if "pyro" in samples:
        pairs += [("scgrad_scalar", "pyro"), ("scgrad_per_element", "pyro")]
    ratios = {}
    for first, second in pairs:
        value = results[first]["variance"] / results[second]["variance"]
        low, high = ratio_interval(samples[first], samples[second], args.resamples, args.seed)
        ratios[f"{first}/{second}"] = {"ratio": value, "ci95": [low, high]}
        print(f"variance {first} / {second}: {value:.3f} [{low:.3f}, {high:.3f}]")
    if "pyro" in samples:
        gap = (samples["scgrad_per_element"] - samples["pyro"]).abs().max() / samples["pyro"].abs().max()
        results["max_relative_difference_per_element_vs_pyro"] = float(gap)
        print(f"largest difference between scgrad's per-element estimates and Pyro's: {float(gap):.2e} (relative)")

    report = {
        "model": {"locs": LOCS, "data": DATA, "decay": DECAY, "plate": len(DATA)},
        "settings": {key: value for key, value in vars(args).items() if key != "out"},
        "machine": {"torch": torch.__version__, "python": platform.python_version(), "device": str(args.device)},
        "exact_gradient": exact.tolist(),
        "results": results,
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
