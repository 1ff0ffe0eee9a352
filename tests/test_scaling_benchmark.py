"""The scaling benchmark runs end to end in its quick mode and writes its JSON and PNG."""

from __future__ import annotations

import json

import pytest

from benchmark_scripts import load


def test_scaling_benchmark_quick_writes_json_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    scaling = load("scaling")
    scaling.main(["--quick", "--out", str(tmp_path)])  # measures in a child process: this one's torch is untouched

    report = json.loads((tmp_path / "scaling.json").read_text())
    assert {"config", "memory_method", "curves"} <= report.keys()
    assert set(report["curves"]) == set(scaling.CURVES)
    for name, curve in report["curves"].items():
        assert {"axis", "points", "time_slope", "time_slope_all", "memory_slope", "fixed_ms", "per_unit_us"} <= curve.keys(), name
        assert len(curve["points"]) >= 2, name
        for point in curve["points"]:
            assert {"x", "time_ms", "times_ms", "peak_mb"} <= point.keys()
            assert point["time_ms"] > 0
        assert isinstance(curve["time_slope"], float), name
    # no Python loop over samples: scgrad makes the same calls whatever num_samples is
    for name in ("samples/score_loo", "samples/gumbel_softmax"):
        counts = {p["scgrad_calls"] for p in report["curves"][name]["points"]}
        assert len(counts) == 1, (name, counts)
    assert (tmp_path / "scaling.png").stat().st_size > 0


def test_log_slope_and_affine_fit():
    scaling = load("scaling")
    xs = [1, 10, 100, 1000]
    assert scaling.log_slope(xs, [3 * x for x in xs]) == pytest.approx(1.0)
    assert scaling.log_slope(xs, [x * x for x in xs]) == pytest.approx(2.0)
    assert scaling.log_slope(xs, [0, 0, 1, 10]) == pytest.approx(1.0)  # points at zero (below a page) are left out
    assert scaling.log_slope(xs, [0, 0, 0, 1]) is None
    fixed, per_unit = scaling.affine_fit(xs, [2 + 0.5 * x for x in xs])
    assert fixed == pytest.approx(2.0) and per_unit == pytest.approx(0.5)
