#!/usr/bin/env bash
# Load test on this machine: builds pusher-authd, runs it on 127.0.0.1 with
# the embedded development config and bench/load against it for a private,
# a presence and a sign-in request. Everything stops by itself. The decision
# log goes to a temporary file, so its cost is part of the numbers.
#   DURATION     seconds per scenario (default 10)
#   CONCURRENCY  concurrent connections (default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-10}"
concurrency="${CONCURRENCY:-16}"
tmp="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/pusher-authd" .
go build -o "$tmp/load" ./bench/load
# Port 0 picks a free port, and the "listening" log line contains it, so the
# load can never hit another process that uses a fixed port.
PUSHER_AUTHD_LOG_FORMAT=json PUSHER_AUTHD_LOG_LEVEL=info \
  "$tmp/pusher-authd" serve --listen 127.0.0.1:0 2>"$tmp/service.log" &
pid=$!
addr=""
for _ in $(seq 100); do
  addr="$(sed -n 's/.*"msg":"listening","addr":"\([^"]*\)".*/\1/p' "$tmp/service.log" | head -n 1)"
  [[ -n "$addr" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/service.log" >&2; echo "bench: pusher-authd exited" >&2; exit 1; }
  sleep 0.1
done
if [[ -z "$addr" ]]; then
  cat "$tmp/service.log" >&2
  echo "bench: pusher-authd did not start listening" >&2
  exit 1
fi
port="${addr##*:}"
token="$("$tmp/pusher-authd" token --sub user-1 --claim name="User One")"

run() {
  echo "== $1"
  "$tmp/load" -url "http://127.0.0.1:$port$2" -token "$token" -body "$3" -c "$concurrency" -d "${duration}s"
}
run "private channel" /pusher/auth "socket_id=1234.1234&channel_name=private-user-user-1"
run "presence channel" /pusher/auth "socket_id=1234.1234&channel_name=presence-room-lobby"
run "sign-in" /pusher/user-auth "socket_id=1234.1234"
