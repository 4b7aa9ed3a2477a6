#!/usr/bin/env bash
# The product as its users meet it, with the real tools (part of
# tests/run.sh, after the cargo tests):
#   1. Airflow 3.3.2 (pinned by jobs/airflow/constraints.txt) loads the DAG
#      folder without import errors and runs `fidelis_nightly_bash` with
#      `airflow dags test` on the committed sample for two consecutive
#      days; the published outputs are checked with `fidelis sql` and read
#      by an independent reader, the `deltalake` Python package;
#   2. the second day's report (which has a previous run to compare with)
#      and the first one open in headless Chromium with no console error,
#      no request and every documented chart drawn; screenshots go to
#      ci-artifacts/;
#   3. a run killed (SIGKILL) after its table commits, before its runs row,
#      is seen by neither `fidelis sql` nor the deltalake reader nor the
#      analyst notebooks, which run top to bottom against those outputs;
#   4. a DAG run on a corrupt input fails at validate without retrying and
#      publishes nothing.
#
#   bash tests/integration.sh        (needs the debug binary: cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '\n==> [integration] %s\n' "$*" >&2; }
fail() { echo "integration: FAILED: $*" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/debug/fidelis
[ -x "$BIN" ] || cargo build --locked
ARTIFACTS=$ROOT/ci-artifacts
mkdir -p "$ARTIFACTS"
W=$(mktemp -d -t fidelis-integration.XXXXXX)
echo "work dir: $W" >&2

# --- installs (tests/run.sh started them while cargo built) -------------------
log "Airflow, the notebook runtime, Chromium, playwright-core (tests/install.sh)"
bash tests/install.sh

# --- the job config: the committed sample, outputs in the work dir ---------------
sed -e "s#\.\./sample-data#$ROOT/sample-data#g" \
    -e "s#^url = \"\.\./out/local\"#url = \"$W/out\"#" jobs/local.toml >"$W/job.toml"
grep -q "url = \"$W/out\"" "$W/job.toml" || fail "could not point the job's output at $W/out"
mkdir -p "$W/bad/purchases"
cp -r sample-data/retail/interactions sample-data/retail/customers "$W/bad/"
printf 'order_id,customer_id\n1,2\n' >"$W/bad/purchases/part-00000.parquet" # not Parquet
sed -e "s#$ROOT/sample-data/retail#$W/bad#g" "$W/job.toml" >"$W/bad.toml"

# --- Airflow -------------------------------------------------------------------------
export AIRFLOW_HOME=$W/airflow AIRFLOW__CORE__DAGS_FOLDER=$ROOT/jobs/airflow \
  AIRFLOW__CORE__LOAD_EXAMPLES=False FIDELIS_BIN=$BIN FIDELIS_CONFIG=$W/job.toml
mkdir -p "$AIRFLOW_HOME"
AF=.venv/airflow/bin
log "airflow db migrate"
$AF/airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log"; fail "airflow db migrate"; }
log "DAG folder imports (Airflow only logs import errors, so check them here)"
$AF/python tests/airflow/check_runs.py imports
log "the pod DAG against the production config (memory, spill volume, lease)"
$AF/python tests/airflow/check_runs.py resources jobs/s3-production.toml
for logical in 2026-11-22 2026-11-23; do
  log "airflow dags test fidelis_nightly_bash $logical (run date = the day before)"
  $AF/airflow dags test fidelis_nightly_bash "$logical" >"$W/dags-$logical.log" 2>&1 \
    || { grep -E "ERROR|error:|exit code" "$W/dags-$logical.log" | tail -30; fail "dags test $logical"; }
  $AF/python tests/airflow/check_runs.py success "$logical"
done
cp "$W"/dags-*.log "$ARTIFACTS/" 2>/dev/null || true

log "a clear of the finished DAG run of 2026-11-23 republishes its date under a new publish id"
# The current runs row of 2026-11-22 (its record), as fidelis sql reads it.
record() { "$BIN" sql --config "$W/job.toml" --format json "select record from runs where run_date = '2026-11-22'" 2>/dev/null; }
field() { record | python3 -c "import json,sys; m=json.loads(json.loads(sys.stdin.readline())['record']); print(eval(sys.argv[1]))" "$1"; }
before_publish=$(field 'm["publish_id"]'); before_run=$(field 'm["staged"]["run_id"]')
airflow_run=$($AF/python tests/airflow/check_runs.py run-id 2026-11-23)
case "$before_run" in
  fidelis_nightly_bash.*) ;;
  *) fail "the DAG's run id is not the DAG id and Airflow's run_id: $before_run" ;;
esac
$AF/airflow tasks clear fidelis_nightly_bash -s 2026-11-23 -e 2026-11-23 -y >"$W/clear.log" 2>&1 \
  || { tail -20 "$W/clear.log"; fail "airflow tasks clear"; }
for stage in validate features train score export report publish; do
  $AF/airflow tasks test fidelis_nightly_bash "$stage" "$airflow_run" >>"$W/cleared-run.log" 2>&1 \
    || { tail -30 "$W/cleared-run.log"; fail "the cleared run's $stage"; }
done
after_publish=$(field 'm["publish_id"]'); after_run=$(field 'm["staged"]["run_id"]')
[ "$after_run" = "$before_run" ] || fail "the cleared run ran as $after_run, not as the same run $before_run"
[ "$after_publish" != "$before_publish" ] || fail "the cleared run did not draw a new publish id ($after_publish)"
echo "cleared run $before_run republished 2026-11-22: publish id $before_publish -> $after_publish" >&2

log "the published outputs of both runs"
sql() { "$BIN" sql --config "$W/job.toml" --format csv "$1" 2>/dev/null | tail -n +2; }
runs=$(sql "select cast(min(run_date) as varchar) || ' ' || cast(max(run_date) as varchar) || ' ' || cast(count(*) as varchar) from runs")
[ "$runs" = "2026-11-21 2026-11-22 2" ] \
  || fail "expected published runs for 2026-11-21 and 2026-11-22, got: $runs"
customers=$(sql "select count(*) from scores where run_date = '2026-11-22'")
[ "$customers" -gt 1000 ] || fail "scores of 2026-11-22: $customers rows"
for table in scores segments exports features labels rejects_purchases rejects_customers models reports; do
  n=$(sql "select count(distinct run_date) from run_files where table_name = '$table'")
  [ "$n" = 2 ] || fail "$table published for $n run dates, expected 2"
done
report() { find "$W/out/files/run_date=$1" -name report.html | head -1; }

log "the reports in headless Chromium"
node tests/report/check_report.mjs "$(report 2026-11-22)" "$ARTIFACTS/report.png"
node tests/report/check_report.mjs "$(report 2026-11-21)" "$ARTIFACTS/report-first-run.png" --no-drift
cp "$(report 2026-11-22)" "$ARTIFACTS/report.html"

log "a run of 2026-11-20 killed (SIGKILL) after its table commits, before its runs row"
FIDELIS_FAULT_PAUSE=publish.before_runs "$BIN" run --config "$W/job.toml" --run-date 2026-11-20 \
  >"$W/killed.log" 2>&1 &
killed=$!
for _ in $(seq 1 600); do
  grep -q "paused at publish.before_runs" "$W/killed.log" && break
  kill -0 "$killed" 2>/dev/null || { cat "$W/killed.log" >&2; fail "the run to kill ended by itself"; }
  sleep 0.5
done
grep -q "paused at publish.before_runs" "$W/killed.log" || fail "the run never reached publish.before_runs"
kill -9 "$killed"; wait "$killed" 2>/dev/null || true
grep -q 'run_date=2026-11-20' "$W"/out/scores/_delta_log/*.json || fail "the killed run committed no scores files"
n=$(sql "select count(*) from scores where run_date = '2026-11-20'")
[ "$n" = 0 ] || fail "fidelis sql shows $n scores of the killed run"

log "an independent reader (the deltalake package) reads every table as fidelis sql does"
.venv/notebooks/bin/python tests/lake_reader.py "$BIN" "$W/job.toml" "$W/out"

log "analyst notebooks, top to bottom"
.venv/notebooks/bin/python notebooks/run_all.py --output "$W/out" --executed "$ARTIFACTS/notebooks"

log "a DAG run on a corrupt input fails at validate, without retry, and publishes nothing"
before=$(cd "$W/out/runs" && find . -type f -exec sha256sum {} + | sort | sha256sum)
if $AF/airflow dags test fidelis_nightly_bash 2026-11-24 --conf "{\"config\": \"$W/bad.toml\"}" >"$W/dags-bad.log" 2>&1; then
  fail "the DAG run on a corrupt input succeeded"
fi
cp "$W/dags-bad.log" "$ARTIFACTS/"
grep -q "bad input data in file" "$W/dags-bad.log" || fail "the task log does not name the bad file"
$AF/python tests/airflow/check_runs.py failed-at-validate 2026-11-24
after=$(cd "$W/out/runs" && find . -type f -exec sha256sum {} + | sort | sha256sum)
[ "$before" = "$after" ] || fail "the failed run changed the runs table"
[ "$(sql "select count(*) from runs where run_date = '2026-11-23'")" = 0 ] || fail "the failed run published run date 2026-11-23"

rm -rf "$W"
log "all integration checks passed"
