#!/usr/bin/env bash
# End-to-end benchmark: `fidelis run` against the Python peer
# (bench/peer_pipeline.py: DuckDB SQL, lifetimes, scikit-learn, pandas) on
# the same generated files, in the same session, both on 2 threads.
#
#   bash bench/e2e.sh [SCALE...]          # default: 100000 1000000 10000000
#
# Per scale: `fidelis generate` (once; ~20 orders and ~100 interactions per
# customer over three years), then each pipeline once under /usr/bin/time -v
# (wall time, peak RSS), the time of every stage, the predictive metrics on
# the generator's truth (bench/e2e_metrics.py), and a check that both
# computed the same features as of the run date. Writes WORKDIR/e2e.json and
# prints a markdown table with the ratios.
#
# Environment: WORKDIR (default /tmp/fidelis-e2e), FIDELIS_NO_BUILD=1 (use
# target/release/fidelis as built), FIDELIS_BIN (another binary: CI's smoke
# run uses the debug build), POOL_MB (DataFusion memory pool; default 4096,
# 16384 from 10M customers), REUSE_FIDELIS=1 (keep a scale's earlier fidelis
# run and rerun only the peer). Check the disk first: 10M customers take
# ~12 GB of input.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALES=("${@:-100000 1000000 10000000}")
# shellcheck disable=SC2206
SCALES=(${SCALES[*]})
W=${WORKDIR:-/tmp/fidelis-e2e}
RUN_DATE=2026-11-22
BIN=${FIDELIS_BIN:-$ROOT/target/release/fidelis}
if [ -z "${FIDELIS_BIN:-}" ] && [ "${FIDELIS_NO_BUILD:-}" != 1 ]; then
  cargo build --release --locked --bin fidelis
fi
# shellcheck source=bench/peer-venv.sh
. "$ROOT/bench/peer-venv.sh"
mkdir -p "$W"
RESULTS=$W/e2e.jsonl
: >"$RESULTS"

# measured ERR: "wall_s peak_rss_mib exit_status" from a /usr/bin/time -v report
measured() {
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
    /Maximum resident set size/ { r = int($2 / 1024) }
    /Exit status/ { rc = $2 }
    END { print s, r, rc }' "$1"
}

# timed LOG CMD...: runs CMD with stdout to LOG.out, prints "wall_s peak_rss_mib exit_status"
# (the shell's status: time reports 0 for a command killed by a signal)
timed() {
  local log=$1 rc=0 wall rss; shift
  /usr/bin/time -v "$@" >"$log.out" 2>"$log.err" || rc=$?
  [ "$rc" = 0 ] || tail -20 "$log.err" >&2
  read -r wall rss _ < <(measured "$log.err")
  echo "$wall $rss $rc"
}

for N in "${SCALES[@]}"; do
  D=$W/$N
  mkdir -p "$D"
  if [ ! -f "$D/data/generator.json" ]; then
    echo "== generating $N customers" >&2
    "$BIN" generate --customers "$N" --seed 7 --end "$RUN_DATE" --out "$D/data" --log-format json 2>"$D/generate.log"
  fi
  POOL=${POOL_MB:-$([ "$N" -ge 10000000 ] && echo 16384 || echo 4096)}
  rm -rf "$D/peer"
  if [ "${REUSE_FIDELIS:-}" = 1 ] && [ -f "$D/fidelis/run.err" ]; then
    # Rerun only the peer (a long 10M run); fidelis' run of this scale stands.
    echo "== fidelis run, $N customers: reusing $D/fidelis" >&2
    read -r f_wall f_rss f_rc < <(measured "$D/fidelis/run.err")
    [ "${f_rc:-1}" = 0 ] || { echo "the earlier fidelis run failed (exit ${f_rc:-?}): $D/fidelis/run.err" >&2; exit 1; }
  else
    rm -rf "$D/fidelis"
    mkdir -p "$D/fidelis"
    cat >"$D/fidelis/job.toml" <<TOML
[inputs]
purchases = "../data/purchases"
interactions = "../data/interactions"
customers = "../data/customers"
[output]
url = "out"
[engine]
target_partitions = 2
memory_limit_mb = $POOL
TOML
    echo "== fidelis run, $N customers" >&2
    read -r f_wall f_rss f_rc < <(timed "$D/fidelis/run" env RAYON_NUM_THREADS=2 TOKIO_WORKER_THREADS=2 \
      "$BIN" run --config "$D/fidelis/job.toml" --run-date "$RUN_DATE" --log-format json)
    [ "$f_rc" = 0 ] || { echo "fidelis run failed (exit $f_rc): $D/fidelis/run.err" >&2; exit 1; }
  fi
  rm -rf "$D/fidelis/out/_staging"
  echo "== Python peer, $N customers" >&2
  read -r p_wall p_rss p_rc < <(timed "$D/peer-run" env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
    "$PY" bench/peer_pipeline.py --data "$D/data" --out "$D/peer" --run-date "$RUN_DATE" --threads 2)
  # The staged copies (validated inputs, samples) are not compared: free
  # the disk (tens of GB at 10M customers).
  rm -rf "$D/fidelis/out/_staging" "$D/peer/validated" "$D/peer/checked" "$D/peer/backtest_sample" "$D/peer/duckdb_tmp"
  # The run's record (its runs row) and its data files (one run was
  # published into this output root: one attempt folder per table; DuckDB
  # expands the globs).
  manifest=$D/fidelis/record.json
  (cd "$D/fidelis" && "$BIN" sql --config job.toml --format json \
    "select record from runs where run_date = '$RUN_DATE'") \
    | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["record"])' >"$manifest"
  f_scores="$D/fidelis/out/scores/run_date=$RUN_DATE/attempt=*/*.parquet"
  f_features="$D/fidelis/out/features/run_date=$RUN_DATE/attempt=*/as_of=$RUN_DATE/*.parquet"
  f_metrics=$("$PY" bench/e2e_metrics.py "$f_scores" "$D/data/truth")
  # A peer that does not finish (out of memory, say) is a result too: the
  # table says how far it got; fidelis' numbers stand alone.
  p_failed=""
  if [ "$p_rc" = 0 ]; then
    "$PY" bench/compare_features.py "$f_features" "$D/peer/features.parquet" --rtol 1e-6 >"$D/compare.txt" \
      || { cat "$D/compare.txt" >&2; echo "the two pipelines computed different features" >&2; exit 1; }
    p_metrics=$("$PY" bench/e2e_metrics.py "$D/peer/scores.parquet" "$D/data/truth")
  else
    said=$(grep -v '^\s' "$D/peer-run.err" | grep -v '^Command' | tail -1 | cut -c1-300 || true)
    p_failed="exit status $p_rc: ${said:-no message}"
    grep -q 'signal 9' "$D/peer-run.err" && p_failed="killed by signal 9 (out of memory) after ${p_wall}s"
    last=$(grep '^peer: ' "$D/peer-run.err" | tail -1 | sed 's/^peer: //' || true)
    p_failed="$p_failed; last stage done: ${last:-none}"
    p_metrics=null
  fi
  "$PY" - "$N" "$manifest" "$f_wall" "$f_rss" "$f_metrics" "$D/peer-run.out" "$p_wall" "$p_rss" "$p_metrics" "$p_failed" >>"$RESULTS" <<'PY'
import json, sys
n, manifest, f_wall, f_rss, f_metrics, peer_out, p_wall, p_rss, p_metrics, p_failed = sys.argv[1:]
m = json.load(open(manifest))
lines = open(peer_out).read().strip().splitlines()
peer = json.loads(lines[-1]) if not p_failed else {"seconds": {}}
fs = m["durations"]
# fidelis' stages, grouped as the peer's (export, report and publish are
# fidelis-only work, counted in its total and shown apart).
f = {"validate": fs.get("validate", 0), "features": fs.get("features", 0), "train": fs.get("train", 0),
     "score": fs.get("score", 0), "export+report+publish": fs.get("export", 0) + fs.get("report", 0) + fs.get("publish", 0)}
print(json.dumps({
    "customers": int(n),
    "fidelis": {"wall_s": float(f_wall), "peak_rss_mib": int(f_rss), "stages_s": f, "metrics": json.loads(f_metrics)},
    "peer": {"wall_s": float(p_wall), "peak_rss_mib": int(p_rss), "stages_s": peer["seconds"], "metrics": json.loads(p_metrics),
             **({"failed": p_failed} if p_failed else {})},
}))
PY
  echo "== $N done: fidelis ${f_wall}s ${f_rss} MiB, peer ${p_wall}s ${p_rss} MiB" >&2
done

"$PY" - "$RESULTS" "$W/e2e.json" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = {"cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30), "runs": rows}
json.dump(out, open(sys.argv[2], "w"), indent=2)
print(f"machine: {out['cores']} cores, {out['memory_gib']} GiB\n")
print("| customers | pipeline | validate | features | train | score | export+report+publish | total (wall) | peak RSS | churn AUC | revenue Gini |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    for name in ("fidelis", "peer"):
        p = r[name]; s = p["stages_s"]; m = p["metrics"]
        label = "fidelis run" if name == "fidelis" else "Python peer"
        erp = "%.1f" % s["export+report+publish"] if "export+report+publish" in s else "-"  # fidelis-only stages
        if p.get("failed"):
            print(f"| {r['customers']:,} | {label} | did not finish: {p['failed']} | | | | | ({p['wall_s']:.1f}) | {p['peak_rss_mib']:,} MiB | | |")
            continue
        print(f"| {r['customers']:,} | {label} | {s.get('validate', 0):.1f} | {s.get('features', 0):.1f} | {s.get('train', 0):.1f} | "
              f"{s.get('score', 0):.1f} | {erp} | **{p['wall_s']:.1f}** | {p['peak_rss_mib']:,} MiB | "
              f"{m['churn_roc_auc']:.4f} | {m['revenue_normalized_gini']:.4f} |")
    f, p = r["fidelis"], r["peer"]
    if p.get("failed"):
        continue
    ratios = " / ".join(f"{k} {p['stages_s'].get(k, 0) / max(f['stages_s'].get(k, 0), 1e-9):.2f}x" for k in ("validate", "features", "train", "score"))
    print(f"| {r['customers']:,} | **peer / fidelis** | {ratios} | | | | | **{p['wall_s'] / f['wall_s']:.2f}x** | | | |")
PY
