"""The overhead benchmark's hand-written estimators give scgrad's gradients, and the script writes its JSON."""

from __future__ import annotations

import json

import torch

from benchmark_scripts import load


def test_overhead_benchmark_checks_every_pair_and_writes_json(tmp_path):
    overhead = load("overhead")
    out = tmp_path / "overhead.json"
    threads = torch.get_num_threads()
    try:  # the script sets torch's thread count: give it back to the other tests
        # every pair is first checked (float64) to give the same gradient as the hand-written estimator
        overhead.main(["--steps", "2", "--warmup", "0", "--out", str(out), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    assert set(report["results"]) == set(overhead.cases())
    for result in report["results"].values():
        assert result["scgrad_ms"] > 0 and result["by_hand_ms"] > 0 and result["ratio"] > 0
        low, high = result["ratio_ci95"]
        assert low <= result["ratio"] <= high


def test_paired_ratio_is_the_median_ratio_with_an_order_statistic_interval():
    overhead = load("overhead")
    ours = [float(i) for i in range(1, 101)]
    theirs = [1.0] * 100
    median, low, high = overhead.paired_ratio(ours, theirs)
    assert median == 50.5
    # n = 100: ranks 50 -/+ 9.8, so the 40th and 61st smallest ratios (0-based 40 and 60 -> values 41, 61)
    assert (low, high) == (41.0, 61.0)
