#!/usr/bin/env bash
# M1 yearly accuracy, weir beside statsforecast (single thread each):
# MASE and sMAPE per model on the last 6 years of 181 real series.
# Usage: bench/m1.sh   (creates the pinned virtualenv on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
build_release
echo "## weir"
"$CARGO_TARGET_DIR/release/weir-bench" forecast m1 data/m1_yearly_dataset.tsf
echo
echo "## statsforecast 2.1.1"
"$VENV/bin/python" bench/m1_statsforecast.py data/m1_yearly_dataset.tsf
