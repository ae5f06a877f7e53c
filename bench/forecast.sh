#!/usr/bin/env bash
# Forecasting benchmark: weir beside statsforecast on the same synthetic
# panel. Usage: bench/forecast.sh [SERIES [MODEL,...]]   (default 1000, all
# models). Wall and CPU seconds are both printed: on a busy machine the CPU
# ratio is the one that other load does not distort.
# Creates a pinned virtualenv in ~/.cache/weir-pyvenv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
. bench/venv.sh
build_release
BIN="$CARGO_TARGET_DIR/release/weir-bench"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
DATA="$TMP/panel.csv"
"$BIN" forecast gen "$N" "$DATA"
echo "## weir ($(nproc) cores)"
"$BIN" forecast run "$DATA" ${2:+"$2"}
echo
echo "## statsforecast 2.1.1, n_jobs=-1"
"$VENV/bin/python" bench/forecast_statsforecast.py "$DATA" ${2:+"$2"}
