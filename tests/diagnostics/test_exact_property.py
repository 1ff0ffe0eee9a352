"""A property test of ``scgrad.diagnostics.exact``: random small discrete programs against a brute force.

Each example is a program of 1-3 Bernoulli / Categorical nodes (batch shapes of up to 3 elements,
optionally ``num_samples=2``), later nodes' logits depending on earlier nodes' values through a fixed
random linear map, and 1-3 costs drawn from a list that includes per-element costs, sums over batch
dims (with and without ``keepdim``), costs that mix elements (flip, mean-centring, products of
elements), scalar costs and costs of two nodes. Every program has at most 512 joint outcomes in
all, so every node must be enumerated jointly and exact() must be right whatever the cost does.

The reference, :func:`brute_force`, runs the program (written once as ``model(draw, cost)``) once per
joint outcome of all its nodes' elements, with plain ``torch.distributions`` log-probs; it never
calls scgrad.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scgrad
from brute_force import brute_force

DTYPE = torch.float64
RTOL, ATOL = 1e-5, 1e-8
BUDGET = 512  # at most this many joint outcomes in all (under the 1,024 of a jointly enumerated node)


# ------------------------------------------------------------------------------------------------
# The independent reference (as in test_exact_ground_truth.py).


def as_program(model):
    def program():
        def draw(name, dist, num_samples=None):
            return scgrad.sample(name, dist, scgrad.ScoreFunction(), num_samples=num_samples)

        model(draw, scgrad.cost)

    return program


# ------------------------------------------------------------------------------------------------
# Random programs.

SHAPES = [(), (1,), (2,), (3,), (2, 1), (1, 3)]


def _cost_forms():
    """name -> f(v, w, t, other): v a node's value (float, at least 1-d), w a scalar parameter."""
    return {
        "per_element": lambda v, w, t, o: (v - t) ** 2 * w,
        "sum_last": lambda v, w, t, o: (v.sum(-1) - 1.0) ** 2 * w,
        "sum_last_keepdim": lambda v, w, t, o: (v.sum(-1, keepdim=True) - 1.0) ** 2 * w,
        "sum_first": lambda v, w, t, o: (v.sum(0) - 0.5) ** 2 * w,
        "sum_all": lambda v, w, t, o: (v.sum() - 1.5) ** 2 * w,
        "mean_last": lambda v, w, t, o: v.mean(-1) * w,
        "flip": lambda v, w, t, o: v * v.flip(-1) * w,
        "centred": lambda v, w, t, o: (v - v.mean(-1, keepdim=True)) ** 2 * w,
        "product": lambda v, w, t, o: (v + t).prod(-1) * w,
        "roll_product": lambda v, w, t, o: v * v.roll(1, -1) * w + v,
        "scalar_sin": lambda v, w, t, o: torch.sin((v * t).sum() + w),
        "max": lambda v, w, t, o: v.max() * w,
        "cross": lambda v, w, t, o: v.sum(-1, keepdim=True) * o.mean() * w,
        "cross_per_element": lambda v, w, t, o: (v - o.mean()) ** 2 * w,
    }


FORMS = _cost_forms()


@st.composite
def programs(draw):
    budget = BUDGET
    nodes = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bernoulli", "categorical"]))
        k = 2 if kind == "bernoulli" else 3
        fits = [s for s in SHAPES if k ** math.prod(s) <= budget]
        if not fits:  # the budget of joint outcomes is spent
            break
        shape = draw(st.sampled_from(fits))
        elements = math.prod(shape)
        num_samples = draw(st.sampled_from([None, 2])) if k ** (2 * elements) <= budget else None
        elements *= num_samples or 1
        budget //= k**elements
        depends = bool(nodes) and draw(st.booleans())
        nodes.append(dict(kind=kind, k=k, shape=shape, num_samples=num_samples, depends=depends))
    costs = []
    for _ in range(draw(st.integers(1, 3))):
        form = draw(st.sampled_from(sorted(FORMS)))
        node = draw(st.integers(0, len(nodes) - 1))
        other = draw(st.integers(0, len(nodes) - 1))
        at_end = draw(st.booleans())
        costs.append(dict(form=form, node=node, other=other, at_end=at_end))
    seed = draw(st.integers(0, 2**16))
    return nodes, costs, seed


def build(nodes, costs, seed):
    """The model and its parameters: base logits, linear maps of earlier values, cost weights."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return (0.8 * torch.randn(shape, generator=gen, dtype=DTYPE)).requires_grad_()

    params, specs, seen = [], [], 0
    for spec in nodes:
        logit_shape = spec["shape"] + ((spec["k"],) if spec["kind"] == "categorical" else ())
        base = randn(*logit_shape)
        mix = randn(seen, math.prod(logit_shape)) if spec["depends"] else None
        params += [base] + ([mix] if mix is not None else [])
        specs.append((spec, base, mix))
        seen += math.prod(((spec["num_samples"],) if spec["num_samples"] else ()) + spec["shape"])
    cost_params = []
    for c in costs:
        w = randn()
        width = max(1, (nodes[c["node"]]["shape"] or (1,))[-1])
        t = torch.rand(width, generator=gen, dtype=DTYPE)
        params.append(w)
        cost_params.append((w, t))

    def model(draw, cost):
        values = []

        def record():
            for j, (c, (w, t)) in enumerate(zip(costs, cost_params)):
                due = len(specs) if c["at_end"] else max(c["node"], c["other"]) + 1
                if due == len(values):
                    v, o = (torch.atleast_1d(values[i].to(DTYPE)) for i in (c["node"], c["other"]))
                    cost(f"c{j}_{c['form']}", FORMS[c["form"]](v, w, t, o))

        for i, (spec, base, mix) in enumerate(specs):
            logits = base
            if mix is not None:
                earlier = torch.cat([v.to(DTYPE).reshape(-1) for v in values])
                logits = base + (earlier @ mix).reshape(base.shape)
            dist = D.Bernoulli(logits=logits) if spec["kind"] == "bernoulli" else D.Categorical(logits=logits)
            values.append(draw(f"n{i}", dist, spec["num_samples"]))
            record()

    return model, params


def _grads(loss, params):
    out = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_exact_matches_brute_force_on_random_programs(case):
    nodes, costs, seed = case
    model, params = build(nodes, costs, seed)
    expected = brute_force(model)
    result = scgrad.diagnostics.exact(as_program(model))
    torch.testing.assert_close(result.loss.detach().to(DTYPE), expected.detach(), rtol=RTOL, atol=ATOL)
    for i, (got, want) in enumerate(zip(_grads(result.loss, params), _grads(expected, params))):
        torch.testing.assert_close(got.to(DTYPE), want, rtol=RTOL, atol=ATOL, msg=lambda m: f"parameter {i}: {m}")
    for i in range(len(nodes)):
        assert f"n{i}" in result.jointly, (f"n{i}", result.jointly)


# Hypothesis does not draw the cost forms evenly; every form is also checked on one fixed program:
# a Bernoulli [3] node with two draws, then a Categorical [1] node whose logits depend on all six
# of its values (64 * 3 = 192 joint outcomes).
FIXED_NODES = [
    dict(kind="bernoulli", k=2, shape=(3,), num_samples=2, depends=False),
    dict(kind="categorical", k=3, shape=(1,), num_samples=None, depends=True),
]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_cost_form_on_a_fixed_program(form):
    costs = [dict(form=form, node=0, other=1, at_end=False), dict(form=form, node=1, other=0, at_end=True)]
    model, params = build(FIXED_NODES, costs, seed=3)
    expected = brute_force(model)
    result = scgrad.diagnostics.exact(as_program(model))
    torch.testing.assert_close(result.loss.detach().to(DTYPE), expected.detach(), rtol=RTOL, atol=ATOL)
    for i, (got, want) in enumerate(zip(_grads(result.loss, params), _grads(expected, params))):
        torch.testing.assert_close(got.to(DTYPE), want, rtol=RTOL, atol=ATOL, msg=lambda m: f"parameter {i}: {m}")
    assert "n0" in result.jointly and "n1" in result.jointly, result.jointly
