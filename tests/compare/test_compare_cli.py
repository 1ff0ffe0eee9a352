"""``scgrad compare``'s command line: mistakes named by option, --samples 1, runs where nothing could be
measured, --list, the default folders and the progress counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from scgrad.cli import default_folder, main
from scgrad.compare import Settings, compare, results
from scgrad.compare.toy import BernoulliToy
from scgrad.diagnostics.catalogue import CATALOGUE, lookup

TOY = ["--problem", "bernoulli-toy", "--steps", "2", "--repeats", "2", "--checkpoints", "1"]


@pytest.mark.parametrize("options, option", [
    (["--steps", "ten"], "--steps"),
    (["--steps", "0"], "--steps"),
    (["--samples", "0"], "--samples"),
    (["--samples", "1.5"], "--samples"),
    (["--repeats", "1"], "--repeats"),
    (["--seed", "zero"], "--seed"),
    (["--checkpoints", "-1"], "--checkpoints"),
    (["--threads", "0"], "--threads"),
    (["--estimators", "score_function,no_such_estimator"], "--estimators"),
    (["--problem", "no-such-problem"], "--problem"),
    (["--problem", "missing_file.py:Problem"], "--problem"),
    (["--problem", "scgrad.compare.toy:NoSuchClass"], "--problem"),
    (["--problem", "no_such_module_anywhere:Problem"], "--problem"),
    (["--problem", "scgrad.compare.toy:"], "--problem"),
])
def test_each_mistake_exits_non_zero_naming_the_option_in_plain_words(tmp_path, capsys, options, option):
    with pytest.raises(SystemExit) as stopped:
        main(["compare", *options, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"argument {option}" in err
    assert not any(internal in err for internal in ("_positive", "positive_integer", "at_least_two", "invalid int"))


def test_estimators_that_need_two_draws_are_not_applicable_with_one_naming_samples(tmp_path):
    argv = ["compare", *TOY, "--samples", "1", "--estimators", "leave_one_out,arm,score_function", "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = {row["estimator"]: row for row in results(tmp_path)["estimators"]}
    for name in ("leave_one_out", "arm"):
        assert rows[name]["note"].startswith("not applicable") and "--samples 2" in rows[name]["note"]
    assert rows["score_function"]["note"] is None


def test_the_default_run_reports_them_too(tmp_path):
    entries = [entry for entry in CATALOGUE if entry.draws]
    assert {"leave_one_out", "arm", "disarm", "unordered_set"} <= {entry.name for entry in entries}
    settings = Settings(steps=1, samples=1, seed=0, repeats=2, checkpoints=1)
    assert list(compare(BernoulliToy(), entries, settings, tmp_path, skip_inapplicable=True)) == []
    rows = results(tmp_path)["estimators"]
    bernoulli = [entry.name for entry in entries if entry.name != "unordered_set"]  # it refuses Bernoulli nodes
    assert [row["estimator"] for row in rows] == bernoulli
    assert all("--samples" in row["note"] for row in rows)


def test_a_run_in_which_nothing_was_measured_exits_non_zero(tmp_path, capsys):
    assert main(["compare", *TOY, "--estimators", "reparam,lax", "--out", str(tmp_path)]) == 1
    assert "no estimator could be measured" in capsys.readouterr().out
    assert all(row["note"].startswith("not applicable") for row in results(tmp_path)["estimators"])


def test_list_and_help_name_every_estimator(capsys):
    assert main(["compare", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    for entry in CATALOGUE:
        (line,) = [line for line in listed if line.split()[:1] == [entry.name]]
        assert ("biased" if entry.biased else "unbiased") == line.split()[1] and "scgrad." in line
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert all(entry.name in helped for entry in CATALOGUE) and "--list" in helped


def test_a_narrower_run_keeps_the_fuller_report_and_a_rerun_says_it_replaces_one(tmp_path, monkeypatch, capsys):
    assert default_folder("vae-digits", None) == Path("scgrad-compare/vae-digits")
    assert default_folder("vae-digits", ["score_function", "arm", "arm"]) == Path("scgrad-compare/vae-digits--arm+score_function")
    many = default_folder("vae-digits", [entry.name for entry in CATALOGUE])
    assert many.name.startswith(f"vae-digits--{len(CATALOGUE)}-estimators-") and len(many.name) < 60
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *TOY, "--estimators", "score_function,enumerate"]) == 0
    written = tmp_path / "scgrad-compare" / "bernoulli-toy--enumerate+score_function"
    assert results(written)["recommendation"] == "enumerate"
    assert not (tmp_path / "scgrad-compare" / "bernoulli-toy").exists()
    err = capsys.readouterr().err
    assert "estimator 1 of 2: score_function" in err and "estimator 2 of 2: enumerate" in err
    assert main(["compare", *TOY, "--estimators", "enumerate,score_function"]) == 0
    assert "replacing the report in" in capsys.readouterr().out


def test_progress_counts_only_the_estimators_that_train(tmp_path):
    entries = lookup(["reparam", "score_function", "enumerate"])
    settings = Settings(steps=2, samples=2, seed=0, repeats=2, checkpoints=1)
    seen = {(p.estimator, p.index, p.total) for p in compare(BernoulliToy(), entries, settings, tmp_path)}
    assert seen == {("score_function", 1, 2), ("enumerate", 2, 2)}
