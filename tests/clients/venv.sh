#!/usr/bin/env bash
# Creates (once) the pinned virtualenv of the real clients weir serve is
# tested with, and prints its python. Used by the tests of crates/weir and
# crates/weir-server, from several test threads at once: one at a time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${WEIR_CLIENTS_VENV:-${HOME:-/tmp}/.cache/weir-clients-venv}"
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" >"$stamp"
fi
echo "$VENV/bin/python"
