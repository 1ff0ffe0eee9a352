"""The two plots of ``scgrad compare``: gradient variance over training, objective against wall time."""

from __future__ import annotations

from pathlib import Path

from scgrad.errors import ScgradError

VARIANCE_PNG, OBJECTIVE_PNG = "variance.png", "objective.png"


def plot(rows: list[dict], out: Path) -> list[Path]:
    """Write ``variance.png`` and ``objective.png`` in ``out`` from the rows' histories; returns their paths.

    Needs matplotlib (the ``plot`` extra); drawn with the Agg backend, no display needed. Zero
    variances (exact estimators) cannot be shown on the log scale and are listed in the legend instead.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ScgradError("scgrad compare draws its plots with matplotlib: .venv/bin/pip install 'scgrad[plot]' "
                          "(bash scripts/setup.sh installs it).") from error
    measured = [row for row in rows if row["history"]]
    paths = []
    for name, x_key, x_label, y_key, y_label, log in (
        (VARIANCE_PNG, "step", "training step", "variance", "gradient variance (trace of covariance)", True),
        (OBJECTIVE_PNG, "seconds", "training wall time (s)", "objective", "objective (lower is better)", False),
    ):
        figure = Figure(figsize=(7, 4.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for row in measured:
            points = [(p[x_key], p[y_key]) for p in row["history"]
                      if p[y_key] is not None and (not log or p[y_key] > 0)]
            label = row["estimator"] + (" (biased)" if row["biased"] else "")
            if points:
                axes.plot(*zip(*points), marker="o", markersize=3, label=label)
            else:
                axes.plot([], [], label=f"{label}: zero")
        if log:
            axes.set_yscale("log")
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.legend(fontsize="small")
        path = out / name
        figure.savefig(path, dpi=100)
        paths.append(path)
    return paths
