"""One contract over every estimator: constant, linear and quadratic costs with known gradients.

Adding an estimator means adding one line to ``EXAMPLES``. Each case draws ``REPLICAS`` independent
copies of the node as batch elements, each with its own parameter, so one call gives ``REPLICAS``
independent gradient estimates (batch independence is tested on its own in tests/core).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad
from stats import assert_unbiased

REPLICAS = 4000
T = 0.45


@dataclass
class Family:
    """A distribution family with closed-form expectations of a few costs."""

    params: Callable[[], dict]
    dist: Callable[[dict], D.Distribution]
    costs: dict  # name -> (cost of z, exact gradient per parameter name at the initial values)


BERNOULLI = Family(
    params=lambda: {"p": torch.full((REPLICAS,), 0.3)},
    dist=lambda P: D.Bernoulli(probs=P["p"]),
    costs={
        "constant": (lambda z: torch.full_like(z, 2.0), {"p": 0.0}),
        "linear": (lambda z: 3.0 * z, {"p": 3.0}),
        "quadratic": (lambda z: (z - T) ** 2, {"p": 1 - 2 * T}),
    },
)
NORMAL = Family(
    params=lambda: {"mu": torch.full((REPLICAS,), 0.5), "sigma": torch.full((REPLICAS,), 1.3)},
    dist=lambda P: D.Normal(P["mu"], P["sigma"]),
    costs={
        "constant": (lambda z: torch.full_like(z, 2.0), {"mu": 0.0, "sigma": 0.0}),
        "linear": (lambda z: 3.0 * z, {"mu": 3.0, "sigma": 0.0}),
        "quadratic": (lambda z: z**2, {"mu": 2 * 0.5, "sigma": 2 * 1.3}),
    },
)

CATEGORIES = torch.tensor([0.0, 1.0, 2.0])


def categorical_logits(a):
    """Three outcomes whose logits move with one parameter per replica."""
    return torch.stack([torch.zeros_like(a), a, -a], -1)


def categorical_gradient(cost, a=0.2):
    """d/da of the exact expectation of ``cost`` over the three outcomes."""
    a = torch.tensor(a, requires_grad=True)
    expectation = (categorical_logits(a).softmax(-1) * cost(CATEGORIES)).sum()
    return torch.autograd.grad(expectation, a, allow_unused=True, materialize_grads=True)[0].item()


CATEGORICAL = Family(
    params=lambda: {"a": torch.full((REPLICAS,), 0.2)},
    dist=lambda P: D.Categorical(logits=categorical_logits(P["a"])),
    costs={
        name: (cost, {"a": categorical_gradient(cost)})
        for name, cost in {
            "constant": lambda z: torch.full_like(z, 2.0, dtype=torch.get_default_dtype()),
            "linear": lambda z: 3.0 * z,
            "quadratic": lambda z: (z - 0.7) ** 2,
        }.items()
    },
)
ONE_HOT = Family(
    params=CATEGORICAL.params,
    dist=lambda P: D.OneHotCategorical(logits=categorical_logits(P["a"])),
    costs={name: (lambda z, cost=cost: cost(z @ CATEGORIES.to(z.device)), grad) for name, (cost, grad) in CATEGORICAL.costs.items()},
)
FAMILY_NAMES = {id(BERNOULLI): "bernoulli", id(NORMAL): "normal", id(CATEGORICAL): "categorical", id(ONE_HOT): "one_hot"}


def critic():
    return scgrad.Critic(nn.Sequential(nn.Linear(1, 1), nn.Flatten(0)))


FAMILIES = (BERNOULLI, NORMAL, CATEGORICAL, ONE_HOT)


def serves(make, family) -> bool:
    """Whether the estimator ``make()`` gives accepts the family's distribution (its own ``check``)."""
    dist = family.dist(family.params())
    try:
        make().check("z", dist)
    except scgrad.ScgradError:
        return False
    return True


# (id, estimator factory, families, num_samples): every unbiased estimator of the one list (the
# diagnostics catalogue, which adding an estimator extends by a line) on every family it serves, and two
# configurations the catalogue does not hold.
EXAMPLES = [
    (entry.name, (lambda entry=entry: entry.make(None)), tuple(f for f in FAMILIES if serves(lambda: entry.make(None), f)), entry.draws)
    for entry in scgrad.diagnostics.CATALOGUE
    if not entry.biased
] + [
    ("critic", lambda: scgrad.ScoreFunction(critic()), (BERNOULLI, NORMAL), None),
    ("enumerate_draws", scgrad.Enumerate, (BERNOULLI,), 3),
]
RELAXATIONS = [entry for entry in scgrad.diagnostics.CATALOGUE if entry.biased]

CASES = [
    pytest.param(make, family, num_samples, cost_name, id=f"{name}-{FAMILY_NAMES[id(family)]}-{cost_name}")
    for name, make, families, num_samples in EXAMPLES
    for family in families
    for cost_name in family.costs
]


@pytest.mark.parametrize("make, family, num_samples, cost_name", CASES)
def test_estimator_contract(make, family, num_samples, cost_name, device):
    torch.manual_seed(0)
    cost_fn, expected = family.costs[cost_name]
    params = {k: v.to(device).requires_grad_() for k, v in family.params().items()}
    estimator = make().to(device)
    if isinstance(estimator, scgrad.ScoreFunction) and isinstance(estimator.baseline, scgrad.Critic):
        estimator = scgrad.ScoreFunction(estimator.baseline.given(torch.ones(REPLICAS, 1, device=device)))

    def program():
        z = scgrad.sample("z", family.dist(params), estimator, num_samples=num_samples)
        scgrad.cost("c", cost_fn(z))

    scgrad.surrogate(program)  # a first call warms up stateful baselines
    obj = scgrad.surrogate(program)
    assert torch.allclose(obj.loss.detach(), obj.cost)
    if obj.loss.requires_grad:
        grads = torch.autograd.grad(obj.loss, list(params.values()), materialize_grads=True)
    else:  # e.g. a constant cost through a pathwise node: nothing to differentiate
        grads = [torch.zeros(REPLICAS, device=device) for _ in params]
    assert all(g.device == torch.device(device) for g in grads)
    samples = torch.stack([g * REPLICAS for g in grads], dim=1).cpu()  # [REPLICAS, n_params]
    assert_unbiased(samples, torch.tensor([expected[k] for k in params]))


FIRST_ORDER_ONLY = {"arm", "disarm", "indecater", "measure_valued", "muprop", "rebar", "relax", "relax_rebar", "lax", "unordered_set"}


@pytest.mark.parametrize("name, make, family, num_samples", [(n, m, f[0], s) for n, m, f, s in EXAMPLES], ids=[e[0] for e in EXAMPLES])
def test_a_first_order_estimator_refuses_second_derivatives(name, make, family, num_samples):
    torch.manual_seed(0)
    cost_fn, _ = family.costs["quadratic"]
    params = {k: v.requires_grad_() for k, v in family.params().items()}
    estimator = make()
    if isinstance(estimator, scgrad.ScoreFunction) and isinstance(estimator.baseline, scgrad.Critic):
        estimator = scgrad.ScoreFunction(estimator.baseline.given(torch.ones(REPLICAS, 1)))

    def program():
        z = scgrad.sample("z", family.dist(params), estimator, num_samples=num_samples)
        scgrad.cost("c", cost_fn(z))

    assert make().first_order_only == (name in FIRST_ORDER_ONLY)
    first = torch.autograd.grad(scgrad.surrogate(program).loss, list(params.values()), allow_unused=True)
    assert any(g is not None for g in first)  # first derivatives are always given
    loss = scgrad.surrogate(program).loss
    if name in FIRST_ORDER_ONLY:
        with pytest.raises(scgrad.ScgradError, match=rf"node\(s\) 'z' \({type(estimator).__name__}\).*first derivatives only"):
            torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
    else:
        torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
