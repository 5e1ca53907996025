#!/usr/bin/env bash
# README command 1: install what is needed, build, and launch LexiNaut on the embedded default
# (catalogue + keyword search; no model server needed). With no display (a server, CI), the
# window opens on a virtual Xvfb display and a screenshot is saved to target/lexinaut-window.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/build-ui.sh
echo "==> Building LexiNaut (release; the first build takes several minutes)" >&2
cargo build --release --locked -p lexinaut-desktop -p lexinaut
APP=target/release/lexinaut-desktop
if [ -z "${DISPLAY:-}" ]; then
  export DISPLAY=:${LEXINAUT_XVFB_DISPLAY:-77}
  if ! xdpyinfo >/dev/null 2>&1; then
    Xvfb "$DISPLAY" -screen 0 1280x900x24 >/dev/null 2>&1 &
    XVFB_PID=$!
    trap 'kill $XVFB_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "==> No display: LexiNaut runs on virtual display $DISPLAY (Xvfb)." >&2
  "$APP" &
  APP_PID=$!
  sleep "${LEXINAUT_SCREENSHOT_DELAY:-6}"
  if kill -0 "$APP_PID" 2>/dev/null; then
    import -window root target/lexinaut-window.png 2>/dev/null &&
      echo "==> Screenshot of the window: target/lexinaut-window.png" >&2
    echo "==> LexiNaut is running (pid $APP_PID). Press Ctrl+C to quit." >&2
  fi
  wait "$APP_PID"
else
  exec "$APP"
fi
