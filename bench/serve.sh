#!/usr/bin/env bash
# weir serve under wrk on loopback, each endpoint beside its baseline:
#   - S3 GetObject of a 4 KiB object (SigV4 presigned) vs the same bytes
#     from a plain axum file handler (weir-bench files);
#   - a lakeFS object stat (basic auth);
#   - POST /recommend_qty vs the same endpoint in FastAPI + uvicorn
#     (bench/recommend_fastapi.py), on the quickstart's reconciled forecast;
#   - the machine's ceiling: a bare axum handler answering fixed JSON.
# Every server may use every core; wrk shares them. Medians of RUNS runs.
# Usage: bench/serve.sh [SECONDS [RUNS [CONNECTIONS]]]  (default 15 3 64)
#        bench/serve.sh soak [SECONDS]  (default 60): weir's three endpoints
#        under load at once for SECONDS, its memory sampled every 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK=""
if [ "${1:-}" = soak ]; then SOAK="${2:-60}"; shift $#; fi
DUR="${1:-15}"
RUNS="${2:-3}"
CONN="${3:-64}"
if ! command -v wrk >/dev/null; then
  # The load generator comes from Debian's packages.
  { apt-get install -y -q wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null; } ||
    { echo "bench/serve.sh needs wrk and could not install it (apt-get install wrk)" >&2; exit 1; }
fi
. bench/venv.sh
build_release
CLIENTS_PY="$(bash tests/clients/venv.sh)"
W="$CARGO_TARGET_DIR/release/weir"
B="$CARGO_TARGET_DIR/release/weir-bench"
TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
L=(--lake "$TMP/lake")

"$W" quickstart "${L[@]}" >/dev/null
"$W" sql "SELECT unique_id, CAST(ds AS VARCHAR) AS ds, mean, lo, hi FROM reconciled" \
  --format csv --out "$TMP/reconciled.csv" "${L[@]}" >/dev/null
read -r KEY SECRET < <("$W" auth create-key -o json "${L[@]}" |
  python3 -c 'import json,sys; k=json.load(sys.stdin); print(k["access_key_id"], k["secret_access_key"])')
AUTH="Basic $(printf '%s:%s' "$KEY" "$SECRET" | base64 -w0)"

"$W" serve --listen 127.0.0.1:18080 "${L[@]}" 2>"$TMP/serve.log" & PIDS+=($!)
mkdir -p "$TMP/files/demand/main/bench"
head -c 4096 /dev/urandom >"$TMP/files/demand/main/bench/obj.bin"
"$B" files "$TMP/files" 127.0.0.1:18081 & PIDS+=($!)
(cd bench && "$VENV/bin/python" recommend_fastapi.py "$TMP/reconciled.csv" "$KEY" "$SECRET" 18082 "$(nproc)") & PIDS+=($!)
for port in 18080 18081 18082; do
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
done
curl -sf -u "$KEY:$SECRET" -X POST --data-binary @"$TMP/files/demand/main/bench/obj.bin" \
  "http://127.0.0.1:18080/api/v1/repositories/demand/branches/main/objects?path=bench/obj.bin" >/dev/null
URL=$("$CLIENTS_PY" -c '
import sys, boto3
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:18080", aws_access_key_id=sys.argv[1],
                  aws_secret_access_key=sys.argv[2], region_name="us-east-1")
print(s3.generate_presigned_url("get_object", Params={"Bucket": "demand", "Key": "main/bench/obj.bin"},
                                ExpiresIn=3600))' "$KEY" "$SECRET")
curl -sf "$URL" | cmp - "$TMP/files/demand/main/bench/obj.bin"

BODY='{"repo":"demand","series":"Construction","under_cost":3,"over_cost":1}'
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$AUTH"
LUA
cat >"$TMP/get.lua" <<LUA
wrk.headers["Authorization"] = "$AUTH"
LUA
# Both answers must agree before their speed means anything.
W_Q=$(curl -sf -u "$KEY:$SECRET" -H 'Content-Type: application/json' -d "$BODY" http://127.0.0.1:18080/recommend_qty |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["quantity"], 6))')
F_Q=$(curl -sf -u "$KEY:$SECRET" -H 'Content-Type: application/json' -d "$BODY" http://127.0.0.1:18082/recommend_qty |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["quantity"], 6))')
[ "$W_Q" = "$F_Q" ] || { echo "quantities differ: weir $W_Q, FastAPI $F_Q" >&2; exit 1; }

declare -A TARGETS=(
  [s3_get_weir]="$URL"
  [s3_get_files]="http://127.0.0.1:18081/demand/main/bench/obj.bin"
  [stat_weir]="-s $TMP/get.lua http://127.0.0.1:18080/api/v1/repositories/demand/refs/main/objects/stat?path=bench/obj.bin"
  [recommend_weir]="-s $TMP/post.lua http://127.0.0.1:18080/recommend_qty"
  [recommend_fastapi]="-s $TMP/post.lua http://127.0.0.1:18082/recommend_qty"
  [ceiling_axum]="-s $TMP/post.lua http://127.0.0.1:18081/ceiling"
)
if [ -n "$SOAK" ]; then
  # Three loads at once on one weir serve; errors counted, memory sampled.
  LOADS=()
  for t in s3_get_weir stat_weir recommend_weir; do
    # shellcheck disable=SC2086
    wrk -t1 -c21 -d"${SOAK}s" ${TARGETS[$t]} >"$TMP/$t.soak" & LOADS+=($!)
  done
  : >"$TMP/rss"
  for _ in $(seq $((SOAK / 5))); do
    sleep 5
    ps -o rss= -p "${PIDS[0]}" >>"$TMP/rss"
  done
  wait "${LOADS[@]}"
  python3 - "$TMP" "$SOAK" <<'PY'
import re, sys
d, secs = sys.argv[1], sys.argv[2]
print(f"three wrk -t1 -c21 -d{secs}s at once on one weir serve, loopback\n")
print("| endpoint | req/s | requests | non-2xx | socket errors |")
print("|---|---|---|---|---|")
for t in ["s3_get_weir", "stat_weir", "recommend_weir"]:
    text = open(f"{d}/{t}.soak").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    n = int(re.search(r"(\d+) requests in", text).group(1))
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    print(f"| {t} | {rps:,.0f} | {n:,} | {int(errs.group(1)) if errs else 0} | {sock.group(1) if sock else 'none'} |")
rss = [int(x) // 1024 for x in open(f"{d}/rss").read().split()]
print(f"\n- weir serve resident memory every 5 s (MB): {' '.join(map(str, rss))}")
PY
  exit 0
fi
ORDER=(s3_get_weir s3_get_files stat_weir recommend_weir recommend_fastapi ceiling_axum)
: >"$TMP/results"
for run in $(seq "$RUNS"); do
  for t in "${ORDER[@]}"; do
    # shellcheck disable=SC2086
    wrk -t2 -c"$CONN" -d"${DUR}s" --latency ${TARGETS[$t]} >"$TMP/wrk.out"
    python3 - "$t" "$TMP/wrk.out" >>"$TMP/results" <<'PY'
import re, sys
t, text = sys.argv[1], open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: .*", text)
print(t, rps, p99, int(errs.group(1)) if errs else 0, "1" if sock else "0")
PY
  done
done
RSS=$(ps -o rss= -p "${PIDS[0]}")
python3 - "$TMP/results" "$DUR" "$RUNS" "$CONN" "$RSS" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    t, rps, p99, errs, sock = line.split()
    rows[t].append((float(rps), float(p99), int(errs), sock == "1"))
med = {t: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
           sum(r[2] for r in v), any(r[3] for r in v)) for t, v in rows.items()}
print(f"wrk -t2 -c{sys.argv[4]} -d{sys.argv[2]}s, median of {sys.argv[3]} runs each, loopback\n")
print("| endpoint | req/s | p99 ms | non-2xx | socket errors |")
print("|---|---|---|---|---|")
for t, (rps, p99, errs, sock) in med.items():
    print(f"| {t} | {rps:,.0f} | {p99:.2f} | {errs} | {'yes' if sock else 'no'} |")
print()
print(f"- S3 GetObject 4 KiB, weir / plain file handler: {med['s3_get_weir'][0] / med['s3_get_files'][0]:.2f}x throughput")
print(f"- /recommend_qty, weir / FastAPI: {med['recommend_weir'][0] / med['recommend_fastapi'][0]:.1f}x throughput, "
      f"p99 {med['recommend_weir'][1]:.2f} ms vs {med['recommend_fastapi'][1]:.2f} ms")
print(f"- the machine's ceiling (an axum handler answering fixed JSON): {med['ceiling_axum'][0]:,.0f} req/s "
      f"= {med['ceiling_axum'][0] / med['recommend_fastapi'][0]:.1f}x FastAPI")
print(f"- weir serve resident memory after the runs: {int(sys.argv[5]) // 1024} MB")
PY
