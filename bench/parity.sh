#!/usr/bin/env bash
# Side-by-side parity of weir's kernels with the Python tools: recomputes
# the golden values with Evidently, scipy, statsmodels, PyOD and
# hierarchicalforecast (pinned in bench/requirements.txt) on the shipped
# data, then runs weir-forecast's tests against them. `git diff` afterwards
# shows whether any Python value moved.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
"$VENV/bin/python" bench/parity_goldens.py
cargo test -q -p weir-forecast
