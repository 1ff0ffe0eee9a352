"""The plots of ``scgrad compare``: every line its own look, the legend outside the axes, titles and labels that
say what is shown."""

from __future__ import annotations

import pytest

from results_fixture import results

pytest.importorskip("matplotlib")

from scgrad.compare.plots import OBJECTIVE_PNG, VARIANCE_PNG, figures, plot, style  # noqa: E402


def look(line) -> tuple:
    return line.get_color(), line.get_linestyle(), line.get_marker()


def test_a_hundred_lines_all_look_different_and_only_biased_ones_are_dashed():
    looks = [(style(i)["color"], style(i)["marker"]) for i in range(130)]
    assert len(set(looks)) == 130
    assert style(3)["linestyle"] == "-" and style(3, biased=True)["linestyle"] == "--"


def test_each_estimator_has_one_look_a_legend_outside_the_axes_and_titles_that_name_the_setup():
    found = results()
    drawn = figures(found)
    assert set(drawn) == {VARIANCE_PNG, OBJECTIVE_PNG}
    for name, figure in drawn.items():
        figure.canvas.draw()
        (axes,) = figure.axes
        lines = axes.get_lines()
        assert len(lines) == len(found["estimators"])  # the ones without points are in the legend only
        assert len({look(line) for line in lines}) == len(lines)
        (legend,) = figure.legends
        renderer = figure.canvas.get_renderer()
        assert not legend.get_window_extent(renderer).overlaps(axes.get_window_extent(renderer))
        labels = [text.get_text() for text in legend.get_texts()]
        assert "refused: not measured (see the report)" in labels and "estimator_12 (biased)" in labels
        dashed = {line.get_label() for line in lines if line.get_linestyle() == "--"}
        assert dashed == {"estimator_12 (biased)", "estimator_13 (biased)"}
        assert "demo" in figure.get_suptitle() and "Adam lr 0.1" in axes.get_title(loc="left")
        assert "40 steps, 2 draws per data point, seed 0" in axes.get_title(loc="left").replace("\n", " ")
    variance, objective = drawn[VARIANCE_PNG].axes[0], drawn[OBJECTIVE_PNG].axes[0]
    assert "exact: zero" in [t.get_text() for t in drawn[VARIANCE_PNG].legends[0].get_texts()]
    assert variance.get_yscale() == "log" and objective.get_yscale() == "linear"
    assert objective.get_ylabel() == "-ELBO on test images (nats)"
    same = {line.get_label(): look(line) for line in variance.get_lines()}
    assert same["estimator_3"] != same["twin_of_estimator_3"]  # identical curves, both visible


def test_plot_writes_both_pngs(tmp_path):
    paths = plot(results(), tmp_path)
    assert [path.name for path in paths] == [VARIANCE_PNG, OBJECTIVE_PNG]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in paths)
