#!/usr/bin/env bash
# A throwaway S3-compatible server (SeaweedFS) and PostgreSQL on loopback,
# for trying a shared lake (data in object storage, metadata in
# PostgreSQL) and for the tests that need one. Idempotent: `up` starts what
# is not already answering and prints the environment to use.
#
#   tests/backends/cluster.sh up      # start, then print `export ...` lines
#   eval "$(tests/backends/cluster.sh env)"
#   weir init --lake ./s3lake --data s3://weir/lake1 \
#     --data-option endpoint=$WEIR_S3_ENDPOINT --data-option allow_http=true \
#     --meta "$WEIR_PG_URL?schema=lake1"
#   tests/backends/cluster.sh down
#   tests/backends/cluster.sh pg-up|pg-down   # PostgreSQL alone
#
# The credentials are for this loopback server only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
STATE="${WEIR_CLUSTER_DIR:-${HOME:-/tmp}/.cache/weir-cluster}"
mkdir -p "$STATE"
# One invocation at a time: tests start the cluster from several threads.
# (The servers started below must not inherit the lock: `9>&-`.)
exec 9>"$STATE/.lock"
flock 9
S3_PORT="${WEIR_S3_PORT:-18333}"
PG_PORT="${WEIR_PG_PORT:-54329}"
# The server runs as the postgres user when this runs as root, so its
# directory must be reachable by that user (root's home is not).
if [ "$(id -u)" = 0 ]; then PG_DIR="${WEIR_PG_DIR:-/var/tmp/weir-cluster-pg}"; else PG_DIR="$STATE/pg"; fi
PG_BIN="${WEIR_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
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
pg_up() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }

# PostgreSQL from Debian's packages (installed when missing), a cluster of
# its own on a private port, trust authentication on loopback only.
pg_start() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    [ "$(id -u)" = 0 ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2; }
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  local d="$PG_DIR" run=()
  if [ "$(id -u)" = 0 ]; then run=(su postgres -s /bin/sh -c); else run=(sh -c); fi
  mkdir -p "$d"
  [ "$(id -u)" = 0 ] && chown postgres: "$d"
  if [ ! -f "$d/data/PG_VERSION" ]; then
    "${run[@]}" "$PG_BIN/initdb -D $d/data -A trust -U weir --no-sync -E UTF8" >"$STATE/pg-init.log" 2>&1 \
      || { tail -3 "$STATE/pg-init.log" >&2; exit 1; }
  fi
  "${run[@]}" "$PG_BIN/pg_ctl -D $d/data -l $d/log -w -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $d -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300' start" >/dev/null 9>&-
  "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U weir -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'weir'" | grep -q 1 \
    || "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U weir -d postgres -c "CREATE DATABASE weir" >/dev/null
}

env_lines() {
  cat <<EOT
export WEIR_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export WEIR_S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$KEY
export AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_REGION=us-east-1
export WEIR_PG_URL=postgres://weir@127.0.0.1:$PG_PORT/weir
EOT
}

case "${1:-up}" in
  up)
    mkdir -p "$STATE/seaweed"
    if ! s3_up; then
      venv
      # weed mini creates credentials for these keys and the bucket.
      # The redirections are the whole subshell's: nothing started here may
      # keep the caller's pipes (a test waits for them to close) or the lock.
      (cd "$STATE/seaweed" && AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET \
        exec nohup "$STATE/venv/bin/weed" mini -dir="$STATE/seaweed" -ip=127.0.0.1 \
        -ip.bind=127.0.0.1 -admin.ui=false -s3.port="$S3_PORT" -bucket="$BUCKET") \
        </dev/null >"$STATE/seaweed.log" 2>&1 9>&- &
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
    pg_up || pg_start
    env_lines
    ;;
  env) env_lines ;;
  # PostgreSQL alone (a private one with WEIR_PG_PORT and WEIR_PG_DIR set).
  pg-up)
    pg_up || pg_start
    echo "export WEIR_PG_URL=postgres://weir@127.0.0.1:$PG_PORT/weir"
    ;;
  pg-down)
    if [ "$(id -u)" = 0 ]; then
      su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast -w stop" >/dev/null || true
    else
      "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
    fi
    ;;
  down)
    pkill -f "weed mini -dir=$STATE/seaweed" || true
    if pg_up; then
      if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast -w stop" >/dev/null || true
      else
        "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
      fi
    fi
    ;;
  *) echo "usage: $0 up|env|down|pg-up|pg-down" >&2; exit 2 ;;
esac
