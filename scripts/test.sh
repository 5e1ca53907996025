#!/usr/bin/env bash
# README command 2: the whole test suite. Installs what it needs, then runs, in order:
# UI type-check, build and unit tests; Rust format check; build; every Rust test (core, extract,
# CLI, bindings freshness) with a real Chroma and a real Xinference serving three small models
# (started in the background right after set-up, so they boot while the UI and Rust build);
# clippy with -D warnings; end-to-end tests of the real window under Xvfb; a test that kills the
# Xinference server mid-operation and restarts it (last, as it takes the shared server down); a
# short fuzzing run of every document parser.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$(( $(date +%s) - START ))" >&2; }

step "Set-up"
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step "Backends: install (cached venvs) and start Chroma + Xinference in the background"
BACKENDS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-test-backends.XXXXXX")"
bash scripts/backends.sh start --dir "$BACKENDS_DIR" >"$BACKENDS_DIR/start.log" 2>&1 &
BACKENDS_JOB=$!
stop_backends() {
  # The start script may still be running; the servers it spawned are in their own process
  # groups, recorded in $BACKENDS_DIR, and `stop` ends those.
  kill "$BACKENDS_JOB" 2>/dev/null || true
  bash scripts/backends.sh stop --dir "$BACKENDS_DIR" || true
}
# Logs stay in $BACKENDS_DIR when something failed; after a green run it is removed.
trap 'status=$?; stop_backends; if [ "$status" -eq 0 ]; then rm -rf "$BACKENDS_DIR"; fi' EXIT

step "UI: type-check and build"
bash scripts/build-ui.sh
step "UI: unit tests"
(cd ui && npx vitest run)

step "Rust: format"
cargo fmt --all --check
step "Rust: build"
cargo build --locked --workspace --bins
step "Backends: wait until the servers and models are ready"
if ! wait "$BACKENDS_JOB"; then
  cat "$BACKENDS_DIR/start.log" >&2
  echo "error: the backends did not start (logs in $BACKENDS_DIR)" >&2
  exit 1
fi
grep -E "ready|launched|installed" "$BACKENDS_DIR/start.log" >&2 || true
step "Rust: tests"
(
  # shellcheck disable=SC1091
  source "$BACKENDS_DIR/test.env"
  export LEXINAUT_TEST_REQUIRE_BACKENDS=1   # a missing server fails the backend tests
  cargo test --locked --workspace
)
step "Rust: clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "End-to-end: the real app under Xvfb (with the same real backends)"
(
  # shellcheck disable=SC1091
  source "$BACKENDS_DIR/test.env"
  export LEXINAUT_TEST_REQUIRE_BACKENDS=1
  cd tests/e2e && xvfb-run -a -s "-screen 0 1280x1024x24" node --test --test-concurrency=1 ./*.test.mjs
)
step "Rust: Xinference killed mid-operation (kills the shared server, so it runs last)"
(
  # shellcheck disable=SC1091
  source "$BACKENDS_DIR/test.env"
  export LEXINAUT_TEST_REQUIRE_BACKENDS=1 LEXINAUT_TEST_BACKENDS_DIR="$BACKENDS_DIR"
  cargo test --locked --workspace --test it -- --ignored --exact \
    outage::xinference_killed_mid_operation_loses_nothing_and_recovers
)
stop_backends

step "Fuzz: every parser briefly (cargo-fuzz, ~3 s a target)"
bash scripts/fuzz.sh --ci

step "All tests passed in $(( $(date +%s) - START ))s"
