"""The Bernoulli toy benchmarks (``benchmarks/toy.py``, ``benchmarks/bernoulli_toy_variance.py``) on tiny settings."""

from __future__ import annotations

import json

import pytest

from benchmark_scripts import load


def test_toy_training_writes_json_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    toy = load("toy")
    toy.main(["--steps", "4", "--every", "2", "--replicas", "50", "--targets", "0.45", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "toy.json").read_text())
    assert set(report["0.45"]) == set(toy.ESTIMATORS)
    for record in report["0.45"].values():
        assert record["step"] == [0, 2, 4] and record["theta"][0] == 0.5  # every run starts from θ = 1/2
    assert (tmp_path / "toy.png").stat().st_size > 0


def test_variance_table_is_exact_where_the_estimators_are(tmp_path):
    variance = load("bernoulli_toy_variance")
    out = tmp_path / "variance.json"
    variance.main(["--replicas", "4000", "--dims", "1", "--thetas", "0.3", "0.5", "--out", str(out)])
    rows = {(row["theta"], row["estimator"]): row for row in json.loads(out.read_text())["rows"]}
    exact = 1 - 2 * variance.TARGET
    for (theta, name), row in rows.items():
        assert abs(row["mean"] - exact) < 4.5 * (row["variance"] / 4000) ** 0.5 + 1e-9, (theta, name, row)
    # with one component, MeasureValued and IndeCateR evaluate both outcomes; DisARM is exact at θ = 1/2
    assert rows[(0.3, "MeasureValued")]["variance"] < 1e-20 and rows[(0.3, "IndeCateR")]["variance"] < 1e-20
    assert rows[(0.5, "DisARM (1 pair)")]["variance"] < 1e-20 < rows[(0.5, "ARM (1 pair)")]["variance"]
    assert rows[(0.3, "DisARM (1 pair)")]["variance"] < rows[(0.3, "REINFORCE")]["variance"]
