"""The RL benchmark runs end to end on a tiny configuration and writes its JSON and plot."""

from __future__ import annotations

import json
import math

import pytest
import torch

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


def test_rl_benchmark_runs_the_relax_papers_protocol(tmp_path):
    """CartPole-v0, two ReLU layers of 10, RMSProp, discount 0.99, an entropy bonus, one episode per update."""
    rl = load("rl")
    out = tmp_path / "rl.json"
    rl.main(["--envs", "CartPole-v0", "--methods", "actor_critic", "relax", "--seeds", "0", "1", "--num-envs", "1",
             "--hidden", "10", "--layers", "2", "--activation", "relu", "--optimiser", "rmsprop", "--gamma", "0.99",
             "--entropy", "0.01", "--max-episodes", "3", "--window", "2", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["thresholds"]["CartPole-v0"] == 195.0
    assert report["runs"]["CartPole-v0"]["relax"]["1"]["curve"]["episodes"] == [1, 2, 3]
    with pytest.raises(SystemExit):
        rl.main(["--envs", "CartPole-v0", "--entropy", "0.01", "--out", str(out)])  # by_hand has no entropy bonus


def test_entropy_bonus_counts_each_episodes_own_steps():
    rl = load("rl")
    logits = [torch.zeros(2, 2, requires_grad=True) for _ in range(3)]
    entropy = rl.entropy_of(logits, torch.tensor([3, 1]))
    torch.testing.assert_close(entropy, torch.tensor(2 * math.log(2.0)))  # (3 + 1) steps of log 2, over 2 episodes
    assert [len(rl.mlp(4, 2, hidden=10, layers=layers)) for layers in (1, 2)] == [3, 5]
