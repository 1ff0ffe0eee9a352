"""``scgrad.diagnose`` never crashes on an estimator: refusals are "not applicable", other errors "failed" with
their traceback; every parameter's ``.grad`` is left as it was; the recommendation comes with its code."""

from __future__ import annotations

import importlib

import torch
import torch.distributions as D
from torch import nn

import scgrad
from scgrad.diagnostics.catalogue import CATALOGUE, lookup

RELAXATIONS = ["gumbel_softmax", "straight_through", "reinmax", "gumbel_rao"]


def snapshot(model: nn.Module) -> dict:
    """Every parameter's ``.grad``, cloned (``None`` kept)."""
    return {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}


def assert_same_grads(model: nn.Module, before: dict) -> None:
    for name, p in model.named_parameters():
        if before[name] is None:
            assert p.grad is None, f"{name}.grad was None and is now set"
        else:
            assert p.grad is not None and torch.equal(p.grad, before[name]), f"{name}.grad changed"


def with_grads(model: nn.Module) -> nn.Module:
    """Some parameters with a ``.grad`` already (as after a training step), the last one without."""
    *given, last = model.parameters()
    for i, p in enumerate(given):
        p.grad = torch.full_like(p, 0.5 + i)
    assert last.grad is None
    return model


class Bandit:
    """A 5-arm contextual bandit as a new user writes it: the arm indexes a table of rewards."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.contexts = torch.randn(8, 3, generator=g)
        self.rewards = torch.randn(8, 5, generator=g)
        torch.manual_seed(0)
        self.policy = with_grads(nn.Linear(3, 5))

    def program(self, policy, contexts):
        arm = scgrad.sample("arm", D.Categorical(logits=policy(contexts)), num_samples=2)
        scgrad.cost("regret", -self.rewards[torch.arange(8), arm])


def test_an_index_valued_categorical_completes_with_the_default_catalogue_and_leaves_grads_alone():
    bandit = Bandit()
    before = snapshot(bandit.policy)
    diagnosis = scgrad.diagnose(bandit.program, bandit.policy, bandit.contexts, params=bandit.policy.parameters(),
                                repeats=3, warmup=1, progress=False)
    assert_same_grads(bandit.policy, before)
    names = [row.estimator for row in diagnosis.rows]
    assert set(RELAXATIONS) <= set(names) and {"score_function", "enumerate"} <= set(names)
    for name in RELAXATIONS:
        row = diagnosis[name]
        assert row.measurement is None and row.note.startswith("failed: IndexError")
        assert "node 'arm' gets a relaxed value" in row.note
        assert __file__ in row.traceback and "in program" in row.traceback
        assert "scgrad/program.py" not in row.traceback  # from the user's frame on
    assert diagnosis["enumerate"].measurement.variance == 0
    text = str(diagnosis)
    assert "failure of gumbel_softmax, straight_through, reinmax, gumbel_rao" in text
    assert diagnosis.recommendation is not None and diagnosis.usage in text


def test_a_program_that_cannot_take_enumerated_outcomes_loses_the_exact_bias_only():
    bandit = Bandit()

    def flat(policy, contexts):  # .view(8) holds for a draw, not for the 5 outcomes laid out by enumeration
        arm = scgrad.sample("arm", D.Categorical(logits=policy(contexts)))
        scgrad.cost("regret", -bandit.rewards[torch.arange(8), arm.view(8)])

    diagnosis = scgrad.diagnose(flat, bandit.policy, bandit.contexts, params=bandit.policy.parameters(),
                                estimators=lookup(["score_function", "enumerate"]), repeats=2, warmup=0, progress=False)
    assert diagnosis.exact_gradient is None and "RuntimeError" in diagnosis.exact_note
    assert diagnosis["enumerate"].note.startswith("failed: RuntimeError") and "view" in diagnosis["enumerate"].traceback
    assert diagnosis["score_function"].measurement.bias is None and diagnosis.recommendation == "score_function"


def test_every_catalogue_entry_leaves_every_parameters_grad_as_it_was():
    torch.manual_seed(0)
    net = with_grads(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4)))
    x = torch.randn(5, 3)
    targets = torch.linspace(0.1, 0.9, 4)

    def program(net, x):
        b = scgrad.sample("b", D.Independent(D.Bernoulli(logits=net(x)), 1), num_samples=2)
        scgrad.cost("distance", ((b - targets) ** 2).sum(-1))

    before = snapshot(net)
    diagnosis = scgrad.diagnose(program, net, x, params=net.parameters(), estimators=list(CATALOGUE), repeats=2,
                                warmup=1, progress=False)
    assert_same_grads(net, before)
    measured = {row.estimator for row in diagnosis.rows if row.measurement is not None}
    assert {"rebar", "relax", "relax_rebar", "muprop", "arm"} <= measured


def test_a_refusal_is_not_applicable_with_its_reason_and_names_the_option():
    logits = torch.zeros(3, requires_grad=True)

    def program(logits):
        b = scgrad.sample("b", D.Bernoulli(logits=logits))  # one draw: leave-one-out refuses
        scgrad.cost("c", (b - 0.5) ** 2)

    diagnosis = scgrad.diagnose(program, logits, params=[logits], estimators=lookup(["leave_one_out", "score_function"]),
                                repeats=2, warmup=0, progress=False)
    row = diagnosis["leave_one_out"]
    assert row.note.startswith("not applicable") and "num_samples" in row.note and row.traceback is None
    assert diagnosis["score_function"].measurement is not None


def test_a_long_run_shows_a_progress_bar(monkeypatch, capsys):
    monkeypatch.setattr(importlib.import_module("scgrad.diagnostics.diagnose"), "PROGRESS_AFTER", 0)
    logits = torch.zeros(3, requires_grad=True)

    def program(logits):
        b = scgrad.sample("b", D.Bernoulli(logits=logits), num_samples=2)
        scgrad.cost("c", (b - 0.5) ** 2)

    scgrad.diagnose(program, logits, params=[logits], estimators=lookup(["score_function", "enumerate"]), repeats=2,
                    warmup=0)
    assert "scgrad.diagnose" in capsys.readouterr().err
    scgrad.diagnose(program, logits, params=[logits], estimators=lookup(["score_function"]), repeats=2, warmup=0,
                    progress=False)
    assert capsys.readouterr().err == ""
