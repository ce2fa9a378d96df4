#!/usr/bin/env bash
# Start-up time, idle memory and authenticated GET /api/v1/me throughput of the release binary
# on the embedded default (SQLite), and memory after a one-minute alert flood.
# Usage: bench/platform.sh   (needs wrk; builds --release)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
KEEL=target/release/keel
DIR=$(mktemp -d)
PORT=${PORT:-18181}
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT

start() {
  local t0 t1
  t0=$(date +%s%N)
  KEEL_RATE_LIMIT_PER_MINUTE=100000000 KEEL_INGEST_RATE_LIMIT_PER_MINUTE=100000000 RUST_LOG=warn $KEEL --data-dir "$DIR" --listen 127.0.0.1:$PORT serve > "$DIR/out" 2>&1 &
  PID=$!
  until grep -q "listening" "$DIR/out" 2>/dev/null; do sleep 0.002; done
  t1=$(date +%s%N)
  MS=$(( (t1 - t0) / 1000000 ))
}

start; echo "first start (creates database, key, runs migrations): $MS ms"
kill $PID; wait $PID 2>/dev/null || true
for i in 1 2 3; do
  start; echo "start on existing data, run $i: $MS ms"
  [ "$i" = 3 ] || { kill $PID; wait $PID 2>/dev/null || true; }
done
sleep 2
rss() { awk '/^(VmRSS|RssAnon|RssFile)/ {printf "%s %s %s  ", $1, $2, $3}' /proc/$PID/status; echo; }
echo "idle: $(rss)"
kill $PID; wait $PID 2>/dev/null || true

echo "correct horse battery" | $KEEL --data-dir "$DIR" user create --email bench@example.com --password-stdin --admin > /dev/null
TOKEN=$($KEEL --data-dir "$DIR" token create --user bench@example.com --name bench 2>/dev/null)
start
wrk -t2 -c32 -d10s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/me"
echo "after the load: $(rss)"

# One minute of Events v2 triggers over 16 connections (5,000 dedup keys cycling, so most
# are duplicates of open incidents), then memory once the server has been idle for 10 s.
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
BASE="http://127.0.0.1:$PORT"
TEAM=$(api -d '{"name":"Flood"}' "$BASE/api/v1/teams" | field id)
SERVICE=$(api -d "{\"team_id\":$TEAM,\"name\":\"flood\"}" "$BASE/api/v1/services" | field id)
KEY=$(api -d '{"type":"events_v2","name":"flood"}' "$BASE/api/v1/services/$SERVICE/integrations" | field key)
cat > "$DIR/flood.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"routing_key":"$KEY","event_action":"trigger","dedup_key":"k%d",'
    .. '"payload":{"summary":"disk full","source":"db%d","severity":"critical"}}', n % 5000, n % 7)
  return wrk.format("POST", "/v2/enqueue", {["Content-Type"] = "application/json"}, body)
end
LUA
wrk -t1 -c16 -d60s --latency -s "$DIR/flood.lua" "$BASE/v2/enqueue" | grep -E "Requests/sec|99%|Non-2xx"
echo "right after the flood: $(rss)"
sleep 10
echo "10 s after the flood: $(rss)"
