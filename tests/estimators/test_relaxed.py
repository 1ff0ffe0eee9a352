"""Gumbel-softmax and straight-through: the bias each should have, shapes, validation, temperatures.

Relaxations are biased, so they are not in the unbiasedness contract (tests/test_contract.py); each gets
the contract it does satisfy instead: straight-through is exact for costs linear in the sample, and
Gumbel-softmax's gradient is the pathwise gradient of the relaxed objective, which torch computes
independently through ``RelaxedOneHotCategorical`` / ``RelaxedBernoulli``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad
from stats import Z_LIMIT, assert_unbiased

REPLICAS = 4000
INIT = [0.3, -0.2, 0.8]
W = torch.tensor([1.0, -2.0, 0.5])


def assert_same_mean(a: torch.Tensor, b: torch.Tensor, limit: float = Z_LIMIT) -> None:
    """Two-sample test: fail if a component's means differ by more than ``limit`` standard errors."""
    z = (a.mean(0) - b.mean(0)).abs() / (a.var(0) / a.shape[0] + b.var(0) / b.shape[0]).sqrt()
    assert bool((z < limit).all()), f"means differ: |z| = {z.tolist()}; {a.mean(0).tolist()} vs {b.mean(0).tolist()}"


def categorical_cost(y):  # nonlinear in the (relaxed) one-hot vector
    return (y * W).sum(-1) ** 2 + (y**3).sum(-1)


def bernoulli_cost(y):
    return (y - 0.35) ** 2 + 0.5 * y**3


def replicated_logits(binary: bool):
    init = torch.tensor(0.4) if binary else torch.tensor(INIT)
    return init.expand((REPLICAS,) + init.shape).clone().requires_grad_()


def scgrad_gradients(make_dist, estimator, cost, logits, num_samples=None, seed=0):
    """One surrogate call over REPLICAS independent copies: REPLICAS gradient samples, one per row."""
    torch.manual_seed(seed)

    def program():
        y = scgrad.sample("y", make_dist(logits), estimator, num_samples=num_samples)
        scgrad.cost("c", cost(y))

    grad, = torch.autograd.grad(scgrad.surrogate(program).loss, logits)
    return (grad * REPLICAS).reshape(REPLICAS, -1)


def torch_relaxed_gradients(relaxed_dist, cost, logits, num_samples=None, seed=1):
    torch.manual_seed(seed)
    y = relaxed_dist.rsample(() if num_samples is None else (num_samples,))
    grad, = torch.autograd.grad(cost(y).mean(), logits)
    return (grad * REPLICAS).reshape(REPLICAS, -1)


CATEGORICAL_KINDS = {"categorical": D.Categorical, "one_hot": D.OneHotCategorical}


@pytest.mark.parametrize("temperature", [0.5, 2.0])
@pytest.mark.parametrize("kind", ["categorical", "one_hot", "bernoulli"])
@pytest.mark.parametrize("num_samples", [None, 2])
def test_gumbel_softmax_is_the_pathwise_gradient_of_the_relaxed_objective(kind, temperature, num_samples):
    binary = kind == "bernoulli"
    logits = replicated_logits(binary)
    cost = bernoulli_cost if binary else categorical_cost
    tau = torch.tensor(temperature)
    if binary:
        make, relaxed = (lambda l: D.Bernoulli(logits=l)), D.RelaxedBernoulli(tau, logits=logits)
    else:
        make, relaxed = (lambda l: CATEGORICAL_KINDS[kind](logits=l)), D.RelaxedOneHotCategorical(tau, logits=logits)
    ours = scgrad_gradients(make, scgrad.GumbelSoftmax(temperature), cost, logits, num_samples)
    reference = torch_relaxed_gradients(relaxed, cost, logits, num_samples)
    assert_same_mean(ours, reference)


def test_the_relaxed_gradient_check_catches_a_wrong_temperature():
    logits = replicated_logits(False)
    ours = scgrad_gradients(lambda l: D.OneHotCategorical(logits=l), scgrad.GumbelSoftmax(0.5), categorical_cost, logits)
    reference = torch_relaxed_gradients(D.RelaxedOneHotCategorical(torch.tensor(0.8), logits=logits), categorical_cost, logits)
    with pytest.raises(AssertionError, match="means differ"):
        assert_same_mean(ours, reference)


def test_gumbel_softmax_is_biased_for_the_discrete_objective():
    """Documented bias: at τ = 1, Gumbel-softmax's mean gradient is not the exact one, even for a linear cost."""
    logits = replicated_logits(True)
    ours = scgrad_gradients(lambda l: D.Bernoulli(logits=l), scgrad.GumbelSoftmax(1.0), lambda y: 3 * y, logits)
    p = torch.sigmoid(torch.tensor(0.4))
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(ours, 3 * p * (1 - p))


def test_hard_gumbel_softmax_is_discrete_forward_with_the_soft_gradient():
    logits = torch.tensor([INIT, INIT[::-1]], requires_grad=True)
    values, grads = {}, {}
    for hard in (False, True):
        torch.manual_seed(3)

        def program():
            y = scgrad.sample("y", D.Categorical(logits=logits), scgrad.GumbelSoftmax(0.7, hard=hard), num_samples=5)
            values[hard] = y
            scgrad.cost("c", (y * W).sum(-1))

        grads[hard], = torch.autograd.grad(scgrad.surrogate(program).loss, logits)
    assert values[True].shape == values[False].shape == (5, 2, 3)
    assert torch.equal(values[True], torch.nn.functional.one_hot(values[False].argmax(-1), 3).float())
    assert torch.allclose(grads[True], grads[False])


# --- straight-through ---------------------------------------------------------------------------

@pytest.mark.parametrize("parameter", ["probs", "logits"])
@pytest.mark.parametrize("num_samples", [None, 3])
def test_straight_through_is_exact_for_a_cost_linear_in_a_bernoulli(parameter, num_samples):
    value = 0.3 if parameter == "probs" else 0.4
    theta = torch.full((REPLICAS,), value, requires_grad=True)
    grads = scgrad_gradients(lambda t: D.Bernoulli(**{parameter: t}), scgrad.StraightThrough(), lambda z: 3 * z - 1, theta, num_samples)
    p = torch.sigmoid(torch.tensor(value))
    expected = 3.0 if parameter == "probs" else 3 * p * (1 - p)
    assert_unbiased(grads, torch.tensor([expected]))  # zero variance: must match to rounding
    assert grads.std() < 1e-4


@pytest.mark.parametrize("kind", ["categorical", "one_hot"])
def test_straight_through_is_exact_for_a_cost_linear_in_a_categorical(kind):
    logits = replicated_logits(False)
    grads = scgrad_gradients(lambda l: CATEGORICAL_KINDS[kind](logits=l), scgrad.StraightThrough(), lambda y: (y * W).sum(-1), logits)
    init = torch.tensor(INIT, requires_grad=True)
    expected, = torch.autograd.grad((init.softmax(-1) * W).sum(), init)
    assert_unbiased(grads, expected)
    assert grads.std(0).max() < 1e-4


def test_straight_through_has_its_first_order_bias_on_a_quadratic():
    """For (z - t)^2 with z ~ Bernoulli(p): straight-through's mean is 2(p - t), the exact gradient 1 - 2t."""
    t, p = 0.45, 0.3
    probs = torch.full((REPLICAS,), p, requires_grad=True)
    grads = scgrad_gradients(lambda q: D.Bernoulli(probs=q), scgrad.StraightThrough(), lambda z: (z - t) ** 2, probs)
    assert_unbiased(grads, torch.tensor([2 * (p - t)]))
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(grads, torch.tensor([1 - 2 * t]))


# --- shapes, values and validation --------------------------------------------------------------

ESTIMATORS = {
    "gumbel_softmax": lambda: scgrad.GumbelSoftmax(0.5),
    "st_gumbel": lambda: scgrad.GumbelSoftmax(0.5, hard=True),
    "straight_through": scgrad.StraightThrough,
    "reinmax": scgrad.ReinMax,
    "gumbel_rao": lambda: scgrad.GumbelRao(k=4, temperature=0.5),
}
LOGITS = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0)).requires_grad_()
DISTRIBUTIONS = {  # distribution, value shape without and with num_samples=4
    "bernoulli": (lambda: D.Bernoulli(logits=LOGITS), (2, 5, 3)),
    "independent_bernoulli": (lambda: D.Independent(D.Bernoulli(logits=LOGITS), 2), (2, 5, 3)),
    "categorical": (lambda: D.Categorical(logits=LOGITS), (2, 5, 3)),  # an extra trailing dim K = 3
    "one_hot": (lambda: D.OneHotCategorical(logits=LOGITS), (2, 5, 3)),
    "independent_one_hot": (lambda: D.Independent(D.OneHotCategorical(logits=LOGITS), 1), (2, 5, 3)),
    "independent_categorical": (lambda: D.Independent(D.Categorical(logits=LOGITS), 1), (2, 5, 3)),
}


@pytest.mark.parametrize("num_samples", [None, 4])
@pytest.mark.parametrize("dist_name", DISTRIBUTIONS)
@pytest.mark.parametrize("estimator_name", ESTIMATORS)
def test_value_shapes_and_ranges(estimator_name, dist_name, num_samples):
    make, shape = DISTRIBUTIONS[dist_name]
    dist = make()
    estimator = ESTIMATORS[estimator_name]()
    seen = {}

    def program():
        seen["y"] = scgrad.sample("y", dist, estimator, num_samples=num_samples)
        scgrad.cost("c", seen["y"].sum(-1))

    obj = scgrad.surrogate(program)
    y = seen["y"].detach()
    assert y.shape == ((num_samples,) if num_samples else ()) + shape
    if num_samples is None and dist_name not in ("categorical", "independent_categorical"):
        assert y.shape == dist.sample().shape
    assert obj.loss.requires_grad
    if estimator_name == "gumbel_softmax":
        assert ((y > 0) & (y < 1)).all()
    else:
        assert set(y.unique().tolist()) <= {0.0, 1.0}
    if "bernoulli" not in dist_name:
        assert torch.allclose(y.sum(-1), torch.ones(y.shape[:-1]))


@pytest.mark.parametrize("estimator_name", ESTIMATORS)
def test_a_distribution_it_cannot_relax_is_refused_with_the_fix(estimator_name):
    estimator = ESTIMATORS[estimator_name]()

    def program():
        scgrad.sample("z", D.Normal(0.0, 1.0), estimator)
        scgrad.cost("c", torch.tensor(0.0))

    with pytest.raises(scgrad.ScgradError, match=r"node 'z': \w+ relaxes Bernoulli, Categorical and OneHotCategorical.*Reparam\(\)"):
        scgrad.surrogate(program)


def test_relaxed_nodes_under_provenance():
    logits = torch.tensor(INIT, requires_grad=True)

    def program():
        y = scgrad.sample("y", D.OneHotCategorical(logits=logits), scgrad.GumbelSoftmax(0.5))
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction())
        scgrad.cost("c", (y * W).sum(-1))
        scgrad.cost("d", b.sum(-1))

    with scgrad.provenance():
        obj = scgrad.surrogate(program)
    grad, = torch.autograd.grad(obj.loss, logits)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, True, "1.0"])
def test_bad_temperatures_are_refused(bad):
    with pytest.raises(scgrad.ScgradError, match="temperature"):
        scgrad.GumbelSoftmax(temperature=bad)


# --- temperatures: learnable, annealed ----------------------------------------------------------

def test_a_learnable_temperature_gets_gradients_and_checkpoints():
    estimator = scgrad.GumbelSoftmax(temperature=scgrad.Temperature(0.5, learnable=True))
    logits = torch.tensor(INIT, requires_grad=True)

    def program():
        y = scgrad.sample("y", D.OneHotCategorical(logits=logits), estimator, num_samples=16)
        scgrad.cost("c", categorical_cost(y))

    torch.manual_seed(0)
    scgrad.surrogate(program).backward()
    (parameter,) = list(estimator.parameters())
    assert parameter.grad is not None and parameter.grad.abs() > 0
    state = estimator.state_dict()
    assert list(state) == ["temperature.log_value"]
    restored = scgrad.GumbelSoftmax(temperature=scgrad.Temperature(2.0, learnable=True))
    restored.load_state_dict(state)
    assert torch.isclose(restored.temperature(), torch.tensor(0.5))


def test_a_fixed_temperature_is_a_buffer():
    estimator = scgrad.GumbelSoftmax(0.7)
    assert list(estimator.parameters()) == []
    assert torch.isclose(estimator.state_dict()["temperature.log_value"].exp(), torch.tensor(0.7))


def test_exponential_annealing():
    estimator = scgrad.GumbelSoftmax(1.0)
    annealing = scgrad.ExponentialAnnealing(estimator.temperature, rate=0.1, minimum=0.5, every=2)
    seen = []
    for _ in range(12):
        annealing.step()
        seen.append(estimator.temperature().item())
    expected = [max(0.5, math.exp(-0.1 * (t - t % 2))) for t in range(1, 13)]
    assert seen == pytest.approx(expected, rel=1e-6)
    assert seen[-1] == pytest.approx(0.5)
    again = scgrad.ExponentialAnnealing(scgrad.GumbelSoftmax(1.0).temperature, rate=0.1, minimum=0.5, every=2)
    again.load_state_dict(annealing.state_dict())
    assert again.temperature().item() == pytest.approx(0.5) and again.steps == 12
    with pytest.raises(scgrad.ScgradError, match="learnable"):
        scgrad.ExponentialAnnealing(scgrad.Temperature(1.0, learnable=True), rate=0.1)
