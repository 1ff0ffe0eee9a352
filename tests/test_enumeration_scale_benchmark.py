"""The chain benchmark of exact enumeration runs on short chains and writes its JSON."""

from __future__ import annotations

import json

from benchmark_scripts import load


def test_enumeration_scale_benchmark_writes_json(tmp_path):
    bench = load("enumeration_scale")
    out = tmp_path / "enumeration_scale.json"
    bench.main(["--lengths", "2", "3", "--repeats", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    assert [(p["model"], p["length"]) for p in report["points"]] == [("hmm", 2), ("hmm", 3), ("chain", 2), ("chain", 3)]
    for point in report["points"]:
        assert point["relative_error"] < 1e-9
        assert point["exact_runs"] == 3 ** point["length"]  # short chains: one run per joint outcome
        for name in ("exact", "enumerate", "forward_by_hand"):
            assert point[name]["seconds"] > 0


def test_the_check_catches_a_wrong_expectation():
    """The benchmark's own check is not vacuous: a forward recursion off by a step is caught."""
    bench = load("enumeration_scale")
    params, observed = bench.parameters(12)  # past the joint budget: contracted in one run
    error, runs = bench.check(bench.hmm, bench.hmm_forward, params, observed)
    assert error < 1e-9 and runs == 1
    assert bench.check(bench.chain, bench.hmm_forward, params, observed)[0] > 1e-3
