#!/usr/bin/env bash
# What the integration checks and the benchmark smoke run need besides the
# Rust build: Airflow, the notebook runtime (Jupyter, deltalake, DuckDB),
# Chromium and playwright-core, the end-to-end peer's Python stack. Each is
# installed once and again only when its requirements change, so a second
# call is quick. tests/run.sh starts this in the background while cargo
# builds (the downloads overlap the compile; docs/decisions.md, "CI time");
# tests/integration.sh calls it again, which waits for nothing new.
#
#   bash tests/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n==> [install] %s\n' "$*" >&2; }

venv() { # venv DIR PIP-ARGS...: create once, install quietly (again when a requirements file changed)
  local dir=$1; shift
  local want
  want=$(for a in "$@"; do [ -f "$a" ] && cat "$a"; done | sha256sum | cut -c1-64)
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.fidelis-ok" 2>/dev/null)" != "$want" ]; then
    log "$dir"
    python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
    echo "$want" >"$dir/.fidelis-ok"
  fi
}
venv .venv/airflow -c jobs/airflow/constraints.txt -r jobs/airflow/requirements.txt
venv .venv/notebooks -r notebooks/requirements.txt
# bench/e2e.sh's own install makes the same venv (it only checks the marker).
venv "${FIDELIS_E2E_VENV:-.venv/e2e}" -r bench/requirements-e2e.txt
if ! command -v chromium >/dev/null; then
  log "chromium (apt)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
lock=$(sha256sum tests/report/package-lock.json | cut -c1-64)
if [ "$(cat tests/report/node_modules/.fidelis-ok 2>/dev/null)" != "$lock" ]; then
  log "playwright-core (npm ci)"
  (cd tests/report && npm ci --no-audit --no-fund --silent)
  echo "$lock" >tests/report/node_modules/.fidelis-ok
fi
