"""``scgrad compare --problem FILE.py:NAME`` and ``module:NAME``: the user's own problem, end to end through the CLI."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import torch

from scgrad.cli import main
from scgrad.compare import Problem, Settings, compare, results
from scgrad.compare.load import Borrowed, load
from scgrad.compare.toy import BernoulliToy
from scgrad.diagnostics.catalogue import Entry, discrete, lookup
from scgrad.estimators import ScoreFunction

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bandit_problem.py"
QUICK = ["--steps", "3", "--repeats", "2", "--checkpoints", "1"]

TINY = '''
import torch
import torch.distributions as D
from dataclasses import dataclass
from torch import nn

import scgrad
from scgrad.compare import Problem


@dataclass
class Weights:  # a dataclass: the module must be registered while it loads
    size: int


class Tiny(Problem):
    name = "tiny"
    steps = 5
    learning_rate = 0.1
    objective_label = "mean squared error to the targets"

    def model(self):
        return nn.Linear(1, Weights(3).size)

    def program(self, model, data, num_samples):
        b = scgrad.sample("b", D.Bernoulli(logits=model(torch.ones(1))), num_samples=num_samples)
        scgrad.cost("error", (b - data) ** 2)

    def batch(self, step, seed):
        return torch.tensor([0.2, 0.5, 0.9])

    def measured(self, model):
        return list(model.parameters())

    def describe(self):
        return "three Bernoulli bits from one linear layer"

    def objective(self, model):
        p = torch.sigmoid(model(torch.ones(1))).detach()
        return float((p * (1 - self.batch(0, 0)) ** 2 + (1 - p) * self.batch(0, 0) ** 2).mean())
'''


def test_a_problem_in_a_temporary_file_runs_through_the_cli(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY)
    out = tmp_path / "out"
    argv = ["compare", "--problem", f"{tmp_path / 'tiny.py'}:Tiny", *QUICK, "--estimators", "score_function,enumerate",
            "--out", str(out)]
    assert main(argv) == 0
    found = results(out)
    assert found["problem"] == "tiny" and found["objective_label"] == "mean squared error to the targets"
    assert [row["estimator"] for row in found["estimators"]] == ["score_function", "enumerate"]
    assert all(row["note"] is None and row["variance"] is not None for row in found["estimators"])
    assert found["recommendation"] == "enumerate" and found["usage"] == 'scgrad.sample("b", dist, scgrad.Enumerate())'
    for name in ("report.md", "report.html", "variance.png", "objective.png"):
        assert (out / name).stat().st_size > 0


def test_the_documented_example_runs_and_its_relaxation_is_reported_in_its_row(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["compare", "--problem", f"{EXAMPLE}:Bandit", *QUICK, "--estimators",
            "gumbel_softmax,score_function,enumerate", "--out", str(out)]
    assert main(argv) == 0
    rows = {row["estimator"]: row for row in results(out)["estimators"]}
    relaxed = rows["gumbel_softmax"]
    assert relaxed["note"].startswith("failed: IndexError") and "relaxed value" in relaxed["note"]
    assert "bandit_problem.py" in relaxed["traceback"] and "scgrad/" not in relaxed["traceback"]
    assert rows["score_function"]["note"] is None and rows["enumerate"]["variance"] == 0
    printed = capsys.readouterr().out
    assert "failure of gumbel_softmax" in printed and "bandit_problem.py" in printed
    assert "Failure of gumbel_softmax" in (out / "report.md").read_text()


def test_the_docs_show_the_example_file_as_it_is():
    docs = (ROOT / "docs" / "user_problems.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    assert EXAMPLE.read_text() in blocks


def test_a_module_reference_loads_and_an_object_that_does_not_subclass_problem_gets_its_defaults(tmp_path, monkeypatch):
    assert isinstance(load("scgrad.compare.toy:BernoulliToy"), BernoulliToy)
    (tmp_path / "ducks.py").write_text(textwrap.dedent('''
        import torch
        class Duck:  # every member of Problem but probe and objective_label
            name, steps, learning_rate = "duck", 3, 0.1
            def model(self): return torch.nn.Linear(1, 1)
            def program(self, model, data, num_samples): pass
            def batch(self, step, seed): return torch.tensor([float(step)])
            def measured(self, model): return list(model.parameters())
            def describe(self): return "a duck"
            def objective(self, model): return 0.0
        DUCK = Duck()
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    problem = load("ducks:DUCK")
    assert isinstance(problem, Borrowed) and problem.name == "duck"
    assert torch.equal(problem.probe(0), torch.tensor([-1.0])) and problem.objective_label == Problem.objective_label


def test_a_file_that_fails_to_load_exits_non_zero_with_its_own_traceback(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import torch\n\ndef helper():\n    raise RuntimeError('broken on purpose')\n\nhelper()\n")
    assert main(["compare", "--problem", f"{tmp_path / 'broken.py'}:Anything", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "broken.py\", line 4, in helper" in err and "RuntimeError: broken on purpose" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("source, expected", [
    ("class Tiny:\n    name = 'tiny'\n", "lacks ['model', 'program'"),
    ("from scgrad.compare.toy import BernoulliToy\nclass Tiny(BernoulliToy):\n    steps = 0\n", "steps is 0"),
    ("from scgrad.compare.toy import BernoulliToy\nclass Tiny(BernoulliToy):\n    name = ''\n", "name is ''"),
    ("from scgrad.compare.toy import BernoulliToy\nclass Other(BernoulliToy):\n    pass\n", "defines no 'Tiny'; its classes: ['BernoulliToy', 'Other']"),
])
def test_a_problem_that_is_not_one_is_refused_naming_the_option_and_the_fix(tmp_path, capsys, source, expected):
    (tmp_path / "mine.py").write_text(source)
    with pytest.raises(SystemExit) as stopped:
        main(["compare", "--problem", f"{tmp_path / 'mine.py'}:Tiny", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "argument --problem" in err and expected in err


class Exploding(ScoreFunction):
    """A score-function estimator that raises a plain error once it has drawn a few times."""

    def __init__(self):
        super().__init__()
        self.draws = 0

    def draw(self, node, layout):
        self.draws += 1
        if self.draws > 2:  # the third training step (measurements draw with copies)
            raise RuntimeError("exploded on purpose")
        return super().draw(node, layout)


def test_an_error_while_training_one_estimator_is_reported_in_its_row_and_the_others_run(tmp_path):
    entries = [Entry("exploding", lambda dist: Exploding(), discrete), *lookup(["score_function"])]
    settings = Settings(steps=4, samples=2, seed=0, repeats=2, checkpoints=1)
    done = [(p.estimator, p.index, p.total) for p in compare(BernoulliToy(), entries, settings, tmp_path)]
    assert ("score_function", 2, 2) in done  # the second estimator trained after the first failed
    exploding, score = results(tmp_path)["estimators"]
    assert exploding["note"].startswith("failed after step 2: ") and "RuntimeError: exploded on purpose" in exploding["note"]
    assert "exploded on purpose" in exploding["traceback"] and exploding["history"] == []
    assert score["note"] is None and score["variance"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["recommendation"] == "score_function"
