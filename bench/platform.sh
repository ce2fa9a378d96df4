#!/usr/bin/env bash
# Start-up time, idle memory and authenticated GET /api/v1/me throughput of the release binary
# on the embedded default (SQLite). Usage: bench/platform.sh   (needs wrk; builds --release)
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
  KEEL_RATE_LIMIT_PER_MINUTE=100000000 RUST_LOG=warn $KEEL --data-dir "$DIR" --listen 127.0.0.1:$PORT serve > "$DIR/out" 2>&1 &
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
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
kill $PID; wait $PID 2>/dev/null || true

echo "correct horse battery" | $KEEL --data-dir "$DIR" user create --email bench@example.com --password-stdin --admin > /dev/null
TOKEN=$($KEEL --data-dir "$DIR" token create --user bench@example.com --name bench 2>/dev/null)
start
wrk -t2 -c32 -d10s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/me"
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
