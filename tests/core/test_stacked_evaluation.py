"""Evaluating a node's downstream cost at several values in one re-run of the program, stacked on a new
leading batch dim (``Downstream.evaluate_many``, opted into with ``stack_evaluations=True``), and falling back
to one re-run per value where the program shows it does not keep that dim apart: the same estimate either way,
from the same random numbers.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad

SAMPLES, BATCH, LATENTS, CATEGORIES = 3, 4, 5, 6


def make_params():
    torch.manual_seed(0)
    logits = torch.randn(BATCH, LATENTS, CATEGORIES, requires_grad=True)
    weight = torch.randn(LATENTS * CATEGORIES, 2, requires_grad=True)
    return logits, weight


def keeps_dims_apart(logits, weight, runs):
    """Indexes every dim from the right: a stacked value gives stacked costs."""
    runs.append(1)
    z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), estimator, num_samples=SAMPLES)
    scgrad.cost("fit", (z.flatten(-2) @ weight).tanh().sum(-1))  # [S, B]


def sums_every_dim(logits, weight, runs):
    """One cost for the whole draw: a stacked value would be summed together with the others."""
    runs.append(1)
    z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), estimator, num_samples=SAMPLES)
    scgrad.cost("fit", (z.flatten(-2) @ weight).tanh().sum())  # []


def flattens_from_the_left(logits, weight, runs):
    """Reshapes with the sizes of the drawn value: a stacked value raises inside the program."""
    runs.append(1)
    z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), estimator, num_samples=SAMPLES)
    flat = z.reshape(SAMPLES * BATCH, LATENTS * CATEGORIES)
    scgrad.cost("fit", (flat @ weight).tanh().sum(-1).reshape(SAMPLES, BATCH))


estimator = None


def gradient(program, rebar, unstackable=False):
    """REBAR's gradient (model and its own parameters) at seed 1, and the number of runs of the program."""
    global estimator
    estimator = rebar
    if unstackable:
        rebar.unstackable.add("z")
    params, runs = make_params(), []
    torch.manual_seed(1)
    objective = scgrad.surrogate(program, *params, runs)
    objective.backward()
    grads = [p.grad for p in (*params, *rebar.parameters())]
    return grads, len(runs)


@pytest.mark.parametrize("program", [keeps_dims_apart, sums_every_dim, flattens_from_the_left])
def test_stacked_and_one_run_per_value_give_the_same_gradient(program):
    stacked, _ = gradient(program, scgrad.REBAR(stack_evaluations=True))
    one_by_one, runs = gradient(program, scgrad.REBAR(stack_evaluations=True), unstackable=True)
    assert runs == 3  # the program, then once per relaxed value
    for a, b in zip(stacked, one_by_one):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_stacking_is_opted_into():
    assert gradient(keeps_dims_apart, scgrad.REBAR())[1] == 3


def test_a_program_that_keeps_the_dim_apart_runs_once_more():
    rebar = scgrad.REBAR(stack_evaluations=True)
    assert gradient(keeps_dims_apart, rebar)[1] == 2
    assert gradient(keeps_dims_apart, rebar)[1] == 2
    assert "z" not in rebar.unstackable


@pytest.mark.parametrize("program", [sums_every_dim, flattens_from_the_left])
def test_a_program_that_does_not_is_tried_stacked_once_only(program):
    rebar = scgrad.REBAR(stack_evaluations=True)
    assert gradient(program, rebar)[1] == 4  # the program, the stacked try, once per relaxed value
    assert rebar.unstackable == {"z"}
    assert gradient(program, rebar)[1] == 3


def test_the_programs_own_error_is_raised_from_the_run_per_value():
    def breaks_at_relaxed_values(logits, weight, runs):
        runs.append(1)
        z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), estimator, num_samples=SAMPLES)
        if not bool(((z == 0) | (z == 1)).all()):
            raise ValueError("this program takes one-hot values only")
        scgrad.cost("fit", (z.flatten(-2) @ weight).tanh().sum(-1))

    with pytest.raises(ValueError, match="one-hot values only"):
        gradient(breaks_at_relaxed_values, scgrad.REBAR(stack_evaluations=True))


def depends(logits, weight, runs):
    """A second layer drawn from the first: re-drawn (relaxed, its noise held) at each relaxed value."""
    runs.append(1)
    z = scgrad.sample("z", D.Independent(D.OneHotCategorical(logits=logits), 1), estimator, num_samples=SAMPLES)
    y = scgrad.sample("y", D.Independent(D.Bernoulli(logits=z.flatten(-2) @ weight), 1), scgrad.ScoreFunction())
    scgrad.cost("fit", y.sum(-1))


def test_a_later_layer_is_re_drawn_alike_stacked_and_one_run_per_value():
    stacked, runs = gradient(depends, scgrad.REBAR(stack_evaluations=True))
    one_by_one, more_runs = gradient(depends, scgrad.REBAR(stack_evaluations=True), unstackable=True)
    assert (runs, more_runs) == (2, 3)
    for a, b in zip(stacked, one_by_one):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
