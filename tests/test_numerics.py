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
