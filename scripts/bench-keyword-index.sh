#!/usr/bin/env bash
# Keyword index: tantivy + tantivy-jieba vs SQLite FTS5 over jieba tokens (lexinaut-core's index).
# Builds bench/keyword-index (its own workspace, so tantivy stays out of the app's build) in
# release and prints a Markdown report; paste it into docs/BENCHMARKS.md.
# Usage: scripts/bench-keyword-index.sh [CORPUS]   (default: /work/shared/data/corpus/crud_news_zh.txt)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="$root/bench/keyword-index/Cargo.toml"
corpus="${1:-/work/shared/data/corpus/crud_news_zh.txt}"

cargo build --release --manifest-path "$manifest"

echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs ($(uname -m)), $(rustc --version)."
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Command: scripts/bench-keyword-index.sh"
echo
"$root/bench/keyword-index/target/release/keyword-index-bench" "$corpus"
