#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine. It first installs what is
# missing: Go modules, Node.js, npm and gcc from Debian if absent, and the e2e
# npm packages. Then it runs go vet, the Go tests with the race detector, the
# static build and the pusher-js end-to-end suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
  echo "scripts/test.sh: Go is not installed; install Go 1.26 or newer first" >&2
  exit 1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "scripts/test.sh: installing nodejs and npm from Debian packages"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if ! command -v gcc >/dev/null; then
  echo "scripts/test.sh: installing gcc for the race detector"
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
fi

echo "== go mod download"
go mod download

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

echo "== static build (the Dockerfile's build step)"
OUT="$(mktemp -d)/pusher-authd" scripts/build.sh

echo "== pusher-js end-to-end tests"
bash e2e/run.sh
