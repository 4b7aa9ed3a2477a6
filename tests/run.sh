#!/usr/bin/env bash
# Runs every check fidelis has, exactly as CI does: formatting, clippy, the
# unit tests of every crate and the end-to-end tests, against a real
# S3-compatible server (moto) that this script installs and starts on
# 127.0.0.1; then the integration checks (tests/integration.sh): Airflow,
# headless Chromium and the notebooks.
#
#   bash tests/run.sh
#
# Environment: FIDELIS_S3_PORT (default 5555), FIDELIS_VENV (where moto is
# installed, default .venv/moto), CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

# --- the S3 server ---------------------------------------------------------
VENV=${FIDELIS_VENV:-$PWD/.venv/moto}
PORT=${FIDELIS_S3_PORT:-5555}
if [ ! -x "$VENV/bin/moto_server" ]; then
  log "installing moto (S3 server) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements-s3.txt
fi
S3LOG=$(mktemp -t moto.XXXXXX.log)
log "starting the S3 server on 127.0.0.1:$PORT (log: $S3LOG)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$S3LOG" 2>&1 &
S3_PID=$!
# The installs of the integration checks (Airflow, Jupyter, Chromium, the
# peer's Python) download while cargo builds and tests.
INSTALL_LOG=$(mktemp -t fidelis-install.XXXXXX.log)
bash tests/install.sh >"$INSTALL_LOG" 2>&1 &
INSTALL_PID=$!
trap 'kill $S3_PID $INSTALL_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/moto-api/" && break
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/moto-api/" || { cat "$S3LOG"; echo "S3 server did not start" >&2; exit 1; }
curl -sf -o /dev/null -X PUT "http://127.0.0.1:$PORT/fidelis-test"
export FIDELIS_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
# The outage tests start S3 servers of their own (and pause them).
export FIDELIS_TEST_MOTO="$VENV/bin/moto_server"

# --- static checks -------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
# shellcheck source=tests/clippy-env.sh
. tests/clippy-env.sh
if [[ "${RUSTC_WORKSPACE_WRAPPER:-}" == *clippy-driver ]]; then
  log "clippy -D warnings: in the test build below (tests/clippy-env.sh)"
else
  log "cargo clippy -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# --- tests -----------------------------------------------------------------------
log "tests (unit + end to end)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --locked --no-fail-fast
  # nextest does not run doctests: the examples in the docs must work too.
  cargo test --workspace --doc --locked
else
  cargo test --workspace --all-targets --locked --no-fail-fast
fi

# --- the product as its users meet it ------------------------------------------
# Airflow runs the DAG on the sample, the reports open in headless Chromium,
# the notebooks execute (tests/integration.sh says what each checks).
log "integration: Airflow, the report in Chromium, the notebooks"
wait "$INSTALL_PID" || { cat "$INSTALL_LOG" >&2; echo "tests/install.sh failed" >&2; exit 1; }
cargo build --locked
bash tests/integration.sh

# The end-to-end benchmark's smoke run: the same script as the README's
# benchmark table, at 10k customers with the debug build. It fails when
# either pipeline fails or when they compute different features.
log "benchmark smoke run: bench/e2e.sh at 10k customers"
E2E_WORK=$(mktemp -d -t fidelis-e2e.XXXXXX)
WORKDIR=$E2E_WORK FIDELIS_BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/fidelis bash bench/e2e.sh 10000
# e2e.sh records a peer that did not finish rather than stopping (a 10M
# peer may run out of memory); here both must finish.
"${FIDELIS_E2E_VENV:-$PWD/.venv/e2e}/bin/python" - "$E2E_WORK/e2e.json" <<'PY'
import json, sys
for run in json.load(open(sys.argv[1]))["runs"]:
    for name in ("fidelis", "peer"):
        failed = run[name].get("failed")
        assert not failed, f"{name} did not finish at {run['customers']} customers: {failed}"
        assert run[name]["metrics"], f"{name}: no metrics"
print("both pipelines finished")
PY
rm -rf "$E2E_WORK"
