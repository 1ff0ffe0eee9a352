"""``scgrad.diagnose``: bias against the exact gradient, variance, cost, and the recommendation.

The bias checks are statistical with fixed seeds (``tests/stats.py``): deterministic, and able to fail.
"""

from __future__ import annotations

import torch
import torch.distributions as D

import scgrad
from scgrad.diagnostics.catalogue import lookup
from scgrad.errors import ScgradError
from stats import Z_LIMIT, assert_unbiased, z_scores

TARGETS = torch.tensor([0.1, 0.3, 0.45, 0.55, 0.7, 0.9])
UNBIASED = ["score_function", "moving_average", "batch_average", "leave_one_out", "enumerate"]


def toy(logits, num_samples):
    b = scgrad.sample("b", D.Bernoulli(logits=logits), num_samples=num_samples)
    scgrad.cost("squared_error", (b - TARGETS) ** 2)


def logits():
    return torch.linspace(-1.0, 1.0, 6).requires_grad_()


def test_unbiased_estimators_report_no_bias():
    params = logits()
    diagnosis = scgrad.diagnose(toy, params, 4, params=[params], estimators=lookup(UNBIASED), repeats=200)
    assert diagnosis.exact_gradient is not None and diagnosis.exact_note is None
    assert [row.estimator for row in diagnosis.rows] == UNBIASED
    for row in diagnosis.rows:
        m = row.measurement
        assert row.note is None and not row.biased
        assert m.gradients.shape == (200, 6)
        assert_unbiased(m.gradients, diagnosis.exact_gradient)
        assert m.bias_detected is False, (row.estimator, m.bias, m.bias_stderr)
    # The moving average keeps its state across calls (one estimator per node): far less variance.
    assert diagnosis["moving_average"].measurement.variance < 0.5 * diagnosis["score_function"].measurement.variance
    assert diagnosis["enumerate"].measurement.variance == 0.0
    assert diagnosis.recommendation == "enumerate"


def test_gumbel_softmax_is_reported_biased_and_never_recommended():
    params = logits()
    diagnosis = scgrad.diagnose(toy, params, 4, params=[params], estimators=lookup(["gumbel_softmax", "score_function"]),
                                repeats=300)
    relaxed = diagnosis["gumbel_softmax"].measurement
    assert relaxed.bias_detected is True
    assert relaxed.bias > 10 * relaxed.bias_stderr
    assert float(z_scores(relaxed.gradients, diagnosis.exact_gradient).max()) > Z_LIMIT
    assert diagnosis["score_function"].measurement.bias_detected is False
    # Lower variance does not buy a biased estimator the recommendation.
    assert relaxed.variance < diagnosis["score_function"].measurement.variance
    assert diagnosis.recommendation == "score_function"
    assert "gumbel_softmax" in str(diagnosis) and "!" in str(diagnosis)


def test_default_estimators_cover_the_catalogue_entries_that_apply():
    params = logits()
    diagnosis = scgrad.diagnose(toy, params, 4, params=[params], repeats=3, warmup=0)
    names = [row.estimator for row in diagnosis.rows]
    assert set(UNBIASED) <= set(names)
    assert "reparam" not in names  # meant for rsample distributions only
    assert all(row.measurement is not None or row.note for row in diagnosis.rows)


def joint(logits):
    b = scgrad.sample("b", D.Independent(D.Bernoulli(logits=logits), 1), num_samples=3)
    targets = torch.linspace(0.1, 0.9, logits.shape[-1])
    scgrad.cost("distance", ((b - targets) ** 2).sum(-1))


def test_bias_is_measured_for_an_independent_node_enumerated_jointly():
    params = logits()  # 2**6 joint outcomes
    diagnosis = scgrad.diagnose(joint, params, params=[params], estimators=lookup(["leave_one_out"]), repeats=5)
    assert diagnosis.exact_gradient is not None
    assert diagnosis["leave_one_out"].measurement.bias is not None


def test_bias_is_unknown_where_the_program_cannot_be_enumerated():
    params = torch.linspace(-1.0, 1.0, 11).requires_grad_()  # 2**11 joint outcomes: more than Enumerate lays out
    diagnosis = scgrad.diagnose(joint, params, params=[params], estimators=lookup(["leave_one_out"]), repeats=5)
    assert diagnosis.exact_gradient is None and "joint outcomes" in diagnosis.exact_note
    m = diagnosis["leave_one_out"].measurement
    assert m.bias is None and m.bias_detected is None and m.variance > 0
    assert "unknown" in str(diagnosis)


def test_rows_say_why_an_estimator_could_not_run():
    params = logits()
    diagnosis = scgrad.diagnose(toy, params, None, params=[params], estimators=lookup(["reparam", "leave_one_out"]),
                                repeats=3)
    reparam, loo = diagnosis["reparam"], diagnosis["leave_one_out"]
    assert reparam.measurement is None and reparam.note.startswith("not applicable")
    assert loo.measurement is None and loo.note.startswith("not applicable") and "num_samples" in loo.note
    assert diagnosis.recommendation is None


def test_cost_evaluations_time_and_snr():
    params = logits()
    diagnosis = scgrad.diagnose(toy, params, 4, params=[params], estimators=lookup(["score_function", "enumerate"]),
                                repeats=5)
    score, enum = diagnosis["score_function"].measurement, diagnosis["enumerate"].measurement
    assert score.evaluations == 1.0  # one run of the program as written (4 draws)
    assert enum.evaluations == 0.5  # both outcomes of each Bernoulli, computed once for the 4 draws (values broadcast)
    assert score.ms_per_step > 0 and 0 < score.snr < float("inf") and enum.snr == float("inf")


def test_diagnose_leaves_the_callers_state_alone():
    params = logits()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    scgrad.diagnose(toy, params, 2, params=[params], estimators=lookup(["moving_average"]), repeats=3)
    assert torch.equal(torch.get_rng_state(), before)
    assert params.grad is None


def test_the_same_seed_gives_the_same_estimates():
    params = logits()
    first, second = (scgrad.diagnose(toy, params, 2, params=[params], estimators=lookup(["batch_average"]),
                                     repeats=4, seed=7)["batch_average"].measurement.gradients for _ in range(2))
    assert torch.equal(first, second)


def test_bad_arguments_are_refused():
    params = logits()
    for kwargs in ({"params": [params], "repeats": 1}, {"params": [params.detach()]}, {"params": []}):
        try:
            scgrad.diagnose(toy, params, 2, **kwargs)
        except ScgradError:
            continue
        raise AssertionError(f"accepted {kwargs}")
