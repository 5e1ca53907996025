#!/usr/bin/env bash
# Installs everything LexiNaut needs to build, run and test on Debian 12 (as root, or with sudo):
# system packages, the WebDriver for end-to-end tests, and the UI's npm packages.
# Idempotent: what is already installed is skipped, so it is cheap to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  # Tauri 2 / WebKitGTK build and runtime
  libwebkit2gtk-4.1-dev build-essential curl wget file libssl-dev libayatana-appindicator3-dev
  librsvg2-dev libxdo-dev pkg-config
  # headless display, WebDriver and real drag-and-drop for end-to-end tests, screenshots
  xvfb xauth webkit2gtk-driver xdotool x11-utils python3-gi gir1.2-gtk-3.0 imagemagick
  # OCR of scanned PDF pages (Chinese + English) and page rendering for it
  tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng poppler-utils
  # fonts so Chinese renders in the window
  fonts-noto-cjk fonts-noto-core
  # Python venvs for the real Chroma and Xinference servers the tests run (scripts/backends.sh)
  python3-venv python3-pip
  # Node.js for the UI build when the machine has none
  git ca-certificates
)
if ! command -v node >/dev/null 2>&1; then APT_PACKAGES+=(nodejs npm); fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "error: no Rust toolchain (cargo) found. Install Rust 1.95+ with rustup, then re-run." >&2
    exit 1
  fi
fi

if ! command -v tauri-driver >/dev/null 2>&1; then
  say "Installing tauri-driver 2.1.0 (WebDriver bridge for end-to-end tests)"
  cargo install tauri-driver --locked --version 2.1.0 --quiet
fi

npm_install() {
  # Reinstall only when the lock file changed since the last install.
  local dir=$1 stamp=$1/node_modules/.lexinaut-lock
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    say "Installing npm packages in $dir"
    (cd "$dir" && npm ci --no-fund --no-audit --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}
npm_install ui
npm_install tests/e2e
say "Set-up complete"
