# Sourced by the bench scripts: the pinned Python virtualenv of the peers
# (bench/requirements.txt), created on first use, and the shared build dir.
VENV="${WEIR_PYVENV:-${HOME:-/tmp}/.cache/weir-pyvenv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/tmp}/.cache/weir-target}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r bench/requirements.txt
# One feature set for every release build: building weir-bench alone would
# resolve shared dependencies' features differently and rebuild DataFusion.
build_release() {
  cargo build -q --release -p weir -p weir-bench
}
