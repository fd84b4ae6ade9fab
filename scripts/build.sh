#!/usr/bin/env bash
# Builds the static pusher-authd binary. The Dockerfile's build stage runs
# this same script, and scripts/test.sh runs it too, so CI checks the
# container build step without a Docker engine.
#   OUT      output path (default bin/pusher-authd)
#   VERSION  version string printed by `pusher-authd version` (default dev)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bin/pusher-authd}"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION:-dev}" -o "$out" .
echo "built $out"
