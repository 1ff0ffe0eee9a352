"""``benchmarks/per_element_baseline.py`` on tiny settings: it writes its JSON, and each side's mean is near the
exact gradient; with Pyro installed, scgrad's per-element estimates match Pyro's."""

from __future__ import annotations

import importlib.util
import json

from benchmark_scripts import load


def test_per_element_benchmark_runs_and_writes_json(tmp_path):
    bench = load("per_element_baseline")
    out = tmp_path / "per_element.json"
    with_pyro = importlib.util.find_spec("pyro") is not None
    bench.main(["--warmup", "100", "--estimates", "300", "--resamples", "50", "--out", str(out)]
               + ([] if with_pyro else ["--without-pyro"]))
    report = json.loads(out.read_text())
    results = report["results"]
    assert {"scgrad_scalar", "scgrad_per_element"} <= set(results)
    for side in ("scgrad_scalar", "scgrad_per_element"):
        assert results[side]["variance"] > 0 and results[side]["max_z_from_exact"] < 5
    ratio = report["ratios"]["scgrad_scalar/scgrad_per_element"]
    assert ratio["ci95"][0] <= ratio["ratio"] <= ratio["ci95"][1]
    if with_pyro:
        assert results["max_relative_difference_per_element_vs_pyro"] < 1e-3  # 0.9 ** 100 of the starts' gap
