#!/usr/bin/env bash
# The shared backends beside the embedded ones, on loopback servers that
# tests/backends/cluster.sh starts (SeaweedFS's S3, PostgreSQL):
#   1. weir-bench backends: branch create, commit of 1 and of 100k objects,
#      a 1 MiB point read, on local files + SQLite and on S3 + PostgreSQL;
#   2. the S3 gateway of a lake whose data is in SeaweedFS beside GETs from
#      SeaweedFS itself, for the same objects (4 KiB and 1 MiB), both by
#      presigned URL under wrk; medians of RUNS runs.
# Usage: bench/backends.sh [SECONDS [RUNS [CONNECTIONS]]]  (default 10 3 16)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
RUNS="${2:-3}"
CONN="${3:-16}"
if ! command -v wrk >/dev/null; then
  { apt-get install -y -q wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null; } ||
    { echo "bench/backends.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
fi
. bench/venv.sh
build_release
eval "$(bash tests/backends/cluster.sh up)"
W="$CARGO_TARGET_DIR/release/weir"
B="$CARGO_TARGET_DIR/release/weir-bench"
CLIENTS_PY="$(bash tests/clients/venv.sh)"
TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

echo "## weir-bench backends"
"$B" backends

# The gateway over S3 beside S3 itself.
TAG="gw$$"
L=(--lake "$TMP/lake")
"$W" init "${L[@]}" --data "s3://$WEIR_S3_BUCKET/$TAG" \
  --data-option "endpoint=$WEIR_S3_ENDPOINT" --data-option allow_http=true >/dev/null
"$W" repo create weir://demand "${L[@]}" >/dev/null
read -r KEY SECRET < <("$W" auth create-key -o json "${L[@]}" |
  python3 -c 'import json,sys; k=json.load(sys.stdin); print(k["access_key_id"], k["secret_access_key"])')
"$W" serve --listen 127.0.0.1:18090 "${L[@]}" 2>"$TMP/serve.log" & PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18090/ && break; sleep 0.2; done
head -c 4096 /dev/urandom >"$TMP/small.bin"
head -c $((1 << 20)) /dev/urandom >"$TMP/large.bin"
"$CLIENTS_PY" - "$KEY" "$SECRET" "$TMP" "$TAG" >"$TMP/urls" <<'PY'
import os, sys
import boto3
from botocore.config import Config
key, secret, tmp, tag = sys.argv[1:5]
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4")
weir = boto3.client("s3", endpoint_url="http://127.0.0.1:18090", aws_access_key_id=key,
                    aws_secret_access_key=secret, region_name="us-east-1", config=cfg)
seaweed = boto3.client("s3", endpoint_url=os.environ["WEIR_S3_ENDPOINT"], region_name="us-east-1",
                       config=cfg)
bucket = os.environ["WEIR_S3_BUCKET"]
for name in ["small", "large"]:
    body = open(f"{tmp}/{name}.bin", "rb").read()
    weir.put_object(Bucket="demand", Key=f"main/{name}.bin", Body=body)
    seaweed.put_object(Bucket=bucket, Key=f"{tag}-direct/{name}.bin", Body=body)
    for who, c, b, k in [("weir", weir, "demand", f"main/{name}.bin"),
                         ("s3", seaweed, bucket, f"{tag}-direct/{name}.bin")]:
        url = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": k}, ExpiresIn=3600)
        print(f"{who}_{name} {url}")
PY
while read -r name url; do
  curl -sf "$url" | cmp - "$TMP/${name#*_}.bin"
done <"$TMP/urls"
: >"$TMP/results"
for run in $(seq "$RUNS"); do
  while read -r name url; do
    wrk -t2 -c"$CONN" -d"${DUR}s" "$url" >"$TMP/wrk.out"
    python3 - "$name" "$TMP/wrk.out" >>"$TMP/results" <<'PY'
import re, sys
t, text = sys.argv[1], open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(t, rps, int(errs.group(1)) if errs else 0)
PY
  done <"$TMP/urls"
done
python3 - "$TMP/results" "$DUR" "$RUNS" "$CONN" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
dur, runs, conn = sys.argv[2:5]
med = lambda t: statistics.median(float(r[1]) for r in rows if r[0] == t)
errs = lambda t: sum(int(r[2]) for r in rows if r[0] == t)
print(f"\n## S3 gateway over SeaweedFS beside SeaweedFS (wrk -t2 -c{conn} -d{dur}s, median of {runs})\n")
print("| object | weir gateway req/s | SeaweedFS req/s | weir / SeaweedFS | non-2xx |")
print("|---|---|---|---|---|")
for name, label in [("small", "4 KiB"), ("large", "1 MiB")]:
    w, s = med(f"weir_{name}"), med(f"s3_{name}")
    print(f"| {label} | {w:,.0f} | {s:,.0f} | {w / s:.2f}× | {errs(f'weir_{name}') + errs(f's3_{name}')} |")
PY
