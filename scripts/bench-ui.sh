#!/usr/bin/env bash
# UI responsiveness during a large import (issue 4, item 7): the real app under Xvfb imports
# 3,000 dropped text files while the window's main thread is sampled — a 50 ms timer's lateness
# (event-loop lag) and the gaps between animation frames — against the same window idle for 3 s
# just before, in the same run. Prints a Markdown table for docs/BENCHMARKS.md.
#
#   scripts/bench-ui.sh [RUNS]      (default 3; each run is a fresh app and library)
#
# Uses the debug app the test suite builds (target/debug/lexinaut-desktop), like the E2E tests;
# LEXINAUT_APP_BINARY picks another build. Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/build-ui.sh >/dev/null
cargo build --locked -p lexinaut-desktop >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq 1 "$runs"); do
  (cd tests/e2e && xvfb-run -a -s "-screen 0 1280x1024x24" \
    node --test --test-name-pattern="responsive" import-control.test.mjs) |
    sed -n 's/^# ui-lag //p' >>"$out"
done
python3 - "$out" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    sys.exit("bench-ui: no measurement (did the E2E test fail?)")
med = lambda xs: statistics.median(xs)
def col(state, series, key):
    return med([r[state][series][key] for r in rows])
print(f"{len(rows)} runs, {rows[0]['files']} files each; import took "
      + ", ".join(f"{r['import_seconds']:.1f}" for r in rows) + " s. Medians over the runs:")
print()
print("| window | event-loop lag p50 / p95 / max (ms) | frame gap p50 / p95 / max (ms) |")
print("|---|---:|---:|")
for state, label in [("idle", "idle (3 s before)"), ("importing", "importing 3,000 files")]:
    t = " / ".join(f"{col(state, 'timer_lag_ms', k):.0f}" for k in ("p50", "p95", "max"))
    f = " / ".join(f"{col(state, 'frame_gap_ms', k):.0f}" for k in ("p50", "p95", "max"))
    print(f"| {label} | {t} | {f} |")
print()
print(f"p95 frame gap, importing / idle: {col('importing','frame_gap_ms','p95') / max(1, col('idle','frame_gap_ms','p95')):.1f}x")
PYEOF
