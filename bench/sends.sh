#!/usr/bin/env bash
# Measures the Chat Service's `POST /send` on SQLite at both durability settings
# (MISSIVE_SQLITE_SYNCHRONOUS=full, the default, and normal), with the load generator
# `crates/server/examples/loadgen.rs`, and prints one line per setting. Everything stays on
# 127.0.0.1; the database lives in a temporary directory.
#
#   bench/sends.sh                          # DURATION=10 CONCURRENCY=64
set -euo pipefail

cd "$(dirname "$0")/.."
PORT=${PORT:-8098}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER_PID=""

source bench/lib.sh
trap 'stop_server; rm -rf "$WORK"' EXIT

cargo build --release -q -p missive --bin missive --example loadgen
TARGET=${CARGO_TARGET_DIR:-target}

for sync in full normal; do
    rm -f "$WORK"/bench.db*
    env -i PATH="$PATH" DATABASE_URL="sqlite://$WORK/bench.db" MISSIVE_BIND="127.0.0.1:$PORT" \
        MISSIVE_RATE_LIMITS=off MISSIVE_LOG=warn MISSIVE_SQLITE_SYNCHRONOUS="$sync" \
        "$TARGET/release/missive" serve >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "$BASE/readyz" "$WORK/server.log"
    register() {
        curl -sf "$BASE/register" -H 'content-type: application/json' \
            -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"correct-horse-battery\"}" \
            | jq -r .id
    }
    register alice >/dev/null
    BOB=$(register bob)
    TOKEN=$(curl -sf "$BASE/login" -H 'content-type: application/json' \
        -d '{"username":"alice","password":"correct-horse-battery"}' | jq -r .access_token)
    "$TARGET/release/examples/loadgen" --url "$BASE/send" --token "$TOKEN" \
        --body "{\"recipient_id\": $BOB, \"content\": \"hello\"}" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --label "POST /send, synchronous=$sync"
    echo "    peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$SERVER_PID/status")"
    stop_server
done
