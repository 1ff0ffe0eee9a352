"""``diagnose`` fits the estimators' learned parts on their own loss, and on nothing else.

Found by ``tests/test_fuzz_errors.py``'s companion run of ``diagnose``: ``measure.estimate`` fitted a
control variate with ``aux_loss.backward()``, which also filled the ``.grad`` of the model's parameters
(``diagnose`` promises to leave it untouched) and differentiated the aux loss through the model, where
``Dirichlet.rsample`` has no second derivative: ``diagnose`` raised a raw ``RuntimeError`` for LAX.
"""

from __future__ import annotations

import torch
import torch.distributions as D

import scgrad
from scgrad.diagnostics import CATALOGUE
from scgrad.diagnostics.measure import estimate


def _entry(name):
    return next(entry for entry in CATALOGUE if entry.name == name)


def test_fitting_a_control_leaves_the_model_gradient_untouched():
    loc = torch.zeros(3, requires_grad=True)
    lax = scgrad.LAX()

    def program():
        x = scgrad.sample("x", D.Normal(loc, 1.0), lax)
        scgrad.cost("c", x ** 2)

    scgrad.surrogate(program)  # sizes the lazy control
    fit = torch.optim.Adam(lax.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in lax.parameters()]
    torch.manual_seed(0)
    gradient, _ = estimate(program, (), [loc], fit)
    assert loc.grad is None
    assert gradient.shape == (3,)
    assert any(not torch.equal(b, p) for b, p in zip(before, lax.parameters()))  # the control was fitted


def test_diagnose_leaves_params_grad_untouched_with_learned_estimators():
    logits = torch.zeros(3, requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction())
        scgrad.cost("c", (b - 0.3) ** 2)

    diagnosis = scgrad.diagnose(program, params=[logits], repeats=3, warmup=2,
                                estimators=[_entry("relax"), _entry("rebar")])
    assert logits.grad is None
    assert all(row.measurement is not None for row in diagnosis.rows), [row.note for row in diagnosis.rows]


def test_diagnose_runs_lax_on_a_dirichlet():
    concentration = torch.ones(3, requires_grad=True)

    def program():
        x = scgrad.sample("x", D.Dirichlet(concentration), scgrad.Reparam())
        scgrad.cost("c", (x ** 2).sum(-1))

    diagnosis = scgrad.diagnose(program, params=[concentration], repeats=3, warmup=1, estimators=[_entry("lax")])
    (row,) = diagnosis.rows
    assert row.measurement is not None, row.note
    assert concentration.grad is None
