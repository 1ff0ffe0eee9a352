"""The sigmoid-belief-net problems of ``scgrad compare``: several stochastic layers, every re-evaluating
estimator on every layer, the audit passing (each layer one event)."""

from __future__ import annotations

import pytest
import torch

import scgrad
from scgrad.compare import Settings, compare, results
from scgrad.compare.problems import PROBLEMS
from scgrad.diagnostics.catalogue import lookup


def test_the_program_is_the_negative_elbo_of_its_layers():
    problem = PROBLEMS["sbn-digits"]()
    torch.manual_seed(0)
    model, x = problem.model(), problem.probe(0)
    objective = scgrad.surrogate(problem.program, model, x, 3)
    assert list(objective.graph.nodes) == ["z1", "z2"]
    assert objective.graph.nodes["z2"].value.shape == (3, x.shape[0], 16)
    assert objective.graph.costs["negative_elbo"].value.shape == (3, x.shape[0])
    assert scgrad.audit(problem.program, model, x, 2, every_node=True).ok


@pytest.mark.parametrize("layers", ["sbn-digits"])
def test_compare_trains_every_layer_with_the_re_evaluating_estimators(tmp_path, layers):
    problem = PROBLEMS[layers]()
    entries = lookup(["score_function", "muprop", "rebar", "indecater"])
    settings = Settings(steps=4, samples=2, seed=0, repeats=3, checkpoints=1)
    for _ in compare(problem, entries, settings, tmp_path):
        pass
    rows = results(tmp_path)["estimators"]
    assert [row["note"] for row in rows] == [None] * len(entries)
    assert all(row["variance"] > 0 and row["objective"] > 0 for row in rows)
    assert results(tmp_path)["audit"]["ok"]
