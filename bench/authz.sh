#!/usr/bin/env bash
# What authorization costs a request: weir serve at BASE (a commit before
# tenants existed) beside this checkout's, on the same quickstart lake, one
# after the other in every run, under wrk on loopback:
#   - S3 GetObject of a 4 KiB object (SigV4 presigned);
#   - POST /recommend_qty on the quickstart's forecast;
# this checkout's as the tenant's admin ("tenants") and as a user with
# twenty more policies attached, each of five statements ("policies"),
# both with usage metering off (--no-usage); and as the tenant's admin
# with metering on, as weir serve runs by default ("metered").
# Medians of RUNS runs. BASE is built in a temporary worktree.
# Usage: bench/authz.sh [BASE [SECONDS [RUNS [CONNECTIONS]]]]  (default ce6e100 10 3 32)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${1:-ce6e100}"
DUR="${2:-10}"
RUNS="${3:-3}"
CONN="${4:-32}"
if ! command -v wrk >/dev/null; then
  { apt-get install -y -q wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null; } ||
    { echo "bench/authz.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
fi
. bench/venv.sh
CLIENTS_PY="$(bash tests/clients/venv.sh)"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  git worktree remove --force "$TMP/base" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# The base first, copied out; then this checkout (only weir's own crates
# rebuild: the dependencies are the same). Cargo names a workspace's
# crates by their path inside it, so the two builds share artifacts:
# touching this checkout's sources makes the second rebuild them.
git worktree add -q --detach "$TMP/base" "$BASE"
(cd "$TMP/base" && cargo build -q --release -p weir -p weir-bench)
cp "$CARGO_TARGET_DIR/release/weir" "$TMP/weir-base"
find crates -name '*.rs' -exec touch {} +
build_release
W="$CARGO_TARGET_DIR/release/weir"
L=(--lake "$TMP/lake")

"$W" quickstart "${L[@]}" >/dev/null
key() { "$W" auth create-key --user "$1" -o json "${L[@]}" |
  python3 -c 'import json,sys; k=json.load(sys.stdin); print(k["access_key_id"], k["secret_access_key"])'; }
read -r KEY SECRET < <(key alice)
read -r KEY2 SECRET2 < <(key bob)
"$W" auth user add-group bob Admins "${L[@]}" >/dev/null
for i in $(seq 20); do
  python3 - "$TMP/p$i.json" "$i" <<'PY'
import json, sys
i = sys.argv[2]
st = [{"effect": "allow", "action": [f"fs:ReadObject", "sql:Query"], "resource": f"weir:repository/other{i}-{j}/*"} for j in range(4)]
st.append({"effect": "deny", "action": ["fs:WriteObject"], "resource": f"weir:repository/demand/branch/frozen{i}"})
json.dump({"statement": st}, open(sys.argv[1], "w"))
PY
  "$W" auth policy create "P$i" --file "$TMP/p$i.json" "${L[@]}" >/dev/null
  "$W" auth policy attach "P$i" --user bob "${L[@]}" >/dev/null
done

"$TMP/weir-base" serve --listen 127.0.0.1:18090 "${L[@]}" 2>"$TMP/base.log" & PIDS+=($!)
"$W" serve --listen 127.0.0.1:18091 --no-usage "${L[@]}" 2>"$TMP/tenants.log" & PIDS+=($!)
"$W" serve --listen 127.0.0.1:18092 "${L[@]}" 2>"$TMP/metered.log" & PIDS+=($!)
for port in 18090 18091 18092; do
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.2
  done
done
head -c 4096 /dev/urandom >"$TMP/obj.bin"
curl -sf -u "$KEY:$SECRET" -X POST --data-binary @"$TMP/obj.bin" \
  "http://127.0.0.1:18091/api/v1/repositories/demand/branches/main/objects?path=bench/obj.bin" >/dev/null
presign() {
  "$CLIENTS_PY" -c '
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                  aws_secret_access_key=sys.argv[3], region_name="us-east-1")
print(s3.generate_presigned_url("get_object", Params={"Bucket": "demand", "Key": "main/bench/obj.bin"},
                                ExpiresIn=3600))' "$@"
}
U_BASE=$(presign http://127.0.0.1:18090 "$KEY" "$SECRET")
U_TEN=$(presign http://127.0.0.1:18091 "$KEY" "$SECRET")
U_POL=$(presign http://127.0.0.1:18091 "$KEY2" "$SECRET2")
U_MET=$(presign http://127.0.0.1:18092 "$KEY" "$SECRET")
for u in "$U_BASE" "$U_TEN" "$U_POL" "$U_MET"; do curl -sf "$u" | cmp - "$TMP/obj.bin"; done

BODY='{"repo":"demand","series":"Construction","under_cost":3,"over_cost":1}'
post() {
  cat >"$TMP/$1.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $(printf '%s:%s' "$2" "$3" | base64 -w0)"
LUA
}
post alice "$KEY" "$SECRET"
post bob "$KEY2" "$SECRET2"
for port in 18090 18091 18092; do
  curl -sf -u "$KEY:$SECRET" -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$port/recommend_qty" >/dev/null
done
curl -sf -u "$KEY2:$SECRET2" -H 'Content-Type: application/json' -d "$BODY" http://127.0.0.1:18091/recommend_qty >/dev/null

declare -A TARGETS=(
  [s3_get_base]="$U_BASE"
  [s3_get_tenants]="$U_TEN"
  [s3_get_policies]="$U_POL"
  [s3_get_metered]="$U_MET"
  [recommend_base]="-s $TMP/alice.lua http://127.0.0.1:18090/recommend_qty"
  [recommend_tenants]="-s $TMP/alice.lua http://127.0.0.1:18091/recommend_qty"
  [recommend_policies]="-s $TMP/bob.lua http://127.0.0.1:18091/recommend_qty"
  [recommend_metered]="-s $TMP/alice.lua http://127.0.0.1:18092/recommend_qty"
)
: >"$TMP/results"
for run in $(seq "$RUNS"); do
  for t in s3_get_base s3_get_tenants s3_get_policies s3_get_metered \
           recommend_base recommend_tenants recommend_policies recommend_metered; do
    # shellcheck disable=SC2086
    wrk -t2 -c"$CONN" -d"${DUR}s" ${TARGETS[$t]} >"$TMP/wrk.out"
    python3 - "$t" "$TMP/wrk.out" >>"$TMP/results" <<'PY'
import re, sys
t, text = sys.argv[1], open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(t, rps, int(errs.group(1)) if errs else 0)
PY
  done
done
python3 - "$TMP/results" "$DUR" "$RUNS" "$CONN" "$BASE" <<'PY'
import statistics, sys
path, dur, runs, conn, base = sys.argv[1:]
rows = {}
for line in open(path):
    t, rps, errs = line.split()
    rows.setdefault(t, []).append((float(rps), int(errs)))
print(f"wrk -t2 -c{conn} -d{dur}s, median of {runs} runs; base = weir serve at {base}\n")
print("| endpoint | base req/s | tenants req/s | ratio | 20 policies req/s | ratio | metered req/s | metered / tenants | non-2xx |")
print("|---|---|---|---|---|---|---|---|---|")
kinds = ["base", "tenants", "policies", "metered"]
for ep in ["s3_get", "recommend"]:
    med = {k: statistics.median(r for r, _ in rows[f"{ep}_{k}"]) for k in kinds}
    errs = sum(e for k in kinds for _, e in rows[f"{ep}_{k}"])
    print(f"| {ep} | {med['base']:,.0f} | {med['tenants']:,.0f} | {med['tenants']/med['base']:.3f} "
          f"| {med['policies']:,.0f} | {med['policies']/med['base']:.3f} "
          f"| {med['metered']:,.0f} | {med['metered']/med['tenants']:.3f} | {errs} |")
PY
