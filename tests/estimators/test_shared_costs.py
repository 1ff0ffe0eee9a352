"""Estimators on costs that several log-prob elements share: unbiased against an independent brute force.

REBAR (both ways of re-running), MuProp and the score function with a leave-one-out baseline, on a
Bernoulli [6] node with a scalar cost, a Bernoulli [2, 3] node with a [2, 1] cost and a
OneHotCategorical (K = 7) batch of 2 with a scalar cost. ``Enumerate()`` in the surrogate, on costs
that reduce over or mix its node's elements, must give the exact gradient or refuse with an error
naming the node and the cost.

The expected values never come from scgrad: :func:`brute_force` runs the program, written once as
``model(draw, cost)``, once per joint outcome, weighted by plain ``torch.distributions`` log-probs.
The statistical checks use ``tests/stats.py`` with fixed seeds (deterministic pass or fail).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D

import scgrad
from brute_force import brute_force
from stats import assert_unbiased, gradient_samples

DTYPE = torch.float64


# ------------------------------------------------------------------------------------------------
# The independent reference (as in tests/diagnostics/test_exact_ground_truth.py).


def as_program(model, estimator):
    def program(**kwargs):
        def draw(name, dist, num_samples=None):
            return scgrad.sample(name, dist, estimator, num_samples=num_samples)

        model(draw, scgrad.cost, **kwargs)

    return program


def flat_grad(loss, params, allow_unused=True):
    out = torch.autograd.grad(loss, params, allow_unused=allow_unused)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, out)])


def param(values):
    return torch.as_tensor(values, dtype=DTYPE).clone().requires_grad_()


# ------------------------------------------------------------------------------------------------
# Family 2: one cost element shared by several log-prob elements. ``draws=None``: one draw and the
# cost as stated; ``draws=S``: S draws, each draw's cost its own (the expectation is the same).

V7 = torch.tensor([0.9, -0.4, 0.3, 1.5, -1.1, 0.0, 0.6], dtype=DTYPE)


def bernoulli6():
    logits, w = param(torch.linspace(-1, 1, 6)), param(1.0)

    def model(draw, cost, draws=None):
        b = draw("bits", D.Bernoulli(logits=logits), draws)
        total = b.sum() if draws is None else b.sum(-1, keepdim=True)  # [] or [S, 1]
        cost("shared", (total - 2.5) ** 2 * w)

    return model, [logits, w]


def bernoulli2x3():
    logits, w = param(torch.tensor([[0.5, -0.8, 0.1], [1.2, 0.0, -0.4]])), param(0.7)

    def model(draw, cost, draws=None):
        b = draw("bits", D.Bernoulli(logits=logits), draws)  # [2, 3] or [S, 2, 3]
        cost("shared", (b.sum(-1, keepdim=True) - 1.5) ** 2 * w)  # [2, 1] or [S, 2, 1]

    return model, [logits, w]


def one_hot7():
    logits = param(torch.linspace(-1.0, 1.0, 14).reshape(2, 7).flip(-1) * torch.tensor([1.0, -0.5]).unsqueeze(-1))

    def model(draw, cost, draws=None):
        x = draw("onehot", D.OneHotCategorical(logits=logits), draws)  # [2, 7] or [S, 2, 7]
        read = (x * V7).sum(-1)  # [2] or [S, 2]
        total = read.sum() if draws is None else read.sum(-1, keepdim=True)  # [] or [S, 1]
        cost("shared", (total - 1.0) ** 2)

    return model, [logits]


PROGRAMS = {"bernoulli6": bernoulli6, "bernoulli2x3": bernoulli2x3, "onehot7": one_hot7}

ESTIMATORS = {
    "rebar": (lambda: scgrad.REBAR(), None),
    "rebar_stacked": (lambda: scgrad.REBAR(stack_evaluations=True), None),
    "rebar_other_values": (lambda: scgrad.REBAR(temperature=0.3, eta=0.6), None),
    "muprop": (lambda: scgrad.MuProp(), None),
    "leave_one_out": (lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()), 4),
}


def test_brute_force_by_hand():
    """The reference on bernoulli6: E[(S - 2.5)^2] = Var S + (E S - 2.5)^2, S a sum of independent bits."""
    model, (logits, w) = bernoulli6()
    p = torch.sigmoid(logits)
    want = ((p * (1 - p)).sum() + (p.sum() - 2.5) ** 2) * w
    got = brute_force(model)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(flat_grad(got, [logits, w]), flat_grad(want, [logits, w]))
    assert abs(got.detach().item() - 1.5956) < 1e-3
    # and with draws: each draw's own cost, the same expectation
    torch.testing.assert_close(brute_force(model, draws=2), want.detach(), check_dtype=False)


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_unbiased_on_shared_costs(estimator, program):
    """The programs as stated (a scalar cost where stated), one estimate per surrogate call."""
    make, draws = ESTIMATORS[estimator]
    model, params = PROGRAMS[program]()
    expected = flat_grad(brute_force(model), params)
    surrogate_program = as_program(model, make())
    kwargs = {} if draws is None else {"draws": draws}

    def estimate():
        return flat_grad(scgrad.surrogate(surrogate_program, **kwargs).loss, params)

    assert_unbiased(gradient_samples(estimate, 600, seed=1), expected)


# The same three sharing patterns, replicated R times along a leading batch dim (each replica its own
# parameters, its own draws and its own cost element(s), shared by its 6 / 3 / 2 log-prob elements), so
# that one surrogate call gives R independent estimates: enough of them to see a small bias.
R = 4000


def replicated(program):
    if program == "bernoulli6":
        logits = param(torch.linspace(-1, 1, 6).repeat(R, 1))
        w = param(torch.ones(R, 1))

        def model(draw, cost, draws=None):
            b = draw("bits", D.Bernoulli(logits=logits), draws)  # [R, 6] or [S, R, 6]
            cost("shared", (b.sum(-1, keepdim=True) - 2.5) ** 2 * w)  # [R, 1]: 6 elements share each

        return model, [logits, w]
    if program == "bernoulli2x3":
        logits = param(torch.tensor([[0.5, -0.8, 0.1], [1.2, 0.0, -0.4]]).repeat(R, 1, 1))
        w = param(torch.full((R, 1, 1), 0.7))

        def model(draw, cost, draws=None):
            b = draw("bits", D.Bernoulli(logits=logits), draws)  # [R, 2, 3]
            cost("shared", (b.sum(-1, keepdim=True) - 1.5) ** 2 * w)  # [R, 2, 1]

        return model, [logits, w]
    single, _ = one_hot7()
    logits = param((torch.linspace(-1.0, 1.0, 14).reshape(2, 7).flip(-1) * torch.tensor([1.0, -0.5]).unsqueeze(-1)).repeat(R, 1, 1))

    def model(draw, cost, draws=None):
        x = draw("onehot", D.OneHotCategorical(logits=logits), draws)  # [R, 2, 7]
        cost("shared", ((x * V7).sum(-1).sum(-1, keepdim=True) - 1.0) ** 2)  # [R, 1]: 2 elements share each

    return model, [logits]


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_unbiased_on_shared_costs_replicated(estimator, program):
    make, draws = ESTIMATORS[estimator]
    single, single_params = PROGRAMS[program]()
    expected = flat_grad(brute_force(single), single_params)
    model, params = replicated(program)
    kwargs = {} if draws is None else {"draws": draws}
    torch.manual_seed(2)
    loss = scgrad.surrogate(as_program(model, make()), **kwargs).loss
    grads = torch.autograd.grad(loss, params)
    # the loss averages over the R replicas' cost elements: each replica's own estimate is R times its part
    samples = torch.cat([(g * R).reshape(R, -1) for g in grads], dim=1)
    assert_unbiased(samples, expected)


# ------------------------------------------------------------------------------------------------
# Enumerate() in the surrogate, on costs that reduce over or mix its node's elements: the exact
# gradient, or a ScgradError naming the node and the cost. Never a wrong number.

REDUCTIONS = {
    "sum_last": lambda b, w: (b.sum(-1) - 2.5) ** 2 * w,
    "sum_all": lambda b, w: (b.sum() - 2.5) ** 2 * w,
    "mean_last": lambda b, w: (b.mean(-1) - 0.4) ** 2 * w,
    "sum_last_keepdim": lambda b, w: (b.sum(-1, keepdim=True) - 1.5) ** 2 * w,
}
# Shape-keeping mixes: no shape shows them, so Enumerate() cannot refuse them; scgrad.audit must flag them.
MIXES = {
    "mean_centred": lambda b, w: (b - b.mean(-1, keepdim=True)) ** 2 * w,
    "times_flipped": lambda b, w: b * b.flip(-1) * w,
}


def enumerate_or_refuse(model, params, node, cost_name, estimator):
    expected = brute_force(model)
    want = flat_grad(expected, params)
    try:
        obj = scgrad.surrogate(as_program(model, estimator))
    except scgrad.ScgradError as error:
        message = str(error)
        assert repr(node) in message or node in message, f"the error does not name node {node!r}: {message}"
        assert cost_name in message, f"the error does not name cost {cost_name!r}: {message}"
        return
    torch.testing.assert_close(obj.loss.detach(), expected.detach(), rtol=1e-6, atol=1e-9, check_dtype=False,
                               msg=lambda m: f"Enumerate gave a wrong value without refusing: {m}")
    torch.testing.assert_close(flat_grad(obj.loss, params), want, rtol=1e-6, atol=1e-9, check_dtype=False,
                               msg=lambda m: f"Enumerate gave a wrong gradient without refusing: {m}")


@pytest.mark.parametrize("shape", [(6,), (2, 3)], ids=["b6", "b2x3"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_enumerate_exact_or_refused(reduction, shape):
    logits, w = param(torch.linspace(-1, 1, 6).reshape(shape)), param(1.3)
    f = REDUCTIONS[reduction]

    def model(draw, cost):
        b = draw("bits_node", D.Bernoulli(logits=logits))
        cost("pooled_cost", f(b, w))

    enumerate_or_refuse(model, [logits, w], "bits_node", "pooled_cost", scgrad.Enumerate())


@pytest.mark.parametrize("shape", [(6,), (2, 3)], ids=["b6", "b2x3"])
@pytest.mark.parametrize("mix", MIXES)
def test_enumerate_on_a_shape_keeping_mix_is_flagged_by_the_audit(mix, shape):
    logits, w = param(torch.linspace(-1, 1, 6).reshape(shape)), param(1.3)
    f = MIXES[mix]

    def model(draw, cost):
        b = draw("bits_node", D.Bernoulli(logits=logits))
        cost("pooled_cost", f(b, w))

    torch.manual_seed(0)
    result = scgrad.audit(as_program(model, scgrad.Enumerate()))
    assert not result.ok
    assert any("'bits_node'" in finding and "'pooled_cost'" in finding for finding in result.findings), str(result)


def test_enumerate_batched_categorical_summed_exact_or_refused():
    logits, w = param([[0.3, -0.2, 0.8], [-1.0, 0.5, 0.1]]), param(0.7)

    def model(draw, cost):
        x = draw("cat_node", D.Categorical(logits=logits))
        cost("total_cost", (x.sum(-1).to(DTYPE) - 2.0) ** 2 * w)

    enumerate_or_refuse(model, [logits, w], "cat_node", "total_cost", scgrad.Enumerate())


@pytest.mark.parametrize("each_draw", [False, True])
def test_enumerate_iwae_bound_exact_or_refused(each_draw):
    q, a = param([0.4, -0.9]), param([1.2, -0.5])

    def model(draw, cost):
        b = draw("latent", D.Bernoulli(logits=q), 3)  # [3, 2]
        log_w = (b * a).sum(-1) + 2 * math.log(0.5) - D.Bernoulli(logits=q).log_prob(b).sum(-1)
        cost("iwae_bound", -(torch.logsumexp(log_w, 0, keepdim=True) - math.log(3)))

    enumerate_or_refuse(model, [q, a], "latent", "iwae_bound", scgrad.Enumerate(each_draw=each_draw))


def test_enumerate_per_element_control():
    """A per-element cost, which Enumerate has always handled: it must still be exact (no refusal)."""
    logits, w = param(torch.linspace(-1, 1, 6).reshape(2, 3)), param(1.3)
    targets = torch.tensor([0.1, 0.5, 0.9], dtype=DTYPE)

    def model(draw, cost):
        b = draw("bits_node", D.Bernoulli(logits=logits))
        cost("fit", (b - targets) ** 2 * w)

    obj = scgrad.surrogate(as_program(model, scgrad.Enumerate()))
    expected = brute_force(model)
    torch.testing.assert_close(obj.loss.detach(), expected.detach(), check_dtype=False)
    torch.testing.assert_close(flat_grad(obj.loss, [logits, w]), flat_grad(expected, [logits, w]), check_dtype=False)
