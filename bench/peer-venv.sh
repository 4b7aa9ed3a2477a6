# Sourced by the benchmarks that run the Python peers (bench/e2e.sh,
# bench/real-data.sh): the pinned peer environment (bench/requirements-e2e.txt)
# in FIDELIS_E2E_VENV (default .venv/e2e), created once; sets PY.
VENV=${FIDELIS_E2E_VENV:-$ROOT/.venv/e2e}
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.fidelis-ok" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/bench/requirements-e2e.txt"
  touch "$VENV/.fidelis-ok"
fi
PY=$VENV/bin/python
