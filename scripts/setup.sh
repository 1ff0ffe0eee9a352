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
