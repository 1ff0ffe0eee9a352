"""The RL benchmark runs end to end on a tiny configuration and writes its JSON and plot."""

from __future__ import annotations

import json

import pytest

from benchmark_scripts import load

pytest.importorskip("gymnasium")
pytest.importorskip("matplotlib")


@pytest.mark.parametrize("env", ["CartPole-v1", "Acrobot-v1"])
def test_rl_benchmark_writes_json_and_plot(env, tmp_path):
    rl = load("rl")
    out = tmp_path / "rl.json"
    # the script checks that `reinforce` and `by_hand` give the same gradient before it trains
    rl.main(["--envs", env, "--seeds", "0", "--num-envs", "2", "--max-episodes", "4", "--window", "2",
             "--out", str(out), "--threads", "1"])
    report = json.loads(out.read_text())
    runs = report["runs"][env]
    assert set(runs) == set(rl.METHODS)
    for method in rl.METHODS:
        curve = runs[method]["0"]["curve"]
        assert curve["episodes"] == [2, 4] and runs[method]["0"]["reached"] is None
    # same estimator, same random numbers: the same episodes
    assert runs["reinforce"]["0"]["curve"]["mean_return"] == runs["by_hand"]["0"]["curve"]["mean_return"]
    assert report["summary"][env]["reinforce"]["seeds_reached"] == 0
    assert out.with_suffix(".png").stat().st_size > 0
