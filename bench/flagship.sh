#!/usr/bin/env bash
# The flagship pipeline (sql/forecasting, 14 stages) on generated daily
# demand, timed stage by stage, beside the same stages done with pandas,
# statsforecast, hierarchicalforecast, statsmodels and scipy
# (bench/flagship_python.py) on the same file, both on all cores.
# Usage: bench/flagship.sh [SERIES [DAYS]]   (default 200 series, 1095 days)
# WEIR_ONLY=1 skips the Python side (it needs about 1.6 s of this machine
# per series: hours at 10,000).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"
DAYS="${2:-1095}"
. bench/venv.sh
build_release
W="$CARGO_TARGET_DIR/release/weir"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
L=(--lake "$TMP/lake")
"$W" generate demand "$TMP/demand.parquet" --series "$N" --days "$DAYS" --seed 7 >/dev/null
"$W" init "${L[@]}" >/dev/null
"$W" repo create weir://demand "${L[@]}" >/dev/null
"$W" ingest "$TMP/demand.parquet" weir://demand/main/demand "${L[@]}" >/dev/null

echo "## weir ($(nproc) cores), $N generated series x $DAYS days"
/usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
  "$W" run sql/forecasting/weir.toml weir://demand/main "${L[@]}" >/dev/null
read -r wall user sys rss <"$TMP/time"
run=$("$W" runs -o json "${L[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
"$W" runs "$run" -o json "${L[@]}" | python3 -c '
import json, sys
print("| stage | weir s |")
print("|---|---|")
for s in json.load(sys.stdin):
    if s["stage"]:
        print("| %s | %.2f |" % (s["stage"], s["duration_ms"] / 1000))'
echo "| **all** (the whole \`weir run\`: plan, stages, commits, merge, records) | $wall (CPU $(python3 -c "print(round($user + $sys, 2))")) |"
echo
echo "peak memory: $((rss / 1024)) MB"
"$W" sql "SELECT unique_id, config FROM model_choice" --format csv "${L[@]}" >"$TMP/weir_choice.csv"

[ "${WEIR_ONLY:-0}" = 1 ] && exit 0
echo
echo "## Python: pandas + statsforecast + hierarchicalforecast + statsmodels + scipy, n_jobs=-1"
"$VENV/bin/python" bench/flagship_python.py "$TMP/demand.parquet" "$TMP/py_choice.csv"
echo
"$VENV/bin/python" - "$TMP/weir_choice.csv" "$TMP/py_choice.csv" <<'PY'
import sys
import pandas as pd
w, p = (pd.read_csv(f).set_index("unique_id")["config"] for f in sys.argv[1:])
same = (w == p.reindex(w.index)).mean()
print(f"same configuration chosen for {same:.1%} of {len(w)} series")
PY
