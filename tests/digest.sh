#!/usr/bin/env bash
# Regenerates the values digest (tests/digest/sample.json): runs `fidelis run`
# on the committed sample with jobs/local.toml and records, per published
# table, its rows and a SHA-256 of its values (tests/e2e/digest.rs says how).
# Run it only when a change alters the outputs on purpose, and show
# `git diff tests/digest/sample.json` in the change's note.
#
#   bash tests/digest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FIDELIS_UPDATE_DIGEST=1 cargo test --locked --test e2e -- digest::the_sample_run_matches_the_committed_values_digest --exact
git --no-pager diff --stat -- tests/digest/sample.json
