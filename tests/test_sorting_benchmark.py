"""The sorting benchmark runs end to end on a tiny configuration and writes its JSON."""

from __future__ import annotations

import json

import torch

from benchmark_scripts import load


def test_sorting_benchmark_writes_json(tmp_path, capsys):
    sorting = load("sorting")
    out = tmp_path / "sorting.json"
    threads = torch.get_num_threads()
    try:  # the script sets torch's thread count: give it back to the other tests
        sorting.main(["--n", "4", "--steps", "30", "--test-sequences", "50", "--out", str(out), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["n"] == 4 and 0 <= result["proportion_sorted"] <= result["element_accuracy"] <= 1
    assert "unconfirmed" in capsys.readouterr().out
