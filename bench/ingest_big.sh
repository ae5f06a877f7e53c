#!/usr/bin/env bash
# Ingest of a CSV larger than the memory the process may use: the seeded
# sales generator writes ROWS rows, then `weir ingest` and two queries run
# inside a memory cgroup capped at LIMIT_MB (cgroup v2 if this machine
# delegates it, else v1; the page cache counts against the cap too, so the
# file cannot sit in memory). Usage: bench/ingest_big.sh [ROWS] [LIMIT_MB]
# (default 80M rows, about 2.1 GB, under 256 MB). Needs root for the cgroup.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-80000000}"
LIMIT_MB="${2:-256}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/tmp}/.cache/weir-target}"
cargo build -q --release -p weir -p weir-bench
BIN="$CARGO_TARGET_DIR/release"
TMP="$(mktemp -d)"

CG=""
if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -q memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  CG="/sys/fs/cgroup/weir-ingest-$$"
  mkdir "$CG"
  echo $((LIMIT_MB * 1024 * 1024)) > "$CG/memory.max"
  echo 0 > "$CG/memory.swap.max" 2>/dev/null || true
  PEAK_FILE="$CG/memory.peak"
elif [ -d /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/weir-ingest-$$" 2>/dev/null; then
  CG="/sys/fs/cgroup/memory/weir-ingest-$$"
  echo $((LIMIT_MB * 1024 * 1024)) > "$CG/memory.limit_in_bytes"
  PEAK_FILE="$CG/memory.max_usage_in_bytes"
else
  echo "no writable memory cgroup on this machine (run as root)" >&2
  exit 1
fi
cleanup() {
  rm -rf "$TMP"
  rmdir "$CG" 2>/dev/null || true
}
trap cleanup EXIT

# Runs a command inside the cgroup; prints its wall time and the cgroup's
# peak (process memory plus the page cache it touched).
capped() {
  local label="$1"
  shift
  if [ -w "$CG/memory.max_usage_in_bytes" ]; then echo 0 > "$CG/memory.max_usage_in_bytes"; fi
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$TMP/time" sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$CG" "$@"
  end=$(date +%s.%N)
  local rss peak
  rss=$(awk '/Maximum resident/ {printf "%.0f", $NF / 1024}' "$TMP/time")
  peak=$(awk '{printf "%.0f", $1 / 1048576}' "$PEAK_FILE")
  printf '%s: %.1f s, process peak RSS %s MB, cgroup peak %s MB (cap %s MB)\n' \
    "$label" "$(echo "$end - $start" | bc)" "$rss" "$peak" "$LIMIT_MB"
}

"$BIN/weir-bench" tables gen "$ROWS" "$TMP/sales.csv"
ROWS=$(($(wc -l < "$TMP/sales.csv") - 1))
SIZE_MB=$(($(stat -c %s "$TMP/sales.csv") / 1048576))
echo "sales.csv: $ROWS rows, $SIZE_MB MB; memory cap $LIMIT_MB MB"
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

"$BIN/weir" init --lake "$TMP/lake" >/dev/null
"$BIN/weir" repo create bench --lake "$TMP/lake" >/dev/null
capped "weir ingest" "$BIN/weir" ingest "$TMP/sales.csv" weir://bench/main/sales --lake "$TMP/lake"
rm "$TMP/sales.csv"
capped "count(*)" "$BIN/weir" sql "SELECT count(*) AS n FROM sales" --lake "$TMP/lake"
capped "sum by store" "$BIN/weir" sql \
  "SELECT store, sum(qty) AS qty FROM sales GROUP BY store ORDER BY qty DESC LIMIT 3" --lake "$TMP/lake"
echo "lake on disk: $(du -sm "$TMP/lake" | cut -f1) MB"
