#!/usr/bin/env bash
# Backend benchmark (issue 5, item 7): embedding throughput through LexiNaut's XinferenceClient
# vs a plain Python loop sending the same batches with the same concurrency (pipeline overhead,
# target <= 1.1x), Chroma upsert throughput through ChromaClient, and chat time-to-first-token
# through the client vs the raw SSE stream.
#
# Uses the servers in LEXINAUT_XINFERENCE_URL / LEXINAUT_CHROMA_URL / LEXINAUT_*_MODEL when set
# (source a backends.env), else starts its own with scripts/backends.sh and stops them after.
# The two sides run in alternating rounds (the machine is shared and its load drifts); each
# figure is the best of the rounds, time to first token the median of all samples.
# Env: N (texts, default 1000), CHARS (first characters of each corpus line, default 200),
#      BATCH (texts per request, default 32), ROUNDS (default 3),
#      PROFILE (cargo profile of the Rust side: dev (default; the core unoptimized, its
#      dependencies at opt-level 2, so a conservative figure) or release).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export N=${N:-1000} CHARS=${CHARS:-200} BATCH=${BATCH:-32} ROUNDS=${ROUNDS:-3} RUNS=1
log() { echo "bench-backends: $*" >&2; }

corpus="$root/../shared/data/corpus/crud_news_zh.txt"
[[ -f "$corpus" ]] || corpus=/work/shared/data/corpus/crud_news_zh.txt
[[ -f "$corpus" ]] || { log "corpus crud_news_zh.txt not found"; exit 2; }

if [[ -z "${LEXINAUT_XINFERENCE_URL:-}" || -z "${LEXINAUT_CHROMA_URL:-}" ]]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-bench-backends.XXXXXX")
  trap 'bash "$root/scripts/backends.sh" stop --dir "$dir"' EXIT
  bash scripts/backends.sh start --dir "$dir"
  # shellcheck disable=SC1091
  source "$dir/backends.env"
fi
: "${LEXINAUT_EMBED_MODEL:?}" "${LEXINAUT_CHAT_MODEL:?}" "${LEXINAUT_RERANK_MODEL:?}"

run_python() {
  python3 - "$corpus" <<'PYEOF'
import json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import http.client
url = os.environ["LEXINAUT_XINFERENCE_URL"]; model = os.environ["LEXINAUT_EMBED_MODEL"]
n, chars, batch, runs = (int(os.environ[k]) for k in ("N", "CHARS", "BATCH", "RUNS"))
lines = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()][:n]
texts = [l[:chars] for l in lines]
batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
host = url.split("//", 1)[1].rstrip("/")
local = threading.local()
def post(path, body):
    # One keep-alive connection per thread, as reqwest pools them; a connection the server
    # closed while idle is reopened, as reqwest does.
    payload = json.dumps(body)
    for attempt in (1, 2):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, timeout=300)
        try:
            conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse(); data = resp.read()
            break
        except (ConnectionError, http.client.HTTPException):
            conn.close(); local.conn = None
            if attempt == 2: raise
    assert resp.status == 200, data[:200]
    return json.loads(data)
def embed(b):
    out = post("/v1/embeddings", {"model": model, "input": b})
    return [d["embedding"] for d in sorted(out["data"], key=lambda d: d["index"])]
report = {}
for conc in (1, 2):
    embed(batches[0])
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        with ThreadPoolExecutor(conc) as pool:
            vecs = [v for r in pool.map(embed, batches) for v in r]
        best = min(best, time.perf_counter() - t)
    assert len(vecs) == n
    report[f"embed_c{conc}_secs"] = best
    report[f"embed_c{conc}_texts_per_sec"] = n / best
ttft = []
for _ in range(5):
    t = time.perf_counter()
    conn = http.client.HTTPConnection(host, timeout=300)
    body = {"model": os.environ["LEXINAUT_CHAT_MODEL"], "stream": True, "temperature": 0.0, "max_tokens": 8,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "Tell me about the ocean in a few sentences."}]}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    while True:
        line = resp.readline()
        if not line: break
        if line.startswith(b"data: {"):
            c = json.loads(line[6:])["choices"]
            if c and c[0]["delta"].get("content"):
                break
    ttft.append((time.perf_counter() - t) * 1000); conn.close()
ttft.sort(); report["chat_ttft_ms_median"] = ttft[len(ttft) // 2]
print(json.dumps(report))
PYEOF
}

profile_flag=()
[[ "${PROFILE:-dev}" == release ]] && profile_flag=(--release)
rust_log=$(mktemp "${TMPDIR:-/tmp}/bench-backends-rust.XXXXXX.log")
run_rust() {
  LEXINAUT_TEST_XINFERENCE_URL=$LEXINAUT_XINFERENCE_URL LEXINAUT_TEST_CHROMA_URL=$LEXINAUT_CHROMA_URL \
  LEXINAUT_TEST_EMBED_MODEL=$LEXINAUT_EMBED_MODEL LEXINAUT_TEST_CHAT_MODEL=$LEXINAUT_CHAT_MODEL \
  LEXINAUT_TEST_RERANK_MODEL=$LEXINAUT_RERANK_MODEL LEXINAUT_BENCH_CORPUS=$corpus LEXINAUT_BENCH_N=$N \
  LEXINAUT_BENCH_CHARS=$CHARS LEXINAUT_BENCH_RUNS=$RUNS LEXINAUT_BENCH_BATCH=$BATCH LEXINAUT_TEST_REQUIRE_BACKENDS=1 \
  cargo test -q "${profile_flag[@]}" -p lexinaut-core --test it bench_backends -- --ignored --nocapture \
    2>"$rust_log" | sed -n 's/^BENCH //p' ||
    { log "the Rust benchmark failed:"; tail -30 "$rust_log" >&2; return 1; }
}
nice -n 10 cargo test -q "${profile_flag[@]}" -p lexinaut-core --test it --no-run 2>/dev/null
log "$N texts of <= $CHARS characters, batches of $BATCH, $ROUNDS alternating rounds (cargo profile ${PROFILE:-dev})"
py_runs=() rs_runs=()
for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 )); then
    py_runs+=("$(run_python)"); rs_runs+=("$(run_rust)")
  else
    rs_runs+=("$(run_rust)"); py_runs+=("$(run_python)")
  fi
  log "round $round: python ${py_runs[-1]}"
  log "round $round: lexinaut ${rs_runs[-1]}"
  [[ -n "${rs_runs[-1]}" ]] || { log "the Rust benchmark printed nothing"; exit 1; }
done

python3 - "$(printf '%s\n' "${py_runs[@]}")" "$(printf '%s\n' "${rs_runs[@]}")" <<'PYEOF'
import json, sys
def merge(lines):
    runs = [json.loads(l) for l in lines.splitlines() if l.strip()]
    out = {}
    for k in runs[0]:
        vals = [r[k] for r in runs]
        out[k] = sorted(vals)[len(vals) // 2] if "ttft" in k else (max(vals) if "per_sec" in k else min(vals))
    return out
py, rs = merge(sys.argv[1]), merge(sys.argv[2])
print(f"| measure | plain Python loop | LexiNaut client | ratio (time) |")
print(f"|---|---|---|---|")
for c in (1, 2):
    p, r = py[f"embed_c{c}_texts_per_sec"], rs[f"embed_c{c}_texts_per_sec"]
    print(f"| embeddings, concurrency {c} (texts/s) | {p:.1f} | {r:.1f} | {p / r:.3f}x |")
print(f"| chat time to first token, median (ms) | {py['chat_ttft_ms_median']:.0f} | {rs['chat_ttft_ms_median']:.0f} | {rs['chat_ttft_ms_median'] / py['chat_ttft_ms_median']:.3f}x |")
print(f"| Chroma upsert, batches of 1000, base64 vectors (records/s) | | {rs['chroma_upsert_records_per_sec']:.0f} | |")
PYEOF
