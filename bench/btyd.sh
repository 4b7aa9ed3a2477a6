#!/usr/bin/env bash
# BTYD benchmark: fidelis (BG/NBD + Gamma-Gamma, grouped, L-BFGS) against the
# Python package lifetimes 0.11.3 (BetaGeoFitter, GammaGammaFitter) on the
# same simulated customers, in the same session; both log-likelihoods are
# evaluated with lifetimes' own function.
#
#   bash bench/btyd.sh [CUSTOMERS...]      # default: 1000000
#
# Writes one JSON line per size to stdout and a markdown table to stderr.
# Not part of CI; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-1000000}")
W=${W:-/tmp/fidelis-btyd-bench}
mkdir -p "$W"
cargo build --release --locked -p fidelis-models --example btyd_bench
BIN=target/release/examples/btyd_bench
VENV=${FIDELIS_LIFETIMES_VENV:-$PWD/.venv/lifetimes}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements-lifetimes.txt
fi
for n in "${SIZES[@]}"; do
  "$BIN" --customers "$n" --seed 1 --csv "$W/summary-$n.csv" >"$W/fidelis-$n.json"
  "$VENV/bin/python" bench/btyd_lifetimes.py "$W/summary-$n.csv" "$W/fidelis-$n.json" >"$W/lifetimes-$n.json"
  "$VENV/bin/python" - "$W/fidelis-$n.json" "$W/lifetimes-$n.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
print(json.dumps({"fidelis": f, "lifetimes": l}))
ratio = l["seconds_total"] / f["seconds_total"]
print(f"| {f['customers']:,} | {f['distinct_rows']:,} | {f['seconds_total']:.2f} | {l['seconds_total']:.1f} | {ratio:.0f}x "
      f"| {l['ll_fidelis_params']:.2f} | {l['ll_lifetimes_params']:.2f} |", file=sys.stderr)
PY
done
