# Sourced by tests/run.sh and .ci/run. Clippy lints the workspace while the
# tests build it: clippy-driver as the workspace's rustc wrapper, with the
# lints given to it in CLIPPY_ARGS, is exactly what `cargo clippy` runs
# (clippy-driver is rustc plus clippy's lints, so it also compiles). Linted
# this way the dependencies are compiled once, for the tests, instead of
# also checked in a pass of their own: 11.6 minutes of a fresh CI machine
# (docs/decisions.md, "CI time"). Every later cargo command of the same
# script must see the same two variables, or cargo rebuilds the workspace's
# crates without them.
if [ -z "${RUSTC_WORKSPACE_WRAPPER:-}" ] && command -v clippy-driver >/dev/null 2>&1; then
  RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver)
  export RUSTC_WORKSPACE_WRAPPER
  # cargo clippy's own encoding of `-- -D warnings`.
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
fi
