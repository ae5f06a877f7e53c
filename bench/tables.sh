#!/usr/bin/env bash
# Tables and SQL beside the peers: ingest of a seeded synthetic sales CSV
# (weir ingest vs Python deltalake), then a forecast/audit query suite in
# weir, in plain DataFusion over copies of weir's own Parquet files, and in
# DuckDB over the same files. Usage: bench/tables.sh [ROWS] (default 10M)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
. bench/venv.sh
build_release
BIN="$CARGO_TARGET_DIR/release"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$BIN/weir-bench" tables gen "$ROWS" "$TMP/sales.csv"
ROWS=$(($(wc -l < "$TMP/sales.csv") - 1))
echo "sales.csv: $ROWS rows, $(du -h "$TMP/sales.csv" | cut -f1)"
peak() { grep -E "Maximum resident" "$1" | awk '{printf "%.0f MB", $NF / 1024}'; }

"$BIN/weir" init --lake "$TMP/lake" >/dev/null
"$BIN/weir" repo create bench --lake "$TMP/lake" >/dev/null
start=$(date +%s.%N)
/usr/bin/time -v -o "$TMP/weir.time" "$BIN/weir" ingest "$TMP/sales.csv" weir://bench/main/sales --lake "$TMP/lake" >/dev/null
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "weir ingest: $ROWS rows in $secs s = $(echo "$ROWS / $secs" | bc) rows/s, peak $(peak "$TMP/weir.time")"
/usr/bin/time -v -o "$TMP/py.time" "$VENV/bin/python" bench/tables_peers.py ingest "$TMP/sales.csv" "$TMP/delta"
echo "  (deltalake peak $(peak "$TMP/py.time"))"

# weir's own Parquet files, copied out through the CLI, for the peers.
mkdir -p "$TMP/parquet"
i=0
for path in $("$BIN/weir" -o json fs ls weir://bench/main/sales/ --recursive --lake "$TMP/lake" \
    | "$VENV/bin/python" -c 'import json,sys; [print(r["path"]) for r in json.load(sys.stdin)["results"] if r["path"].endswith(".parquet")]'); do
  "$BIN/weir" fs cat "weir://bench/main/$path" --lake "$TMP/lake" > "$TMP/parquet/part-$i.parquet"
  i=$((i + 1))
done
echo "Parquet files: $i"
echo
/usr/bin/time -v -o "$TMP/q.time" "$BIN/weir-bench" tables query "$TMP/lake" "$TMP/parquet"
echo "(weir-bench query peak $(peak "$TMP/q.time"), both engines in one process)"
echo
/usr/bin/time -v -o "$TMP/dq.time" "$VENV/bin/python" bench/tables_peers.py query "$TMP/parquet"
echo "(DuckDB peak $(peak "$TMP/dq.time"))"
