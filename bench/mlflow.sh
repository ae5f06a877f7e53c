#!/usr/bin/env bash
# MLflow tracking: weir serve beside a real `mlflow server` (3.17.2,
# SQLite backend store, proxied artifacts; its default workers), both on
# loopback, both driven by the same mlflow client (bench/mlflow_tracking.py):
# log_batch of 1,000 metrics, and search_runs over RUNS runs. Each round
# starts both servers afresh; the script prints each round's medians and
# the ratios (mlflow's time / weir's: above 1, weir is faster).
# Usage: bench/mlflow.sh [RUNS [REPEATS [ROUNDS]]]  (default 10000 9 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-10000}"
REPEATS="${2:-9}"
ROUNDS="${3:-3}"
. bench/venv.sh
build_release
MVENV="${HOME:-/tmp}/.cache/weir-mlflow-venv"
stamp="$MVENV/.requirements.sha256"
want="$(sha256sum bench/mlflow-requirements.txt | cut -d' ' -f1)"
if [ ! -x "$MVENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv --clear "$MVENV"
  "$MVENV/bin/pip" install -q --disable-pip-version-check -r bench/mlflow-requirements.txt
  echo "$want" >"$stamp"
fi
W="$CARGO_TARGET_DIR/release/weir"
TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

wait_for() {
  for _ in $(seq 300); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "no server at $1" >&2
  exit 1
}

for round in $(seq "$ROUNDS"); do
  rm -rf "$TMP/lake" "$TMP/mlruns"
  "$W" init --lake "$TMP/lake" >/dev/null
  read -r KEY SECRET < <("$W" auth create-key -o json --lake "$TMP/lake" |
    python3 -c 'import json,sys; k=json.load(sys.stdin); print(k["access_key_id"], k["secret_access_key"])')
  "$W" serve --listen 127.0.0.1:18090 --lake "$TMP/lake" 2>"$TMP/weir.log" & WPID=$!
  PIDS+=("$WPID")
  wait_for http://127.0.0.1:18090/healthz
  WEIR=$(MLFLOW_TRACKING_USERNAME="$KEY" MLFLOW_TRACKING_PASSWORD="$SECRET" \
    "$MVENV/bin/python" bench/mlflow_tracking.py http://127.0.0.1:18090 "$RUNS" "$REPEATS")
  kill "$WPID"; wait "$WPID" 2>/dev/null || true

  mkdir -p "$TMP/mlruns"
  "$MVENV/bin/mlflow" server --host 127.0.0.1 --port 18091 \
    --backend-store-uri "sqlite:///$TMP/mlruns/mlflow.db" \
    --artifacts-destination "$TMP/mlruns/artifacts" >"$TMP/mlflow.log" 2>&1 & MPID=$!
  PIDS+=("$MPID")
  wait_for http://127.0.0.1:18091/health
  PEER=$("$MVENV/bin/python" bench/mlflow_tracking.py http://127.0.0.1:18091 "$RUNS" "$REPEATS")
  pkill -P "$MPID" 2>/dev/null || true
  kill "$MPID"; wait "$MPID" 2>/dev/null || true

  python3 - "$round" "$WEIR" "$PEER" <<'EOF'
import json, sys
r, w, m = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"round {r}")
for k in w:
    ratio = (m[k] / w[k]) if not k.endswith("_per_s") else (w[k] / m[k])
    print(f"  {k:22} weir {w[k]:10.2f}  mlflow {m[k]:10.2f}  ratio {ratio:6.2f}")
EOF
done
