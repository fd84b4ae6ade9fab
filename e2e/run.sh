#!/usr/bin/env bash
# Runs the end-to-end tests: installs the locked npm dependencies, builds
# pusher-authd once, then runs every *.test.js file with node's test runner.
# Exits non-zero if the build or any test fails.
set -euo pipefail

cd "$(dirname "$0")"

npm ci --no-audit --no-fund --loglevel=error >/dev/null

if [[ -z "${PUSHER_AUTHD_BIN:-}" ]]; then
  build_dir="$(mktemp -d)"
  trap 'rm -rf "$build_dir"' EXIT
  echo "e2e: building pusher-authd"
  (cd .. && go build -o "$build_dir/pusher-authd" .)
  export PUSHER_AUTHD_BIN="$build_dir/pusher-authd"
fi

# --test-force-exit: when a server closes a pusher-js (Node build) socket,
# pusher-js calls close() on the already closed faye-websocket client, which
# starts a 30 s timer that nothing clears. Without the flag each test file
# lingers for those 30 s after its last test.
node --test --test-force-exit --test-reporter=spec ./*.test.js
