#!/usr/bin/env bash
# Watched folders: change → searchable latency and memory of `lexinaut watch run` (release).
#   1. Single edits, one at a time: create, modify (new content), rename, delete; the latency of
#      each is from just before the file-system call to the `at` time of the daemon's `Synced`
#      JSON line that applied it (emitted after the catalogue transaction committed, so the
#      change is searchable by then). Median and p95 per kind and overall.
#   2. Bursts: BURST files written as fast as possible; latency to the first and to the last
#      file being searchable (the `Synced` lines adding up to BURST), and the files/s.
#   3. Churn soak: random creates/modifies/renames/deletes over a pool of files at CHURN_RATE
#      operations per second for SOAK seconds, with the daemon's RSS (VmRSS, VmHWM) sampled
#      every 5 s; at the end the catalogue must match the folder exactly.
# Every run also spot-checks with `lexinaut search` that a changed file's new words are found.
# Prints a Markdown report; paste it into docs/BENCHMARKS.md.
#
# Usage: scripts/bench-watch.sh [--short]
#   --short   a couple of minutes: 20 edits of each kind, bursts of 1,000, a 120 s soak
#             (default: 50 edits of each kind, bursts of 1,000 and 10,000, a 1 h soak).
# Environment: SOAK (seconds), CHURN_RATE (operations/s, default 20), EDITS (per kind).
# Needs python3 (standard library only). The daemon and the driver run under `nice -n 10`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
short=0
[[ "${1:-}" == "--short" ]] && short=1
if ((short)); then
  soak="${SOAK:-120}"; edits="${EDITS:-20}"; bursts="1000"
else
  soak="${SOAK:-3600}"; edits="${EDITS:-50}"; bursts="1000 10000"
fi
rate="${CHURN_RATE:-20}"

log() { echo "bench-watch: $*" >&2; }

log "building lexinaut (release)"
(cd "$root" && nice -n 10 cargo build --release --locked -p lexinaut --bin lexinaut) >&2
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
lexinaut="$target_dir/release/lexinaut"

work="$(mktemp -d "${TMPDIR:-/tmp}/lexinaut-bench-watch.XXXXXX")"
# Kept when the run fails, for a look at daemon.log and the folder.
trap 'if [[ $? -eq 0 ]]; then rm -rf "$work"; else echo "bench-watch: kept $work" >&2; fi' EXIT
log "working in $work"

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
commit="$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"

nice -n 10 python3 - "$lexinaut" "$work" "$soak" "$edits" "$rate" "$bursts" > "$work/report.md" <<'PY'
import json, os, queue, random, statistics, subprocess, sys, threading, time

exe, work, soak, edits, rate, bursts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), [int(b) for b in sys.argv[6].split()]
data, docs = os.path.join(work, "data"), os.path.join(work, "docs")
os.makedirs(docs)
random.seed(7)

def cli(*args):
    out = subprocess.run([exe, "--data-dir", data, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench-watch: lexinaut {' '.join(args)} failed: {out.stderr}")
    return out.stdout

def log(msg):
    print(f"bench-watch: {msg}", file=sys.stderr, flush=True)

SENTENCES = ["本季度营业收入同比增长，研发投入继续增加。", "项目负责人表示，下一阶段将扩大产能并优化供应链管理。",
             "各部门需按时提交材料，并做好归档工作。", "会议讨论了新产品的定价策略和市场推广计划。"]
counter = [0]
def text(token):
    body = "".join(random.choice(SENTENCES) for _ in range(random.randint(3, 12)))
    return f"{body}\n标记词：{token}。\n"
def new_token():
    counter[0] += 1
    return f"tok{counter[0]}x{random.randint(0, 10**6)}"
def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)

# Seed: 2,000 files in 40 folders, so the knowledge base is not empty.
SEED = 2000
files = []
for i in range(SEED):
    p = os.path.join(docs, f"seed{i % 40:02d}", f"doc{i:05d}.txt")
    write(p, text(new_token()))
    files.append(p)
cli("kb", "create", "bench")
cli("watch", "add", docs, "--kb", "bench")

lines = queue.Queue()
env = dict(os.environ, LEXINAUT_LOG=os.environ.get("LEXINAUT_LOG", "info"))
daemon = subprocess.Popen([exe, "--data-dir", data, "watch", "run", "--json"], stdout=subprocess.PIPE,
                          stderr=open(os.path.join(work, "daemon.log"), "w"), text=True, env=env)
import atexit
atexit.register(lambda: daemon.poll() is None and daemon.terminate())
def pump():
    for line in daemon.stdout:
        lines.put(json.loads(line))
threading.Thread(target=pump, daemon=True).start()

def next_report(pred, timeout=120, what="a report"):
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            sys.exit(f"bench-watch: timed out waiting for the daemon: {what}")
        try:
            r = lines.get(timeout=left)
        except queue.Empty:
            continue
        if pred(r):
            return r

def rss():
    with open(f"/proc/{daemon.pid}/status") as f:
        st = dict(l.split(":", 1) for l in f if ":" in l)
    return int(st["VmRSS"].split()[0]) / 1024, int(st["VmHWM"].split()[0]) / 1024

t0 = time.time()
seeded = 0
while seeded < SEED:  # one report per imported chunk of 1,000 files
    r = next_report(lambda r: r["full_scan"])
    seeded += r["added"]
seed_s = r["at"] / 1000 - t0
log(f"start-up scan: {seeded} files in {seed_s:.1f} s")
assert seeded == SEED, r
rss_after_seed = rss()

def drain():
    while True:
        try:
            lines.get_nowait()
        except queue.Empty:
            return

# ---- 1. single edits -------------------------------------------------------------------------
lat = {"create": [], "modify": [], "rename": [], "delete": []}
spot = None
for i in range(edits):
    for kind in ("create", "modify", "rename", "delete"):
        drain()
        time.sleep(random.uniform(0.2, 0.6))
        if kind == "create":
            p = os.path.join(docs, "edits", f"new{i:04d}.txt")
            tok = new_token(); t = time.time(); write(p, text(tok)); files.append(p); field = "added"
        elif kind == "modify":
            p = random.choice(files)
            tok = new_token(); t = time.time(); write(p, text(tok)); field = "updated"; spot = tok
        elif kind == "rename":
            p = random.choice(files); q = p[:-4] + "-r.txt"
            t = time.time(); os.rename(p, q); files[files.index(p)] = q; field = "moved"
        else:
            p = files.pop(random.randrange(len(files)))
            t = time.time(); os.remove(p); field = "removed"
        r = next_report(lambda r, f=field: r.get(f, 0) >= 1, what=f"{kind} of {p}")
        lat[kind].append(r["at"] / 1000 - t)
found = json.loads(cli("search", spot, "--kb", "bench", "--json"))
assert found and spot in found[0]["text"], f"modified file's new word {spot} not found"
log("single edits done")

# ---- 2. bursts ---------------------------------------------------------------------------------
burst_rows = []
for n in bursts:
    drain()
    time.sleep(1)
    d = os.path.join(docs, f"burst{n}")
    toks = []
    t = time.time()
    for i in range(n):
        tok = new_token(); toks.append(tok)
        write(os.path.join(d, f"b{i % 50:02d}", f"f{i:05d}.txt"), text(tok))
    written = time.time() - t
    got, first_at, last_at = 0, None, None
    while got < n:
        r = next_report(lambda r: r["added"] > 0, timeout=600)
        got += r["added"]
        first_at = first_at or r["at"] / 1000
        last_at = r["at"] / 1000
    files.extend(os.path.join(d, f"b{i % 50:02d}", f"f{i:05d}.txt") for i in range(n))
    found = json.loads(cli("search", toks[-1], "--kb", "bench", "--json"))
    assert found, f"burst file's word {toks[-1]} not found"
    burst_rows.append((n, written, first_at - t, last_at - t, n / (last_at - t), rss()))
    log(f"burst of {n}: last searchable after {last_at - t:.1f} s")

# ---- 3. churn soak -----------------------------------------------------------------------------
samples = [(0.0,) + rss()]
ops = {"create": 0, "modify": 0, "rename": 0, "delete": 0}
t_start = time.time(); next_sample = t_start + 5; n_op = 0
while time.time() - t_start < soak:
    kind = random.choices(["create", "modify", "rename", "delete"], [3, 4, 2, 3])[0]
    if kind == "create" or len(files) < 100:
        p = os.path.join(docs, "churn", f"c{n_op % 20:02d}", f"c{n_op:07d}.txt"); write(p, text(new_token())); files.append(p); kind = "create"
    elif kind == "modify":
        write(random.choice(files), text(new_token()))
    elif kind == "rename":
        i = random.randrange(len(files)); q = os.path.join(docs, "churn", "moved", f"m{n_op:07d}.txt")
        os.makedirs(os.path.dirname(q), exist_ok=True); os.rename(files[i], q); files[i] = q
    else:
        os.remove(files.pop(random.randrange(len(files))))
    ops[kind] += 1; n_op += 1
    while lines.qsize() > 0:
        lines.get_nowait()
    now = time.time()
    if now >= next_sample:
        samples.append((now - t_start,) + rss()); next_sample += 5
    time.sleep(max(0.0, t_start + n_op / rate - time.time()))
soak_s = time.time() - t_start
# Quiescence, then the catalogue must mirror the folder (what the event stream lost is found by
# the watcher's sweep, at most a minute later).
deadline = time.time() + 180
while True:
    time.sleep(2)
    st = json.loads(cli("watch", "list", "--json"))[0]
    listed = {d["path"] for d in json.loads(cli("docs", "list", "--kb", "bench", "--json"))}
    if st["pending"] == 0 and listed == set(files):
        break
    if time.time() > deadline:
        extra, lost = sorted(listed - set(files)), sorted(set(files) - listed)
        sys.exit(f"bench-watch: after the soak the catalogue has {len(listed)} documents for {len(files)} files "
                 f"(pending {st['pending']}); documents without a file: {extra[:10]}; files without a document: {lost[:10]}")
samples.append((time.time() - t_start,) + rss())
daemon.terminate(); daemon.wait(timeout=30)
log(f"soak done: {n_op} operations in {soak_s:.0f} s")

# ---- report ------------------------------------------------------------------------------------
def pct(xs, p):
    xs = sorted(xs); k = (len(xs) - 1) * p / 100; lo = int(k); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
print("**Single edits** (one at a time, against a knowledge base of "
      f"{SEED} files; debounce 500 ms; latency = file-system call → `Synced` after commit):")
print()
print("| change | n | median (s) | p95 (s) | max (s) |")
print("| --- | ---: | ---: | ---: | ---: |")
for k, xs in list(lat.items()) + [("all", sum(lat.values(), []))]:
    print(f"| {k} | {len(xs)} | {statistics.median(xs):.2f} | {pct(xs, 95):.2f} | {max(xs):.2f} |")
print()
print("**Bursts** (files written as fast as the driver can, 50 subfolders):")
print()
print("| files | written in (s) | first searchable (s) | last searchable (s) | files/s | daemon RSS after (MB) |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for n, w, f, l, fps, (r, h) in burst_rows:
    print(f"| {n:,} | {w:.2f} | {f:.2f} | {l:.2f} | {fps:.0f} | {r:.0f} |")
print()
xs = [s[0] for s in samples]; ys = [s[1] for s in samples]
half = [s for s in samples if s[0] >= soak_s / 2]
slope = 0.0
if len(half) >= 2:
    mx = statistics.mean(s[0] for s in half); my = statistics.mean(s[1] for s in half)
    den = sum((s[0] - mx) ** 2 for s in half)
    slope = sum((s[0] - mx) * (s[1] - my) for s in half) / den * 3600 if den else 0.0
print(f"**Churn soak**: {soak_s:.0f} s at {rate:g} operations/s ({n_op:,} operations: "
      f"{ops['create']:,} creates, {ops['modify']:,} modifies, {ops['rename']:,} renames, {ops['delete']:,} deletes), "
      f"{len(files):,} files at the end; the catalogue matched the folder afterwards.")
print()
print("| daemon memory | MB |")
print("| --- | ---: |")
print(f"| RSS after the start-up scan of {SEED} files | {rss_after_seed[0]:.0f} |")
print(f"| RSS at the start of the soak | {samples[0][1]:.0f} |")
print(f"| RSS, max during the soak | {max(ys):.0f} |")
print(f"| RSS at the end | {samples[-1][1]:.0f} |")
print(f"| peak RSS of the whole run (VmHWM) | {samples[-1][2]:.0f} |")
print(f"| RSS trend over the second half of the soak (MB/h) | {slope:+.1f} |")
PY

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "- **Date:** $started, commit $commit."
echo "- **Machine:** $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(uname -sr), $(rustc --version | cut -d' ' -f1-2); shared with other builds."
echo "  Load average $load_start at the start, $load_end at the end."
echo "- **Command:** \`scripts/bench-watch.sh${1:+ $1}\` (release \`lexinaut watch run --json\` under \`nice -n 10\`; files in \`${TMPDIR:-/tmp}\`, a $(stat -f -c %T "${TMPDIR:-/tmp}") file system)."
echo
cat "$work/report.md"
