"""The two plots of ``scgrad compare``: gradient variance over training, objective against wall time."""

from __future__ import annotations

import textwrap
from pathlib import Path

from scgrad.errors import ScgradError

VARIANCE_PNG, OBJECTIVE_PNG = "variance.png", "objective.png"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", "*", ">", "d", "p", "h")


def style(index: int, biased: bool = False) -> dict:
    """The look of the ``index``-th estimator's line: a colour and a hollow marker, no two pairs alike up to
    130 lines, the marker large and small in turn (so that identical curves, often neighbours, both show),
    dashed for an estimator biased by design, else solid."""
    return {"color": COLOURS[index % len(COLOURS)], "linestyle": "--" if biased else "-",
            "marker": MARKERS[index % len(MARKERS)], "markersize": 8 if index % 2 == 0 else 5,
            "fillstyle": "none", "linewidth": 1.4}


def plot(results: dict, out: Path) -> list[Path]:
    """Write ``variance.png`` and ``objective.png`` (:func:`figures`) in ``out``; returns their paths."""
    paths = []
    for name, figure in figures(results).items():
        figure.savefig(out / name, dpi=100)
        paths.append(out / name)
    return paths


def figures(results: dict) -> dict:
    """The two plots of a ``results.json`` dictionary, matplotlib figures by file name.

    Each estimator keeps one look in both plots (see :func:`style`: biased ones dashed); the legend sits right of the axes;
    the title names the problem, the setup and the settings, and the objective's axis the problem's
    ``objective_label`` (on a log scale where its values span more than a factor of 10). Zero variances
    (exact estimators) cannot be shown on the log scale and are listed in the legend instead, as are the
    estimators that were not measured. Needs matplotlib (the ``plot`` extra); drawn with the Agg
    backend, no display needed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ScgradError("scgrad compare draws its plots with matplotlib: .venv/bin/pip install 'scgrad[plot]' "
                          "(bash scripts/setup.sh installs it).") from error
    rows = results["estimators"]
    settings = results["settings"]
    setup = (f"{results['setup']}; {settings['steps']} steps, {settings['samples']} draws per data point, "
             f"seed {settings['seed']}")
    label = results.get("objective_label") or "objective (lower is better)"
    drawn = {}
    for name, title, x_key, x_label, y_key, y_label, always_log in (
        (VARIANCE_PNG, "gradient variance over training", "step", "training step", "variance",
         f"gradient variance (trace of covariance,\n{settings['repeats']} estimates on a fixed batch)", True),
        (OBJECTIVE_PNG, "objective against training time", "seconds", "training wall time (s)", "objective",
         label, False),
    ):
        figure = Figure(figsize=(11, 5.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        values = [p[y_key] for row in rows for p in row["history"] if p[y_key] is not None]
        spread = bool(values) and min(values) > 0 and max(values) > 10 * min(values)
        log = always_log or spread
        for index, row in enumerate(rows):
            points = [(p[x_key], p[y_key]) for p in row["history"]
                      if p[y_key] is not None and (not log or p[y_key] > 0)]
            text = row["estimator"] + (" (biased)" if row["biased"] else "")
            if points:
                axes.plot(*zip(*points), label=text, **style(index, row["biased"]))
            else:
                empty = "not measured (see the report)" if not row["history"] else "zero" if log else "not measured"
                axes.plot([], [], label=f"{text}: {empty}", **style(index, row["biased"]))
        if log:
            axes.set_yscale("log")
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label + (", log scale" if log and not always_log else ""))
        axes.grid(True, which="major", alpha=0.3)
        figure.suptitle(f"scgrad compare: {results['problem']}, {title}", x=0.01, ha="left", fontweight="bold")
        axes.set_title("\n".join(textwrap.wrap(setup, 95)), loc="left", fontsize="small")
        figure.legend(loc="outside right upper", fontsize="small", title="estimator")
        drawn[name] = figure
    return drawn
