# Sourced by the bench scripts: the pinned Python virtualenv of the peers
# (bench/requirements.txt), created on first use, and the shared build dir.
VENV="${WEIR_PYVENV:-${HOME:-/tmp}/.cache/weir-pyvenv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/tmp}/.cache/weir-target}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r bench/requirements.txt
