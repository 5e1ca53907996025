#!/usr/bin/env bash
# README command 2: the whole test suite. Installs what it needs, then runs, in order:
# UI type-check, build and unit tests; Rust format check; build; every Rust test (core, extract,
# CLI, bindings freshness); clippy with -D warnings; end-to-end tests of the real window under Xvfb;
# a short fuzzing run of every document parser.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$(( $(date +%s) - START ))" >&2; }

step "Set-up"
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step "UI: type-check and build"
bash scripts/build-ui.sh
step "UI: unit tests"
(cd ui && npx vitest run)

step "Rust: format"
cargo fmt --all --check
step "Rust: build"
cargo build --locked --workspace --bins
step "Rust: tests"
cargo test --locked --workspace
step "Rust: clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "End-to-end: the real app under Xvfb"
(cd tests/e2e && xvfb-run -a -s "-screen 0 1280x1024x24" node --test --test-concurrency=1 ./*.test.mjs)

step "Fuzz: every parser briefly (cargo-fuzz, ~3 s a target)"
bash scripts/fuzz.sh --ci

step "All tests passed in $(( $(date +%s) - START ))s"
