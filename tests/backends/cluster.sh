#!/usr/bin/env bash
# A throwaway S3-compatible server (SeaweedFS) on loopback, for trying a
# lake in object storage and for the tests that need one. Idempotent: `up`
# starts what is not already answering and prints the environment to use.
#
#   tests/backends/cluster.sh up      # start, then print `export ...` lines
#   eval "$(tests/backends/cluster.sh env)"
#   weir init --lake ./s3lake --data s3://weir/lake1 \
#     --data-option endpoint=$WEIR_S3_ENDPOINT --data-option allow_http=true
#   tests/backends/cluster.sh down
#
# The credentials are for this loopback server only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
STATE="${WEIR_CLUSTER_DIR:-${HOME:-/tmp}/.cache/weir-cluster}"
S3_PORT="${WEIR_S3_PORT:-18333}"
KEY=weir-test
SECRET=weir-test-secret
BUCKET=weir

venv() {
  local v="$STATE/venv" want
  want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
  if [ ! -x "$v/bin/weed" ] || [ "$(cat "$v/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    python3 -m venv "$v" >&2
    "$v/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
    echo "$want" >"$v/.requirements.sha256"
  fi
}

s3_up() { curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" 2>/dev/null; }

env_lines() {
  cat <<EOT
export WEIR_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export WEIR_S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$KEY
export AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_REGION=us-east-1
EOT
}

case "${1:-up}" in
  up)
    mkdir -p "$STATE/seaweed"
    if ! s3_up; then
      venv
      # weed mini creates credentials for these keys and the bucket.
      (cd "$STATE/seaweed" && AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET \
        nohup "$STATE/venv/bin/weed" mini -dir="$STATE/seaweed" -ip=127.0.0.1 \
        -ip.bind=127.0.0.1 -admin.ui=false -s3.port="$S3_PORT" -bucket="$BUCKET" \
        >"$STATE/seaweed.log" 2>&1 &)
      for _ in $(seq 1 150); do
        s3_up && break
        sleep 0.2
      done
      s3_up || { echo "SeaweedFS did not start; see $STATE/seaweed.log" >&2; exit 1; }
      # The bucket is made once the filer is up; wait for it.
      for _ in $(seq 1 100); do
        curl -s "http://127.0.0.1:$S3_PORT/$BUCKET" -o /dev/null -w '%{http_code}' 2>/dev/null \
          | grep -qv '^000$' && break
        sleep 0.2
      done
    fi
    env_lines
    ;;
  env) env_lines ;;
  down)
    pkill -f "weed mini -dir=$STATE/seaweed" || true
    ;;
  *) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
