"""The RELAX paper's sigmoid-belief-net runs (``benchmarks/relax_paper.py``) on tiny settings."""

from __future__ import annotations

import json

import pytest

from benchmark_scripts import load
from optional_data import needs_mnist


@needs_mnist
def test_every_estimator_trains_resumes_and_reports(tmp_path):
    pytest.importorskip("matplotlib")
    paper = load("relax_paper")
    paper.main(["--model", "linear-1", "--steps", "2", "--every", "1", "--out", str(tmp_path)])
    paper.main(["--model", "linear-1", "--estimators", "relax", "--steps", "3", "--every", "1", "--out", str(tmp_path)])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]["linear-1"]
    assert set(runs) == set(paper.ENTRIES)
    assert runs["relax"]["steps"] == 3 and [h["step"] for h in runs["relax"]["history"]] == [0, 1, 2, 3]
    assert [h["step"] for h in runs["nvil"]["history"]] == [0, 1, 2]
    assert all(h["objective"] > 0 for run in runs.values() for h in run["history"])
    report = (tmp_path / "report.md").read_text()
    assert "| relax | 3 |" in report and "-111.2" in report
    assert (tmp_path / "curves.png").stat().st_size > 0
