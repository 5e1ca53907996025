#!/usr/bin/env bash
# Import memory at scale (issue 4, item 6/7): peak RSS and wall time of `lexinaut ingest` for
# 1,000, 10,000 and 30,000 small files in the same run (release build, fresh library each), so the ratio
# shows whether memory grows with the number of files queued. Files are the shared corpus's
# lines (../shared/data/corpus/crud_news_zh.txt), cycled and numbered so every file differs.
#
#   scripts/bench-scale.sh [RUNS]     (default 3; medians reported)
#
# Env: LEXINAUT_CORPUS_DIR (folder with crud_news_zh.txt; default ../shared/data/corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs="${1:-3}"
corpus="${LEXINAUT_CORPUS_DIR:-$root/../shared/data/corpus}/crud_news_zh.txt"
[[ -f "$corpus" ]] || { echo "bench-scale: $corpus not found (../shared not mounted?)" >&2; exit 2; }
if [[ ! -x /usr/bin/time ]]; then
  if [[ $EUID -eq 0 ]]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
  else echo "bench-scale: needs /usr/bin/time (apt-get install time)" >&2; exit 2; fi
fi
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p lexinaut --bin lexinaut >&2
bin="$root/target/release/lexinaut"
work=$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-bench-scale.XXXXXX")
trap 'rm -rf "$work"' EXIT

make_files() { # count dir
  python3 - "$corpus" "$1" "$2" <<'PYEOF'
import os, sys
corpus, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [l.strip() for l in open(corpus, encoding="utf-8") if l.strip()]
for i in range(count):
    d = os.path.join(out, f"{i // 500:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"note_{i:05d}.txt"), "w", encoding="utf-8") as f:
        f.write(f"第{i}号文件。" + lines[i % len(lines)] + "\n")
PYEOF
}
make_files 1000 "$work/1k"
make_files 10000 "$work/10k"
make_files 30000 "$work/30k"

echo "| files | MB | seconds (median of $runs) | files/s | peak RSS MB (median) | runs: s / MB |"
echo "|---:|---:|---:|---:|---:|---|"
declare -A rss_of
for n in 1k 10k 30k; do
  dir="$work/$n"
  mb=$(du -sm --apparent-size "$dir" | cut -f1)
  results=()
  for _ in $(seq 1 "$runs"); do
    data=$(mktemp -d "$work/data.XXXXXX")
    "$bin" --data-dir "$data" kb create scale >/dev/null
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --data-dir "$data" ingest "$dir" --kb scale --json >"$work/summary.json" 2>"$work/progress.jsonl"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert not r["failed"], r["failed"][:3]' "$work/summary.json"
    results+=("$(cat "$work/time")")
    rm -rf "$data"
  done
  python3 - "$n" "$mb" "${results[@]}" <<'PYEOF'
import statistics, sys
n, mb, runs = sys.argv[1], sys.argv[2], [r.split() for r in sys.argv[3:]]
files = {"1k": 1000, "10k": 10000, "30k": 30000}[n]
secs = statistics.median(float(s) for s, _ in runs)
rss = statistics.median(int(k) / 1024 for _, k in runs)
detail = ", ".join(f"{float(s):.2f} / {int(k) / 1024:.0f}" for s, k in runs)
print(f"| {files:,} | {mb} | {secs:.2f} | {files / secs:.0f} | {rss:.0f} | {detail} |")
PYEOF
done
