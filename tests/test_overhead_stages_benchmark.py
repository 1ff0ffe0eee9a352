"""The stage-by-stage overhead benchmark: every stage computes the hand-written step's gradient, and it writes JSON."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributions as D

import scgrad

from benchmark_scripts import load


def test_every_stage_gives_the_hand_written_gradient_and_the_script_writes_json(tmp_path):
    stages = load("overhead_stages")
    out = tmp_path / "stages.json"
    threads = torch.get_num_threads()
    try:  # the script sets torch's thread count: give it back to the other tests
        stages.main(["--steps", "2", "--warmup", "0", "--out", str(out)])  # checks each stage's gradient first
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    assert list(report["results"]) == list(stages.stages(*stages.problem()))
    for result in report["results"].values():
        low, high = result["ratio_ci95"]
        assert result["ratio"] > 0 and low <= result["ratio"] <= high


def test_the_gradient_check_catches_a_stage_that_computes_another_estimator():
    stages = load("overhead_stages")
    overhead = stages.overhead
    with overhead.default_dtype(torch.float64):
        logits, targets = stages.problem()
        step = stages.stages(logits, targets)["ops_provenance"]
        with pytest.raises(AssertionError, match="gradients differ"):
            overhead.check_same_gradient(lambda: 2.0 * step(), lambda: overhead.bits_by_hand(logits, targets), [logits])


def test_the_time_order_stage_leaves_the_node_untracked_and_the_surrogate_stage_tracks_it():
    stages = load("overhead_stages")
    logits, targets = stages.problem()
    untracked = scgrad.ScoreFunction(stages.UntrackedLeaveOneOut())
    for estimator, probed in ((untracked, False), (scgrad.ScoreFunction(scgrad.LeaveOneOut()), True)):
        def program():
            b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=8)
            scgrad.cost("squared_error", (b - targets) ** 2)

        assert scgrad.surrogate(program).graph.nodes["b"].probed is probed
