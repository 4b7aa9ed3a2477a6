#!/usr/bin/env bash
# Publishing memory: the peak memory of publishing one staged table of
# 100 MiB and of 1 GiB (one Parquet file each, [output] max_file_mb = 1024),
# against the peer, the copy that publishing made before the Delta tables
# (each staged file read whole and PUT again), in the same session.
#
#   bash bench/publish-memory.sh [WORKDIR]      # default /tmp/fidelis-publish-memory
#
# Each step is its own process (pipeline/storage/examples/publish_memory.rs),
# measured with /usr/bin/time -v; prints a markdown table of peak RSS and
# wall time. Not part of CI (it writes 2.5 GiB); see README, "Benchmarks".
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/fidelis-publish-memory}
SIZES=${SIZES:-"100 1024"}
cargo build --locked -p fidelis-storage --example publish_memory
BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/examples/publish_memory

measure() { # label, command...: prints "label | peak MiB | wall s"
  local label=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >"$log.out" 2>"$log"
  local kb wall
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  printf '| %s | %s | %.0f | %s |\n' "$label" "$(tail -1 "$log.out")" "$((kb / 1024))" "$wall"
  rm -f "$log" "$log.out"
}

echo "| step | result | peak RSS (MiB) | wall (m:s) |"
echo "|---|---|---|---|"
for mb in $SIZES; do
  root="$W/$mb"
  rm -rf "$root"
  measure "stage ${mb} MiB" "$BIN" stage "$root" "$mb"
  measure "copy (the peer) ${mb} MiB" "$BIN" copy "$root"
  measure "publish ${mb} MiB" "$BIN" publish "$root"
  rm -rf "$root"
done
