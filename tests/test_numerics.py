"""Numerical robustness: extreme logits and every floating dtype give finite gradients of that dtype."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad

BERNOULLI_ESTIMATORS = {
    "score_function": (lambda: scgrad.ScoreFunction(scgrad.MovingAverage()), None),
    "enumerate": (scgrad.Enumerate, None),
    "muprop": (scgrad.MuProp, None),
    "rebar": (scgrad.REBAR, None),
    "relax": (scgrad.RELAX, None),
    "relax_rebar": (lambda: scgrad.RELAX(relaxed_cost=True), None),
    "gumbel_softmax": (lambda: scgrad.GumbelSoftmax(0.5), None),
    "straight_through": (scgrad.StraightThrough, None),
    "reinmax": (scgrad.ReinMax, None),
    "gumbel_rao": (scgrad.GumbelRao, None),
    "measure_valued": (scgrad.MeasureValued, None),
    "indecater": (scgrad.IndeCateR, None),
    "arm": (scgrad.ARM, 2),
    "disarm": (scgrad.DisARM, 2),
}
DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("logit", [50.0, -50.0, 0.3])
@pytest.mark.parametrize("name", BERNOULLI_ESTIMATORS)
def test_bernoulli_gradients_are_finite(name, logit, dtype):
    make, num_samples = BERNOULLI_ESTIMATORS[name]
    logits = torch.full((4,), logit, dtype=dtype, requires_grad=True)
    estimator = make()

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=num_samples)
        scgrad.cost("c", (b - 0.45) ** 2)

    torch.manual_seed(0)
    obj = scgrad.surrogate(program)
    (grad,) = torch.autograd.grad(obj.loss, logits)
    assert grad.dtype == dtype and bool(torch.isfinite(grad).all())
    assert obj.cost.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("make", [scgrad.Reparam, scgrad.ScoreFunction, scgrad.LAX], ids=["reparam", "score_function", "lax"])
def test_normal_gradients_keep_their_dtype(make, dtype):
    loc = torch.zeros(3, dtype=dtype, requires_grad=True)

    def program():
        z = scgrad.sample("z", D.Normal(loc, 1.0), make())
        scgrad.cost("c", (z > 0.5).to(dtype) + z**2)

    (grad,) = torch.autograd.grad(scgrad.surrogate(program).loss, loc)
    assert grad.dtype == dtype and bool(torch.isfinite(grad).all())


CATEGORICAL_ESTIMATORS = {
    "score_function": (lambda: scgrad.ScoreFunction(scgrad.MovingAverage()), None),
    "leave_one_out": (lambda: scgrad.ScoreFunction(scgrad.LeaveOneOut()), 2),
    "enumerate": (scgrad.Enumerate, None),
    "relax": (scgrad.RELAX, None),
    "gumbel_softmax": (lambda: scgrad.GumbelSoftmax(0.5), None),
    "straight_through": (scgrad.StraightThrough, None),
    "reinmax": (scgrad.ReinMax, None),
    "gumbel_rao": (scgrad.GumbelRao, None),
    "measure_valued": (scgrad.MeasureValued, None),
    "indecater": (scgrad.IndeCateR, None),
    "unordered_set": (scgrad.UnorderedSet, 2),
}
RELAXED = {"gumbel_softmax", "straight_through", "reinmax", "gumbel_rao"}  # values are one-hot vectors
LOGITS = {
    "extreme": [50.0, -50.0, 0.0, 10.0],
    "impossible": [0.3, float("-inf"), -0.2, 0.1],  # class 1 can never be drawn
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", LOGITS)
@pytest.mark.parametrize("name", CATEGORICAL_ESTIMATORS)
def test_categorical_gradients_are_finite(name, case, dtype):
    make, num_samples = CATEGORICAL_ESTIMATORS[name]
    logits = torch.tensor([LOGITS[case]] * 3, dtype=dtype, requires_grad=True)
    estimator = make()
    scores = torch.tensor([0.1, 0.9, 0.4, 0.7], dtype=dtype)

    def program():
        x = scgrad.sample("x", D.Categorical(logits=logits), estimator, num_samples=num_samples)
        value = x @ scores if name in RELAXED else scores[x]
        scgrad.cost("c", (value - 0.45) ** 2)

    torch.manual_seed(0)
    obj = scgrad.surrogate(program)
    (grad,) = torch.autograd.grad(obj.loss, logits)
    assert grad.dtype == dtype and bool(torch.isfinite(grad).all()), grad
    assert obj.cost.dtype == dtype and bool(torch.isfinite(obj.cost))
    if case == "impossible" and name not in RELAXED:  # the impossible class gets no gradient
        assert bool((grad[:, 1] == 0).all()), grad
