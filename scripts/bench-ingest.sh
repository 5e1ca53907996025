#!/usr/bin/env bash
# Ingestion: `lexinaut ingest` (extract + chunk + FTS5 keyword index) vs the old LangChain
# pipeline (PDFMinerLoader / TextLoader(encoding="utf8") + RecursiveCharacterTextSplitter(512, 64)),
# both measured in the same run, alternating, on
#   - PDFs: the corpus rendered by shared/data/corpus/make_pdf_corpus.py (300 PDFs), and
#   - plain text: crud_news_zh.txt exploded into one .txt file per line (~1,930 files).
# Prints a Markdown report (date, machine, load, table, targets); paste it into docs/BENCHMARKS.md.
#
# Usage: scripts/bench-ingest.sh [RUNS]            (default 3; each measurement is the median)
# Environment:
#   LEXINAUT_CACHE    cache root outside the clone (default ~/.cache/lexinaut): holds the Python
#                     venv (venv-bench-<hash of scripts/bench/requirements.txt + python version>)
#                     and the rendered PDF corpus (pdf-corpus-<hash>), both reused when present.
#   LEXINAUT_CORPUS_DIR  folder with crud_news_zh.txt and make_pdf_corpus.py
#                     (default: ../shared/data/corpus next to the clone, else /work/shared/...).
#   PYTHON            interpreter used to create the venv (default python3).
# Needs (installed with apt-get when missing and running as root): the Debian `time` package
# (/usr/bin/time for peak RSS) and fonts-wqy-microhei (the corpus renderer's CJK font).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
cache="${LEXINAUT_CACHE:-$HOME/.cache/lexinaut}"
py="${PYTHON:-python3}"
bench="$root/scripts/bench"
reqs="$bench/requirements.txt"
font=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc

if [[ -n "${LEXINAUT_CORPUS_DIR:-}" ]]; then
  corpus_dir="$LEXINAUT_CORPUS_DIR"
elif [[ -f "$root/../shared/data/corpus/crud_news_zh.txt" ]]; then
  corpus_dir="$(cd "$root/../shared/data/corpus" && pwd)"
else
  corpus_dir=/work/shared/data/corpus
fi
corpus="$corpus_dir/crud_news_zh.txt"
renderer="$corpus_dir/make_pdf_corpus.py"
[[ -f "$corpus" && -f "$renderer" ]] || { echo "bench-ingest: corpus not found in $corpus_dir" >&2; exit 2; }

log() { echo "bench-ingest: $*" >&2; }

# ---- system packages (only when missing) -------------------------------------------------
apt_missing=()
[[ -x /usr/bin/time ]] || apt_missing+=(time)
[[ -f "$font" ]] || apt_missing+=(fonts-wqy-microhei)
if ((${#apt_missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${apt_missing[*]} (run: apt-get install ${apt_missing[*]})"
    exit 2
  fi
  log "installing missing Debian packages: ${apt_missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >&2
fi

# ---- Python venv keyed by the pinned requirements ----------------------------------------
pyver="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
venv_key="$( (cat "$reqs"; echo "python $pyver") | sha256sum | cut -c1-12)"
venv="$cache/venv-bench-$venv_key"
if [[ ! -f "$venv/.complete" ]]; then
  log "creating $venv (Python $pyver, $(grep -c '==' "$reqs") pinned packages)"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$py" -m venv "$venv"
  # Packages come from the package index only: no local wheel folders configured for pip.
  env -u PIP_FIND_LINKS -u PIP_NO_INDEX "$venv/bin/pip" install -q --disable-pip-version-check \
    -r "$reqs" >&2
  touch "$venv/.complete"
fi
vpy="$venv/bin/python"

# ---- PDF corpus, rendered once ------------------------------------------------------------
pdf_key="$( (sha256sum "$renderer" "$corpus" | cut -d' ' -f1; grep reportlab "$reqs"; echo "n=300 seed=0") | sha256sum | cut -c1-12)"
pdf_dir="$cache/pdf-corpus-$pdf_key"
if [[ ! -f "$pdf_dir/.complete" ]]; then
  log "rendering the PDF corpus into $pdf_dir (once)"
  rm -rf "$pdf_dir" "$pdf_dir.tmp"
  t0=$EPOCHREALTIME
  "$vpy" "$renderer" "$pdf_dir.tmp" 300 --seed 0 > "$pdf_dir.tmp.log"
  mv "$pdf_dir.tmp" "$pdf_dir"
  mv "$pdf_dir.tmp.log" "$pdf_dir/.render.log"
  log "$(cat "$pdf_dir/.render.log") in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}') s"
  touch "$pdf_dir/.complete"
fi
pdf_summary="$(sed "s|$pdf_dir.tmp|$pdf_dir|" "$pdf_dir/.render.log")"
pdf_count="$(find "$pdf_dir" -name '*.pdf' | wc -l)"
pdf_bytes="$(find "$pdf_dir" -name '*.pdf' -printf '%s\n' | awk '{s+=$1} END{print s}')"

# ---- text corpus: one file per line, in a temp dir -----------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-bench-ingest.XXXXXX")"
trap 'rm -rf "$work"' EXIT
txt_dir="$work/txt"
txt_count="$("$vpy" "$bench/explode_lines.py" "$corpus" "$txt_dir")"
txt_bytes="$(find "$txt_dir" -name '*.txt' -printf '%s\n' | awk '{s+=$1} END{print s}')"

# ---- the app ------------------------------------------------------------------------------
log "building lexinaut (release)"
(cd "$root" && cargo build --release --locked -p lexinaut --bin lexinaut) >&2
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  "$vpy" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
lexinaut="$target_dir/release/lexinaut"

# ---- measurements -------------------------------------------------------------------------
results="$work/results.tsv"   # corpus system run seconds process_s rss_kb docs chunks failed
: > "$results"

# old CORPUS DIR RUN: the LangChain pipeline in its own process; seconds = load + split as timed
# inside the process (imports excluded), process_s = the whole process's wall time.
old() {
  local name=$1 dir=$2 run=$3 t0 t1
  t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$work/rss" "$vpy" "$bench/old_pipeline.py" "$dir" > "$work/old.json"
  t1=$EPOCHREALTIME
  "$vpy" - "$work/old.json" "$work/rss" "$name" "$run" "$t0" "$t1" >> "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rss = open(sys.argv[2]).read().split()[-1]
name, run, t0, t1 = sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
print(f"{name}\told\t{run}\t{r['seconds']:.4f}\t{t1 - t0:.4f}\t{rss}\t{r['docs']}\t{r['chunks']}\t0")
PY
}

# new CORPUS DIR RUN EXPECTED_DOCS: `lexinaut ingest` into a fresh data dir (kb created first,
# not timed); seconds = process_s = the ingest process's wall time.
new() {
  local name=$1 dir=$2 run=$3 expect=$4 data t0 t1
  data="$work/data-$name-$run"
  rm -rf "$data"
  "$lexinaut" --data-dir "$data" kb create bench > /dev/null
  t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$work/rss" "$lexinaut" --data-dir "$data" ingest "$dir" --kb bench --json \
    > "$work/new.json"
  t1=$EPOCHREALTIME
  "$vpy" - "$work/new.json" "$work/rss" "$name" "$run" "$t0" "$t1" "$expect" >> "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rss = open(sys.argv[2]).read().split()[-1]
name, run, t0, t1, expect = sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
if r["documents"] != expect or r["failed"] or r["cancelled"]:
    sys.exit(f"bench-ingest: lexinaut ingest of {name}: {r['documents']} documents (expected {expect}), "
             f"{len(r['failed'])} failed: {r['failed'][:3]}")
print(f"{name}\tnew\t{run}\t{t1 - t0:.4f}\t{t1 - t0:.4f}\t{rss}\t{r['documents']}\t{r['chunks']}\t{len(r['failed'])}")
PY
  rm -rf "$data"
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
for ((run = 1; run <= runs; run++)); do
  # Alternate which pipeline goes first, so drift in the machine's load hits both alike.
  if ((run % 2)); then
    log "run $run/$runs: PDFs old"; old pdf "$pdf_dir" "$run"
    log "run $run/$runs: PDFs lexinaut"; new pdf "$pdf_dir" "$run" "$pdf_count"
    log "run $run/$runs: text old"; old txt "$txt_dir" "$run"
    log "run $run/$runs: text lexinaut"; new txt "$txt_dir" "$run" "$txt_count"
  else
    log "run $run/$runs: PDFs lexinaut"; new pdf "$pdf_dir" "$run" "$pdf_count"
    log "run $run/$runs: PDFs old"; old pdf "$pdf_dir" "$run"
    log "run $run/$runs: text lexinaut"; new txt "$txt_dir" "$run" "$txt_count"
    log "run $run/$runs: text old"; old txt "$txt_dir" "$run"
  fi
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report -------------------------------------------------------------------------------
echo "- **Date:** $started."
echo "- **Machine:** $(nproc) CPUs (\`nproc\` = $(nproc), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(rustc --version | cut -d' ' -f1-2), Python $pyver."
echo "  Load average $load_start at the start, $load_end at the end."
echo "- **Command:** \`scripts/bench-ingest.sh${1:+ $1}\`"
echo "- **Corpora:** PDFs: $pdf_summary ($pdf_count files, $(awk -v b="$pdf_bytes" 'BEGIN{printf "%.1f", b/1e6}') MB)."
echo "  Text: $txt_count files, one per line of crud_news_zh.txt ($(awk -v b="$txt_bytes" 'BEGIN{printf "%.2f", b/1e6}') MB)."
echo "- **Old pipeline versions:** $(grep '==' "$reqs" | tr '\n' ' ' | sed 's/ $//; s/ /, /g')."
echo
"$vpy" - "$results" "$runs" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs = int(sys.argv[2])
def med(corpus, system, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == corpus and r[1] == system)
def runs_of(corpus, system):
    return ", ".join(f"{float(r[3]):.2f}" for r in rows if r[0] == corpus and r[1] == system)
def last(corpus, system, col):
    return [r[col] for r in rows if r[0] == corpus and r[1] == system][-1]
label = {"pdf": "PDFs", "txt": "text files"}
print(f"| corpus | pipeline | seconds (median of {runs}) | runs (s) | process wall (s) | old / new | peak RSS (MB) | documents | chunks |")
print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
verdict = {}
for c in ("pdf", "txt"):
    o, n = med(c, "old", 3), med(c, "new", 3)
    verdict[c] = (o, n)
    for s, name in (("old", "old: load + split"), ("new", "lexinaut ingest")):
        ratio = f"{o / n:.1f}×" if s == "new" else ""
        print(f"| {label[c]} | {name} | {med(c, s, 3):.2f} | {runs_of(c, s)} | {med(c, s, 4):.2f} | {ratio} | "
              f"{med(c, s, 5) / 1024:.0f} | {last(c, s, 6)} | {last(c, s, 7)} |")
print()
o, n = verdict["pdf"]
print(f"- PDF target (lexinaut ingest ≥ 20× faster than old load + split): {o / n:.1f}× → "
      f"**{'met' if o / n >= 20 else 'NOT met'}**.")
o, n = verdict["txt"]
print(f"- Text target (whole lexinaut ingest ≤ old load + split alone): {n:.3f} s vs {o:.3f} s → "
      f"**{'met' if n <= o else 'NOT met'}**.")
PY
