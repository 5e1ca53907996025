#!/usr/bin/env bash
# Type-checks and builds the web UI into ui/dist (embedded into the desktop binary by cargo).
set -euo pipefail
cd "$(dirname "$0")/../ui"
npm run --silent build
