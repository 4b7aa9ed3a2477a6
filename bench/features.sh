#!/usr/bin/env bash
# Feature benchmark: `fidelis features` (DataFusion) against the same feature
# SQL run by DuckDB from Python, on the same validated Parquet files, both on
# 2 threads, in the same session; checks that both computed the same values.
#
#   bash bench/features.sh [CUSTOMERS] [WORKDIR]     # default 1000000, /tmp/fidelis-bench-N
#
# Prints a markdown table of the medians of RUNS runs (default 3) and writes
# WORKDIR/features-bench.json. Not part of CI (a 1M-customer data set takes
# ~1 GB of disk); see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
W=${2:-/tmp/fidelis-bench-$N}
RUNS=${RUNS:-3}
RUN_DATE=2026-11-22
BIN=target/release/fidelis

# FIDELIS_NO_BUILD=1 uses the release binary as it is (e.g. built earlier).
[ "${FIDELIS_NO_BUILD:-}" = 1 ] || cargo build --release --locked --workspace --bin fidelis
VENV=${FIDELIS_BENCH_VENV:-$PWD/.venv/bench}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt
fi
PY="$VENV/bin/python"

mkdir -p "$W"
if [ ! -f "$W/data/generator.json" ]; then
  "$BIN" generate --customers "$N" --seed 1 --end "$RUN_DATE" --out "$W/data"
fi
cat >"$W/job.toml" <<TOML
[inputs]
purchases = "data/purchases"
interactions = "data/interactions"
customers = "data/customers"
[output]
url = "out"
[engine]
target_partitions = 2
memory_limit_mb = 4096
TOML
# The newest finished attempt of a stage in the run validate recorded
# (docs/publishing.md, "Overlapping runs").
staged() {
  local date="$W/out/_staging/run_date=$RUN_DATE" run marker token
  run=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$date/_run.json")
  marker=$(ls "$date/run_id=$run/_finished/$1/"*.json | sort | tail -1)
  token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["attempts"][sys.argv[2]])' "$marker" "$1")
  echo "$date/run_id=$run/attempt=$token"
}
# Validation is the input of both engines, not part of the comparison: done once.
if [ ! -f "$W/out/_staging/run_date=$RUN_DATE/_run.json" ]; then
  "$BIN" validate --config "$W/job.toml" --run-date "$RUN_DATE" --log-format json 2>"$W/validate.log"
fi
VALIDATED="$(staged validate)/validated"

# One timed run: wall seconds and peak RSS (MiB) from /usr/bin/time -v.
timed() {
  local log
  log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$log")
  rm -f "$log"
  echo "$wall $rss"
}

declare -a F_T F_M D_T D_M
for i in $(seq 1 "$RUNS"); do
  read -r t m < <(timed "$BIN" features --config "$W/job.toml" --run-date "$RUN_DATE" --as-of "$RUN_DATE" --log-format json)
  F_T+=("$t"); F_M+=("$m")
  read -r t m < <(timed "$PY" bench/duckdb_features.py --validated "$VALIDATED" --as-of "$RUN_DATE" --out "$W/duckdb-features.parquet" --threads 2)
  D_T+=("$t"); D_M+=("$m")
  echo "run $i: fidelis ${F_T[-1]} s ${F_M[-1]} MiB, duckdb ${D_T[-1]} s ${D_M[-1]} MiB" >&2
done
FIDELIS_OUT="$(staged features-as-of)/features/as_of=$RUN_DATE/part-00000.parquet"
"$PY" bench/compare_features.py "$FIDELIS_OUT" "$W/duckdb-features.parquet"

"$PY" - "$W" "$N" "${F_T[*]}" "${F_M[*]}" "${D_T[*]}" "${D_M[*]}" <<'PY'
import json, statistics, sys, os
w, n, ft, fm, dt, dm = sys.argv[1:]
ft, fm, dt, dm = ([float(x) for x in s.split()] for s in (ft, fm, dt, dm))
res = {
    "customers": int(n), "cores": os.cpu_count(), "runs": len(ft),
    "fidelis_seconds": ft, "duckdb_seconds": dt,
    "fidelis_median_s": statistics.median(ft), "duckdb_median_s": statistics.median(dt),
    "fidelis_peak_rss_mib": max(fm), "duckdb_peak_rss_mib": max(dm),
}
res["ratio_fidelis_over_duckdb"] = res["fidelis_median_s"] / res["duckdb_median_s"]
json.dump(res, open(f"{w}/features-bench.json", "w"), indent=2)
print(f"| engine | median of {len(ft)} (s) | runs (s) | peak RSS (MiB) |")
print("|---|---|---|---|")
print(f"| fidelis features (DataFusion 55) | {res['fidelis_median_s']:.2f} | {', '.join(f'{x:.2f}' for x in ft)} | {res['fidelis_peak_rss_mib']:.0f} |")
print(f"| DuckDB 2.0, same SQL | {res['duckdb_median_s']:.2f} | {', '.join(f'{x:.2f}' for x in dt)} | {res['duckdb_peak_rss_mib']:.0f} |")
print(f"\nratio fidelis / DuckDB: {res['ratio_fidelis_over_duckdb']:.2f}")
PY
