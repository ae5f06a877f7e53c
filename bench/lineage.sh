#!/usr/bin/env bash
# Lineage and pipeline bookkeeping (no peers to install):
#   lineage graph queries on 100k datasets / 1M edges, upstream depth 5;
#   a 10-stage pipeline with `weir run` beside the same queries by hand.
# Usage: bench/lineage.sh [DATASETS [RUNS]]   (default 100000, 9)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/tmp}/.cache/weir-target}"
# The same feature set as the other bench scripts (no DataFusion rebuild).
cargo build -q --release -p weir -p weir-bench
BIN="$CARGO_TARGET_DIR/release/weir-bench"
echo "## lineage graph"
"$BIN" lineage "${1:-100000}"
echo
echo "## pipeline bookkeeping ($(nproc) cores)"
"$BIN" pipeline "${2:-9}"
