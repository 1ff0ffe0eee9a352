"""Checkpoint files: a lazy network that has not run yet round-trips (a checkpoint at step 0 may hold one)."""

from __future__ import annotations

import torch
from torch import nn

from scgrad.compare import checkpoint


def test_a_lazy_module_not_yet_run_round_trips(tmp_path):
    lazy = nn.Sequential(nn.LazyLinear(3), nn.Tanh(), nn.Linear(3, 1))
    checkpoint.save({"step": 0, "estimators": lazy.state_dict()}, tmp_path / "state.pt")
    state = checkpoint.load(tmp_path / "state.pt")
    resumed = nn.Sequential(nn.LazyLinear(3), nn.Tanh(), nn.Linear(3, 1))
    resumed.load_state_dict(state["estimators"])
    assert resumed(torch.ones(2, 5)).shape == (2, 1)  # still lazy: sized by its first input


def test_nothing_there_is_none(tmp_path):
    assert checkpoint.load(tmp_path / "missing.pt") is None
