#!/usr/bin/env bash
# Load test on this machine: builds pusher-authd, runs it on 127.0.0.1 with
# the embedded development config and bench/load against it for a private,
# a presence and a sign-in request. Everything stops by itself.
#   DURATION     seconds per scenario (default 10)
#   CONCURRENCY  concurrent connections (default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-10}"
concurrency="${CONCURRENCY:-16}"
port=18089
tmp="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/pusher-authd" .
go build -o "$tmp/load" ./bench/load
PUSHER_AUTHD_LOG_LEVEL=warn "$tmp/pusher-authd" serve --listen "127.0.0.1:$port" 2>"$tmp/service.log" &
pid=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
token="$("$tmp/pusher-authd" token --sub user-1 --claim name="User One")"

run() {
  echo "== $1"
  "$tmp/load" -url "http://127.0.0.1:$port$2" -token "$token" -body "$3" -c "$concurrency" -d "${duration}s"
}
run "private channel" /pusher/auth "socket_id=1234.1234&channel_name=private-user-user-1"
run "presence channel" /pusher/auth "socket_id=1234.1234&channel_name=presence-room-lobby"
run "sign-in" /pusher/user-auth "socket_id=1234.1234"
