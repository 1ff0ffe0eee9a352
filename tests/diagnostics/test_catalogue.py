"""The catalogue of estimators that compare and diagnose use, placing it on nodes, and the recommendation."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.diagnostics.assignment import Assignment, applicable
from scgrad.diagnostics.catalogue import CATALOGUE, discrete, lookup
from scgrad.diagnostics.recommend import recommend

BERNOULLI = D.Bernoulli(probs=torch.full((3,), 0.4))
NORMAL = D.Normal(torch.zeros(3), torch.ones(3))


def test_names_are_unique_and_every_entry_makes_a_fresh_estimator():
    names = [entry.name for entry in CATALOGUE]
    assert len(names) == len(set(names))
    for entry in CATALOGUE:
        dist = BERNOULLI if entry.applies(BERNOULLI) else NORMAL
        assert entry.applies(dist), f"{entry.name} applies to neither Bernoulli nor Normal"
        first, second = entry.make(dist), entry.make(dist)
        assert isinstance(first, scgrad.Estimator) and first is not second


def test_lookup_keeps_the_order_given_and_refuses_unknown_names():
    assert [e.name for e in lookup(["enumerate", "score_function"])] == ["enumerate", "score_function"]
    with pytest.raises(scgrad.ScgradError, match="no_such"):
        lookup(["no_such"])


def test_an_assignment_makes_one_estimator_per_node_and_keeps_it():
    assignment = Assignment(lookup(["moving_average"])[0])
    first = assignment.choose("z", BERNOULLI)
    assert assignment.choose("z", BERNOULLI) is first
    assert assignment.choose("w", BERNOULLI) is not first
    assert assignment.choose("x", NORMAL) is None  # not a discrete distribution: the node keeps its own
    assert set(assignment.state_dict()) == {"z", "w"}


def test_applicable_gives_the_reason_an_entry_cannot_serve_a_program():
    enumerate_entry, reparam = lookup(["enumerate", "reparam"])
    assert applicable(enumerate_entry, {"b": BERNOULLI}) is None
    assert "Bernoulli" in applicable(reparam, {"b": BERNOULLI})
    assert applicable(enumerate_entry, {"b": D.Independent(BERNOULLI, 1)}) is None  # 2**3 joint outcomes
    wide = D.Independent(D.Bernoulli(probs=torch.full((11,), 0.4)), 1)
    assert "2048 joint outcomes" in applicable(enumerate_entry, {"b": wide})
    assert discrete(D.Independent(BERNOULLI, 1)) and not discrete(NORMAL)


def test_recommend_takes_the_least_variance_per_second_among_the_unbiased():
    rows = [
        {"estimator": "slow_precise", "biased": False, "variance": 1.0, "ms_per_step": 10.0},
        {"estimator": "fast_noisy", "biased": False, "variance": 4.0, "ms_per_step": 2.0},
        {"estimator": "relaxed", "biased": True, "variance": 0.01, "ms_per_step": 1.0},
        {"estimator": "caught", "biased": False, "bias_detected": True, "variance": 0.01, "ms_per_step": 1.0},
        {"estimator": "failed", "biased": False, "variance": None, "ms_per_step": None},
    ]
    assert recommend(rows) == "fast_noisy"
    assert recommend(rows[2:]) is None
