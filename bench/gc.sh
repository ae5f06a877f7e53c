#!/usr/bin/env bash
# weir gc plan and run over a local lake of OBJECTS real small objects, 10 %
# of them named by nothing: wall time and peak resident memory of each
# (GNU time), at OBJECTS and at a tenth of it to show memory stays flat.
# Usage: bench/gc.sh [OBJECTS]  (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
. bench/venv.sh
build_release
W="$CARGO_TARGET_DIR/release/weir"
B="$CARGO_TARGET_DIR/release/weir-bench"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "| objects | garbage | gc plan: s / peak MB | gc run: s / peak MB | deleted |"
echo "|---|---|---|---|---|"
for n in $((N / 10)) "$N"; do
  g=$((n / 10))
  "$B" gc-build "$TMP/lake$n" "$n" "$g" 2>/dev/null
  /usr/bin/time -f "%e %M" -o "$TMP/plan.t" "$W" --lake "$TMP/lake$n" gc plan weir://bench \
    --grace-hours 0 -o json >"$TMP/plan.json"
  /usr/bin/time -f "%e %M" -o "$TMP/run.t" "$W" --lake "$TMP/lake$n" gc run weir://bench \
    --grace-hours 0 -o json >"$TMP/run.json"
  python3 - "$n" "$g" "$TMP" <<'PY'
import json, sys
n, g, d = sys.argv[1], sys.argv[2], sys.argv[3]
p = open(f"{d}/plan.t").read().split()
r = open(f"{d}/run.t").read().split()
deleted = json.load(open(f"{d}/run.json"))["deleted_objects"]
print(f"| {int(n):,} | {int(g):,} | {float(p[0]):.1f} / {int(p[1]) // 1024} | {float(r[0]):.1f} / {int(r[1]) // 1024} | {deleted:,} |")
PY
  rm -rf "$TMP/lake$n"
done
