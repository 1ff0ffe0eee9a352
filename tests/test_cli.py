"""The ``scgrad`` command: ``compare`` writes its outputs and resumes exactly; ``quickstart``."""

from __future__ import annotations

import itertools
import json
import resource
import subprocess
import sys

import pytest
import torch

from scgrad.cli import main
from scgrad.compare import Settings, compare, problem, results
from scgrad.diagnostics.catalogue import lookup
from optional_data import needs_mnist

TIMING = ("ms_per_step", "seconds")


def without_timing(value):
    """``results.json`` content with the wall-clock fields dropped (they differ from run to run)."""
    if isinstance(value, dict):
        return {key: without_timing(item) for key, item in value.items() if key not in TIMING}
    if isinstance(value, list):
        return [without_timing(item) for item in value]
    return value


def test_compare_on_the_default_problem_writes_results_report_and_plots(tmp_path):
    # The time limit is on the command's CPU time: on cores shared with other work the wall time
    # stretches by the load, the work does not. Alone on this machine the wall time is about the CPU time.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "scgrad.cli", "compare", "--steps", "30", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 40, f"scgrad compare --steps 30 took {cpu:.0f} s of CPU"
    found = json.loads((tmp_path / "results.json").read_text())
    assert found["problem"] == "vae-digits"
    rows = found["estimators"]
    assert {"score_function", "leave_one_out"} <= {row["estimator"] for row in rows}
    for row in rows:
        assert {"estimator", "variance", "ms_per_step", "bias", "objective"} <= set(row)
        if row["note"] is None:
            assert row["variance"] > 0 and row["ms_per_step"] > 0 and row["objective"] > 0
            assert row["bias"] is None  # a 16-bit latent per image cannot be enumerated
            assert [point["step"] for point in row["history"]] == [0, 8, 15, 22, 30]
    assert found["recommendation"] in {row["estimator"] for row in rows}
    report = (tmp_path / "report.md").read_text()
    assert "| score_function |" in report and "variance.png" in report
    for png in ("variance.png", "objective.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 2
    assert "recommended" in done.stdout and f"scgrad.sample(\"z\", dist, scgrad." in done.stdout
    assert f"estimator 1 of {len(rows)}: " in done.stderr


@pytest.fixture
def one_thread():
    """One torch thread, as ``scgrad compare`` runs by default (small models; shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_resume_after_an_interruption_gives_the_same_result(tmp_path, one_thread):
    options = ["--steps", "30", "--checkpoints", "3", "--repeats", "5", "--estimators", "moving_average,leave_one_out"]
    assert main(["compare", *options, "--out", str(tmp_path / "whole")]) == 0

    interrupted = tmp_path / "interrupted"
    run = compare(problem("vae-digits"), lookup(["moving_average", "leave_one_out"]),
                  Settings(steps=30, samples=2, seed=0, repeats=5, checkpoints=3), interrupted)
    events = list(itertools.takewhile(lambda event: event[:2] != ("leave_one_out", 25), run))
    run.close()  # stopped mid-way: leave_one_out's last checkpoint is at step 20
    assert events[-1] == ("leave_one_out", 24, 2, 2) and not (interrupted / "results.json").exists()
    assert main(["compare", *options, "--out", str(interrupted), "--resume"]) == 0

    assert without_timing(results(interrupted)) == without_timing(results(tmp_path / "whole"))


def test_resume_refuses_a_different_configuration(tmp_path, capsys):
    options = ["--problem", "bernoulli-toy", "--estimators", "score_function", "--repeats", "2", "--out", str(tmp_path)]
    assert main(["compare", "--steps", "4", *options]) == 0
    with pytest.raises(SystemExit) as stopped:
        main(["compare", "--steps", "5", *options, "--resume"])
    assert stopped.value.code == 2 and "another configuration" in capsys.readouterr().err


def test_compare_on_the_toy_measures_bias_and_explains_what_cannot_run(tmp_path):
    argv = ["compare", "--problem", "bernoulli-toy", "--steps", "20", "--repeats", "50", "--checkpoints", "1",
            "--estimators", "leave_one_out,enumerate,reparam", "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = {row["estimator"]: row for row in results(tmp_path)["estimators"]}
    assert rows["reparam"]["note"].startswith("not applicable") and rows["reparam"]["variance"] is None
    assert rows["leave_one_out"]["bias"] is not None and rows["leave_one_out"]["bias_detected"] is False
    assert rows["enumerate"]["variance"] == 0 and rows["enumerate"]["bias"] < 1e-5
    assert rows["enumerate"]["snr"] is None  # infinite: written as null in strict JSON
    assert results(tmp_path)["recommendation"] == "enumerate"


def test_quickstart_still_runs(capsys):
    assert main(["quickstart", "--steps", "3"]) == 0
    assert "learned P(b = 1)" in capsys.readouterr().out


def test_an_unknown_estimator_name_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["compare", "--estimators", "no_such_estimator", "--out", str(tmp_path)])
    assert stopped.value.code == 2 and "no_such_estimator" in capsys.readouterr().err


def test_the_categorical_problem_runs(tmp_path):
    argv = ["compare", "--problem", "vae-digits-categorical", "--steps", "5", "--repeats", "3", "--checkpoints", "1",
            "--estimators", "leave_one_out", "--out", str(tmp_path)]
    assert main(argv) == 0
    (row,) = results(tmp_path)["estimators"]
    assert row["note"] is None and row["variance"] > 0


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("name", ["vae-mnist", "vae-mnist-categorical"])
def test_the_mnist_problems_run(tmp_path, name):
    argv = ["compare", "--problem", name, "--steps", "20", "--repeats", "3", "--checkpoints", "1",
            "--estimators", "leave_one_out", "--out", str(tmp_path)]
    assert main(argv) == 0
    (row,) = results(tmp_path)["estimators"]
    assert row["note"] is None and row["variance"] > 0 and 50 < row["objective"] < 600


def test_version_and_help(capsys):
    import scgrad

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"scgrad {scgrad.__version__}"
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "compare" in out and "quickstart" in out
