"""``scgrad.diagnostics.exact`` against an independent brute force, on costs that reduce or mix elements.

The reference never calls scgrad: each program is written once as ``model(draw, cost)``. Under
scgrad, ``draw`` is ``scgrad.sample`` and ``cost`` is ``scgrad.cost``; under :func:`brute_force`,
``draw`` hands out one joint outcome of every element of the node (draws included) and ``cost``
adds ``tensor.mean()``, and the program is run once per joint outcome of all its nodes, each run
weighted by the product of its nodes' probabilities (plain ``torch.distributions`` log-probs). The
result is a differentiable function of the parameters, so its gradient and second derivatives are
the exact ones. A node sampled only in one branch of the program is enumerated only there.

The objective is ``E[sum over costs of cost.mean()]``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad
from brute_force import brute_force

DTYPE = torch.float64
RTOL, ATOL = 1e-5, 1e-8


# ------------------------------------------------------------------------------------------------
# The independent reference.


def as_program(model, estimator=lambda: scgrad.ScoreFunction()):
    """The scgrad program of ``model``: every node with a fresh ``estimator()``."""

    def program(*args):
        def draw(name, dist, num_samples=None, one_hot=False):
            return scgrad.sample(name, dist, estimator(), num_samples=num_samples)

        model(draw, scgrad.cost, *args)

    return program


def grads(loss, params, create_graph=False):
    out = torch.autograd.grad(loss, params, allow_unused=True, create_graph=create_graph)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]


def close(actual, expected, what):
    torch.testing.assert_close(actual.detach().to(DTYPE), expected.detach().to(DTYPE), rtol=RTOL, atol=ATOL,
                               msg=lambda m: f"{what}: {m}")


def hvp(loss, params, vectors):
    first = grads(loss, params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(first, vectors))
    return grads(dot, params)


def check_exact(model, params, jointly=(), second_order=False, estimator=lambda: scgrad.ScoreFunction(), args=()):
    expected = brute_force(model, *args)
    result = scgrad.diagnostics.exact(as_program(model, estimator), *args)
    close(result.loss, expected, "exact().loss")
    close(torch.as_tensor(result.cost), expected, "exact().cost")
    for p, got, want in zip(params, grads(result.loss, params), grads(expected, params)):
        close(got, want, f"gradient of a parameter of shape {tuple(p.shape)}")
    if second_order:
        gen = torch.Generator().manual_seed(7)
        vectors = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
        expected = brute_force(model, *args)  # a fresh graph for each side
        for got, want in zip(hvp(scgrad.diagnostics.exact(as_program(model, estimator), *args).loss, params, vectors),
                             hvp(expected, params, vectors)):
            close(got, want, "Hessian-vector product")
    for name in jointly:
        assert name in result.jointly, f"node {name!r} not reported as enumerated jointly: {result.jointly}"
        assert name not in result.per_element
    return result


def param(values):
    return torch.as_tensor(values, dtype=DTYPE).clone().requires_grad_()


# ------------------------------------------------------------------------------------------------
# The reference itself, on a case small enough to do by hand.


def test_brute_force_by_hand():
    """E[(b1 + b2 - 1)^2] = p1(1-p1) + p2(1-p2) + (p1 + p2 - 1)^2 for independent b1, b2."""
    p = param([0.2, 0.7])

    def model(draw, cost):
        b = draw("b", D.Bernoulli(probs=p))
        cost("c", (b.sum(-1) - 1.0) ** 2)

    want = p[0] * (1 - p[0]) + p[1] * (1 - p[1]) + (p.sum() - 1) ** 2
    got = brute_force(model)
    close(got, want, "value")
    close(torch.autograd.grad(got, p)[0], torch.autograd.grad(want, p)[0], "gradient")
    # the example of the bug report: Bernoulli[6] at logits linspace(-1, 1, 6), (sum - 2.5)^2
    logits = torch.linspace(-1, 1, 6, dtype=DTYPE)

    def report(draw, cost):
        b = draw("b", D.Bernoulli(logits=logits))
        cost("c", (b.sum(-1) - 2.5) ** 2)

    q = torch.sigmoid(logits)
    close(brute_force(report), (q * (1 - q)).sum() + (q.sum() - 2.5) ** 2, "report example")
    assert abs(brute_force(report).detach().item() - 1.5956) < 1e-3


# ------------------------------------------------------------------------------------------------
# Family 1: costs that reduce over, or mix, a node's batch elements.

REDUCTIONS = {
    "sum_last": lambda b, w: (b.sum(-1) - 2.5) ** 2 * w,
    "sum_all": lambda b, w: (b.sum() - 2.5) ** 2 * w,
    "mean_last": lambda b, w: (b.mean(-1) - 0.4) ** 2 * w,
    "sum_last_keepdim": lambda b, w: (b.sum(-1, keepdim=True) - 1.5) ** 2 * w,
    "mean_centred": lambda b, w: (b - b.mean(-1, keepdim=True)) ** 2 * w,
    "times_flipped": lambda b, w: b * b.flip(-1) * w,
}


@pytest.mark.parametrize("shape", [(6,), (2, 3)], ids=["b6", "b2x3"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reductions_over_batch_elements(reduction, shape):
    logits = param(torch.linspace(-1, 1, 6).reshape(shape))
    w = param(1.3)
    f = REDUCTIONS[reduction]

    def model(draw, cost):
        b = draw("bits", D.Bernoulli(logits=logits))
        cost("shared", f(b, w))

    check_exact(model, [logits, w], jointly=("bits",), second_order=reduction == "sum_last")


def test_batched_categorical_summed():
    logits = param([[0.3, -0.2, 0.8], [-1.0, 0.5, 0.1]])
    w = param(0.7)

    def model(draw, cost):
        x = draw("x", D.Categorical(logits=logits))  # [2], values 0..2
        cost("total", (x.sum(-1).to(DTYPE) - 2.0) ** 2 * w)

    check_exact(model, [logits, w], jointly=("x",))


def test_iwae_bound_over_draws():
    q = param([0.4, -0.9])
    a = param([1.2, -0.5])
    draws = 3

    def model(draw, cost):
        b = draw("z", D.Bernoulli(logits=q), num_samples=draws)  # [3, 2]
        log_w = (b * a).sum(-1) + 2 * math.log(0.5) - D.Bernoulli(logits=q).log_prob(b).sum(-1)  # [3]
        cost("iwae", -(torch.logsumexp(log_w, 0, keepdim=True) - math.log(draws)))

    check_exact(model, [q, a], jointly=("z",), second_order=True)


def test_dependent_nodes():
    la = param([0.5, -0.3, 0.9])
    base = param([[0.2, -0.4, 0.1], [0.0, 0.6, -0.8]])
    mix = param(torch.linspace(-1.0, 1.0, 18).reshape(3, 6))
    w = param(0.8)

    def model(draw, cost):
        a = draw("a", D.Bernoulli(logits=la))  # [3]
        c = draw("c", D.Categorical(logits=base + (a @ mix).reshape(2, 3)))  # [2], depends on a's value
        cost("both", (a.sum() * c.to(DTYPE).sum() - 1.5) ** 2 * w)
        cost("per_element", (a - 0.3) ** 2)

    check_exact(model, [la, base, mix, w], jointly=("a", "c"), second_order=True)


def test_branch_on_item():
    t = param(0.4)
    l1 = param([0.3, -0.7])
    l2 = param([-0.2, 1.1])
    w = param(0.5)

    def model(draw, cost):
        a = draw("a", D.Bernoulli(logits=t))  # scalar
        if a.item() > 0.5:
            b = draw("b", D.Bernoulli(logits=l1))
            cost("c", (b.sum() - 1.0) ** 2 * w)
        else:
            b = draw("b", D.Bernoulli(logits=l2))
            cost("c", 3.0 * b[0] + w)

    check_exact(model, [t, l1, l2, w], jointly=("a", "b"))


def test_index_a_table_with_the_value():
    logits = param([0.1, -0.5, 0.7, 0.2])
    table = param([1.0, -2.0, 0.5, 3.0])

    def model(draw, cost):
        a = draw("a", D.Categorical(logits=logits))
        cost("looked_up", table[int(a)] ** 2)

    check_exact(model, [logits, table], jointly=("a",))


@pytest.mark.parametrize("batch", [(1,), (2,)], ids=["batch1", "batch2"])
@pytest.mark.parametrize("estimator", ["straight_through", "gumbel_softmax", "gumbel_softmax_hard"])
def test_relaxed_categorical_gets_one_hot_values(estimator, batch):
    make = {
        "straight_through": lambda: scgrad.StraightThrough(),
        "gumbel_softmax": lambda: scgrad.GumbelSoftmax(),
        "gumbel_softmax_hard": lambda: scgrad.GumbelSoftmax(hard=True),
    }[estimator]
    logits = param(torch.tensor([[0.4, -0.3, 1.0], [-0.6, 0.2, 0.0]])[: batch[0]])
    v = param([0.5, -1.0, 2.0])

    def model(draw, cost):
        x = draw("x", D.Categorical(logits=logits), one_hot=True)  # [batch, 3], one-hot
        cost("linear", (x * v).sum(-1, keepdim=True))
        cost("square", ((x * v).sum(-1) ** 2).sum())

    check_exact(model, [logits, v], jointly=("x",), estimator=make)


# ------------------------------------------------------------------------------------------------
# A node too large to enumerate jointly: element by element, per-element costs, closed form.


def test_large_node_is_enumerated_per_element():
    logits = param(torch.linspace(-2.0, 2.0, 3000))
    targets = torch.linspace(0.0, 1.0, 3000, dtype=DTYPE)

    def program():
        b = scgrad.sample("big", D.Bernoulli(logits=logits), scgrad.ScoreFunction())
        scgrad.cost("fit", (b - targets) ** 2)

    p = torch.sigmoid(logits)
    expected = (p * (1 - targets) ** 2 + (1 - p) * targets**2).mean()
    result = scgrad.diagnostics.exact(program)
    close(result.loss, expected, "loss")
    close(grads(result.loss, [logits])[0], grads(expected, [logits])[0], "gradient")
    assert "big" in result.per_element and "big" not in result.jointly


def test_the_jointly_limit_of_1024_outcomes():
    """Bernoulli[10] has 1,024 joint outcomes: jointly, so a summed cost is exact (closed form:
    Var + mean^2 of the sum). Bernoulli[11] has 2,048: element by element, per-element cost."""
    at_limit = param(torch.linspace(-1.5, 1.0, 10))
    over = param(torch.linspace(-1.0, 1.5, 11))
    targets = torch.linspace(0.0, 1.0, 11, dtype=DTYPE)

    def program():
        b = scgrad.sample("ten", D.Bernoulli(logits=at_limit), scgrad.ScoreFunction())
        scgrad.cost("sum_sq", (b.sum(-1) - 4.0) ** 2)
        c = scgrad.sample("eleven", D.Bernoulli(logits=over), scgrad.ScoreFunction())
        scgrad.cost("fit", (c - targets) ** 2)

    p, q = torch.sigmoid(at_limit), torch.sigmoid(over)
    expected = (p * (1 - p)).sum() + (p.sum() - 4.0) ** 2 + (q * (1 - targets) ** 2 + (1 - q) * targets**2).mean()
    result = scgrad.diagnostics.exact(program)
    close(result.loss, expected, "loss")
    for got, want in zip(grads(result.loss, [at_limit, over]), grads(expected, [at_limit, over])):
        close(got, want, "gradient")
    assert "ten" in result.jointly and "ten" not in result.per_element, (result.jointly, result.per_element)
    assert "eleven" in result.per_element and "eleven" not in result.jointly, (result.jointly, result.per_element)


def test_large_node_per_element_beside_a_small_node_with_a_shared_cost():
    logits = param(torch.linspace(-2.0, 2.0, 3000))
    small = param([0.3, -0.4])
    targets = torch.linspace(0.0, 1.0, 3000, dtype=DTYPE)

    def program():
        a = scgrad.sample("small", D.Bernoulli(logits=small), scgrad.ScoreFunction())
        scgrad.cost("pair", (a.sum(-1) - 1.0) ** 2)
        b = scgrad.sample("big", D.Bernoulli(logits=logits), scgrad.ScoreFunction())
        scgrad.cost("fit", (b - targets) ** 2)

    p, q = torch.sigmoid(logits), torch.sigmoid(small)
    expected = (p * (1 - targets) ** 2 + (1 - p) * targets**2).mean() + (q * (1 - q)).sum() + (q.sum() - 1) ** 2
    result = scgrad.diagnostics.exact(program)
    close(result.loss, expected, "loss")
    for got, want in zip(grads(result.loss, [logits, small]), grads(expected, [logits, small])):
        close(got, want, "gradient")
    assert "big" in result.per_element and "big" not in result.jointly
    assert "small" in result.jointly


# ------------------------------------------------------------------------------------------------
# Controls: per-element costs, which today's exact() already gets right. They check the harness
# (brute force, program adapter, comparisons) against scgrad where both are known to agree; the
# report of how each node was enumerated is checked by the tests above, not here.


def test_control_per_element_costs():
    logits = param(torch.linspace(-1, 1, 6).reshape(2, 3))
    cat = param([[0.3, -0.2, 0.8], [-1.0, 0.5, 0.1]])
    w = param(1.3)
    targets = torch.tensor([0.1, 0.5, 0.9], dtype=DTYPE)

    def model(draw, cost):
        b = draw("bits", D.Bernoulli(logits=logits))  # [2, 3]
        cost("fit", (b - targets) ** 2 * w)
        x = draw("x", D.Categorical(logits=cat))  # [2]
        cost("index", (x.to(DTYPE) - 0.7) ** 2)

    check_exact(model, [logits, cat, w], second_order=True)


def test_control_dependent_nodes_per_element():
    la = param([0.5, -0.3])
    table = param([[0.2, -0.4, 0.1], [0.0, 0.6, -0.8]])

    def model(draw, cost):
        a = draw("a", D.Bernoulli(logits=la))  # [2]
        c = draw("c", D.Categorical(logits=table[a.long()]))  # [2], element i given a_i
        cost("c_cost", (c.to(DTYPE) - 1.0) ** 2 + a)

    check_exact(model, [la, table], second_order=True)
