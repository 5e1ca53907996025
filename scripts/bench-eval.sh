#!/usr/bin/env bash
# Retrieval evaluation (issue 6, item 8): keyword-only, vector-only (what the old system did),
# hybrid (confidence-weighted reciprocal rank fusion), hybrid + rerank, and auto (what answers
# use: hybrid, reranked while the rerank model proves reliable), side by side in one run, on a
# SQuAD-format set (default ../shared/data/eval/cmrc2018_trial.json), with the models named.
# Prints a Markdown table for docs/BENCHMARKS.md.
#
# Uses the servers in LEXINAUT_XINFERENCE_URL / LEXINAUT_CHROMA_URL / LEXINAUT_*_MODEL when set
# (source a backends.env), else starts its own with scripts/backends.sh and stops them after.
# Env: SET (the SQuAD file), LIMIT (first N questions; default all), MODES (default all five),
#      GENERATE=1 (also score answers from the chat model: slow on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
log() { echo "bench-eval: $*" >&2; }

set_file="${SET:-$root/../shared/data/eval/cmrc2018_trial.json}"
[[ -f "$set_file" ]] || { log "evaluation set $set_file not found (../shared not mounted?)"; exit 2; }

if [[ -z "${LEXINAUT_XINFERENCE_URL:-}" || -z "${LEXINAUT_CHROMA_URL:-}" ]]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-bench-eval.XXXXXX")
  trap 'bash "$root/scripts/backends.sh" stop --dir "$dir"' EXIT
  bash scripts/backends.sh start --dir "$dir"
  # shellcheck disable=SC1091
  source "$dir/backends.env"
fi
: "${LEXINAUT_EMBED_MODEL:?}" "${LEXINAUT_RERANK_MODEL:?}"

log "building the CLI (release)"
cargo build --release --locked -p lexinaut >&2
bin="$root/target/release/lexinaut"
data=$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-eval-data.XXXXXX")
args=(eval "$set_file" --kb eval --json)
[[ -n "${LIMIT:-}" ]] && args+=(--limit "$LIMIT")
[[ "${GENERATE:-0}" == 1 ]] && args+=(--generate)

models=$(curl -s "$LEXINAUT_XINFERENCE_URL/v1/models" | python3 -c '
import json, sys
rows = json.load(sys.stdin)["data"]
print("; ".join("%s = %s (%s, %s)" % (m["id"], m["model_name"], m["model_type"], m.get("model_engine")) for m in rows))')
echo "Set: $(basename "$set_file"); models: $models"
echo
echo "| mode | stages | hit@1 | hit@5 | MRR@10 | answer in top 5 | median ms/question |"
echo "|---|---|---:|---:|---:|---:|---:|"
read -r -a modes <<<"${MODES:-keyword vector hybrid hybrid-rerank auto}"
for mode in "${modes[@]}"; do
  "$bin" --data-dir "$data" "${args[@]}" --mode "$mode" > "$data/$mode.json"
  python3 - "$data/$mode.json" "$mode" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {'+'.join(r['stages'])} | {r['hit_at_1']:.3f} | {r['hit_at_5']:.3f} | {r['mrr_at_10']:.3f} "
      f"| {r['answer_in_top_5']:.3f} | {r['median_ms']:.1f} |")
if r.get("answers"):
    a = r["answers"]
    print(f"|  answers ({sys.argv[2]}) | EM {a['exact_match']:.3f} · F1 {a['f1']:.3f} · contains {a['contains']:.3f} ({a['generated']} generated) | | | | | |")
PYEOF
done
echo
echo "Questions: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["questions"])' "$data/${modes[0]}.json"), contexts: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["documents"])' "$data/${modes[0]}.json")"
rm -rf "$data"
