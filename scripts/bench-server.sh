#!/usr/bin/env bash
# HTTP server under load: `lexinaut serve` (release build, no model server: keyword retrieval
# and retrieval-only answers) with the shared corpus imported through its own API, then wrk with
# 400 connections against
#   - GET  /api/v1/kbs/1/search?q=...   (SEARCH_SECONDS, default 30; 8 Chinese queries rotated)
#   - POST /api/v1/kbs/1/ask            (ASK_SECONDS, default 15; 8 Chinese questions rotated;
#                                         each answer is stored in a new conversation)
# Prints a Markdown report (date, machine, load, table); paste it into docs/BENCHMARKS.md.
#
# Usage: scripts/bench-server.sh [SEARCH_SECONDS] [ASK_SECONDS]
# Environment:
#   LEXINAUT_CORPUS_DIR  folder with crud_news_zh.txt (default ../shared/data/corpus next to the
#                        clone, else /work/shared/data/corpus); exploded into one .txt per line.
#   CONNECTIONS          wrk connections (default 400); THREADS wrk threads (default nproc);
#   WRK_TIMEOUT          wrk's per-request timeout (default 2s, wrk's own default).
#   SERVE_ARGS           extra `lexinaut serve` options, e.g. "--max-answers 4".
#   LEXINAUT_BIN         a lexinaut binary to measure instead of building this clone's (for an
#                        A/B against an earlier build in the same session).
# Needs wrk (the Debian package; installed with apt-get when missing and running as root),
# python3 (standard library only) and curl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
search_secs="${1:-30}"
ask_secs="${2:-15}"
connections="${CONNECTIONS:-400}"
threads="${THREADS:-$(nproc)}"
wrk_timeout="${WRK_TIMEOUT:-2s}"

log() { echo "bench-server: $*" >&2; }

if [[ -n "${LEXINAUT_CORPUS_DIR:-}" ]]; then
  corpus_dir="$LEXINAUT_CORPUS_DIR"
elif [[ -f "$root/../shared/data/corpus/crud_news_zh.txt" ]]; then
  corpus_dir="$(cd "$root/../shared/data/corpus" && pwd)"
else
  corpus_dir=/work/shared/data/corpus
fi
corpus="$corpus_dir/crud_news_zh.txt"
[[ -f "$corpus" ]] || { log "corpus not found in $corpus_dir"; exit 2; }

# ---- wrk ------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    log "wrk is missing (run: apt-get install wrk)"
    exit 2
  fi
  log "installing the Debian package wrk"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
fi

# ---- the server -----------------------------------------------------------------------------
if [[ -n "${LEXINAUT_BIN:-}" ]]; then
  lexinaut="$LEXINAUT_BIN"
  log "using $lexinaut"
else
  log "building lexinaut (release)"
  (cd "$root" && nice -n 10 cargo build --release --locked -p lexinaut --bin lexinaut) >&2
  target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  lexinaut="$target_dir/release/lexinaut"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-bench-server.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

txt_dir="$work/txt"
txt_count="$(python3 "$root/scripts/bench/explode_lines.py" "$corpus" "$txt_dir")"

# No backends from the caller's environment: this measures the server and the catalogue.
unset_env=()
while IFS= read -r name; do unset_env+=(-u "$name"); done < <(env | grep -o '^LEXINAUT_[A-Z_]*' || true)
env "${unset_env[@]}" LEXINAUT_LOG=warn \
  "$lexinaut" --data-dir "$work/data" serve --port 0 ${SERVE_ARGS:-} > "$work/address" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do [[ -s "$work/address" ]] && break; sleep 0.1; done
base="$(head -1 "$work/address")"
[[ "$base" == http://* ]] || { log "the server did not start:"; cat "$work/server.log" >&2; exit 1; }
api="$base/api/v1"
log "serving at $base (pid $server_pid)"

curl -sf -X POST "$api/kbs" -H 'content-type: application/json' -d '{"name":"新闻"}' > /dev/null
t0=$EPOCHREALTIME
summary="$(curl -sf -X POST "$api/kbs/1/ingest" -H 'content-type: application/json' \
  -d "{\"paths\":[\"$txt_dir\"]}")"
t1=$EPOCHREALTIME
ingest_secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"
read -r docs chunks failed < <(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s["documents"], s["chunks"], len(s["failed"]))' "$summary")
[[ "$docs" == "$txt_count" && "$failed" == 0 ]] || { log "ingest: $summary"; exit 1; }
log "imported $docs files ($chunks chunks) through POST /ingest in $ingest_secs s"

# ---- wrk scripts ----------------------------------------------------------------------------
queries=(营业收入同比增长 人工智能 新能源汽车 芯片 暴雨预警 房地产政策 股价下跌 自动驾驶)
questions=(
  "上半年营业收入同比增长了多少？" "人工智能大模型有哪些新进展？" "新能源汽车销量怎么样？"
  "芯片行业面临什么问题？" "暴雨预警发布了哪些地区？" "房地产有什么新政策？"
  "哪些公司股价下跌？" "自动驾驶技术的最新消息是什么？"
)
# The done() hook prints one JSON line with the numbers the report needs.
done_hook='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\"requests\":%d,\"seconds\":%.3f,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, e.connect, e.read, e.write, e.status, e.timeout))
end'
{
  echo 'local paths = {'
  for q in "${queries[@]}"; do
    printf '  "/api/v1/kbs/1/search?k=10&q=%s",\n' "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$q")"
  done
  echo '}'
  echo 'local i = 0'
  echo 'request = function() i = i + 1; return wrk.format("GET", paths[(i % #paths) + 1]) end'
  echo "$done_hook"
} > "$work/search.lua"
{
  echo 'local bodies = {'
  for q in "${questions[@]}"; do printf '  [[{"question": "%s"}]],\n' "$q"; done
  echo '}'
  echo 'local i = 0'
  echo 'local headers = { ["Content-Type"] = "application/json" }'
  echo 'request = function() i = i + 1; return wrk.format("POST", "/api/v1/kbs/1/ask", headers, bodies[(i % #bodies) + 1]) end'
  echo "$done_hook"
} > "$work/ask.lua"

# Sanity: both requests answer 200 before the load starts.
curl -sf "$api/kbs/1/search?k=10&q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("芯片"))')" > /dev/null
curl -sf -X POST "$api/kbs/1/ask" -H 'content-type: application/json' -d '{"question":"芯片行业面临什么问题？"}' > /dev/null

run_wrk() { # NAME SECONDS SCRIPT
  log "wrk: $1, $connections connections, $threads threads, $2 s"
  wrk -t "$threads" -c "$connections" -d "${2}s" --timeout "$wrk_timeout" -s "$3" "$base" > "$work/$1.txt"
  cat "$work/$1.txt" >&2
  grep '^RESULT ' "$work/$1.txt" | sed 's/^RESULT //' > "$work/$1.json"
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
run_wrk search "$search_secs" "$work/search.lua"
run_wrk ask "$ask_secs" "$work/ask.lua"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
rss_mb="$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$server_pid/status")"
conversations="$(curl -sf "$api/kbs/1/conversations" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
health="$(curl -s -o /dev/null -w '%{http_code}' "$api/health")"

# ---- report ---------------------------------------------------------------------------------
echo "- **Date:** $started."
echo "- **Machine:** $(nproc) CPUs ($(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(rustc --version | cut -d' ' -f1-2); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') on the same machine."
echo "  Load average $load_start at the start, $load_end at the end."
echo "- **Command:** \`scripts/bench-server.sh${1:+ $1}${2:+ $2}\` ($connections connections, $threads wrk threads, wrk timeout $wrk_timeout)."
echo "- **Data:** $docs files, one per line of crud_news_zh.txt, $chunks chunks, imported through \`POST /api/v1/kbs/1/ingest\` in $ingest_secs s."
echo "- **Server:** release build, options: \`${SERVE_ARGS:-(defaults: 16 answers at once)}\`, no model server; peak RSS $rss_mb MB; health after the runs: HTTP $health; $conversations conversations stored by the ask run."
echo
python3 - "$work/search.json" "$work/ask.json" <<'PY'
import json, sys
rows = [("GET /kbs/1/search?q=… (k=10)", json.load(open(sys.argv[1]))),
        ("POST /kbs/1/ask (retrieval-only)", json.load(open(sys.argv[2])))]
print("| route | requests | req/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | timeouts | errors (connect/read/write/non-2xx) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for name, r in rows:
    rps = r["requests"] / r["seconds"]
    print(f"| {name} | {r['requests']} | {rps:.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | "
          f"{r['max_ms']:.0f} | {r['timeout']} ({100 * r['timeout'] / max(r['requests'] + r['timeout'], 1):.2f}%) | "
          f"{r['connect']}/{r['read']}/{r['write']}/{r['status']} |")
PY
