#!/usr/bin/env bash
# Side-by-side parity of weir's kernels with the Python tools: recomputes
# the golden values with Evidently, scipy, statsmodels, PyOD and
# hierarchicalforecast (pinned in bench/requirements.txt) on the shipped
# data, then runs weir-forecast's tests against them. `git diff` afterwards
# shows whether any Python value moved.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WEIR_PYVENV:-${HOME:-/tmp}/.cache/weir-pyvenv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/tmp}/.cache/weir-target}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r bench/requirements.txt
"$VENV/bin/python" bench/parity_goldens.py
cargo test -q -p weir-forecast
