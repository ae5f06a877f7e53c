#!/usr/bin/env bash
# Creates (once) the pinned virtualenv of the real clients weir serve is
# tested with, and prints its python. Used by the tests of crates/weir and
# crates/weir-server, from several test threads at once: one at a time.
# `venv.sh focus` makes the FOCUS validator's own (focus-requirements.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "${1:-}" = focus ]; then
  REQ="$here/focus-requirements.txt"
  VENV="${HOME:-/tmp}/.cache/weir-focus-venv"
else
  REQ="$here/requirements.txt"
  VENV="${WEIR_CLIENTS_VENV:-${HOME:-/tmp}/.cache/weir-clients-venv}"
fi
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # Anew: packages of an earlier pin set must not linger.
  python3 -m venv --clear "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >&2
  echo "$want" >"$stamp"
fi
echo "$VENV/bin/python"
