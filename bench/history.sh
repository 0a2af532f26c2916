#!/usr/bin/env bash
# Benchmarks the Chat Service's history read (`GET /messages?peer_id=&limit=20`, the token check
# included) on PostgreSQL with the cache off, on (in-process) and, when Redis answers, on
# (Redis). Results go to stdout; docs/benchmarks.md explains them.
#
#   bench/history.sh                       # defaults below
#   DURATION=30 CONCURRENCY=32 bench/history.sh
#
# Needs: a local PostgreSQL the `postgres` user can create databases in (createdb/dropdb),
# curl, jq; optionally a local Redis (redis-cli). It creates the database `missive_bench` and
# drops it afterwards. Everything stays on 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
REDIS=${REDIS:-redis://127.0.0.1:6379}
DB=missive_bench
PORT=${PORT:-8099}
DURATION=${DURATION:-15}
CONCURRENCY=${CONCURRENCY:-16}
MESSAGES=${MESSAGES:-200}
BASE="http://127.0.0.1:$PORT"
REDIS_PREFIX="missive-bench-$$"
SERVER_PID=""

source bench/lib.sh

cleanup() {
    stop_server
    dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB" || true
    if command -v redis-cli >/dev/null && redis-cli -u "$REDIS" ping >/dev/null 2>&1; then
        forget_redis_keys "$REDIS" "$REDIS_PREFIX"
    fi
}
trap cleanup EXIT

# start_server CACHE [REDIS_URL]
start_server() {
    local log="target/bench-server-$1${2:+-redis}.log"
    env DATABASE_URL="postgres://$PGUSER@$PGHOST:5432/$DB" \
        SECRET_KEY="bench-secret-key-that-is-at-least-32-bytes-long" \
        MISSIVE_BIND="127.0.0.1:$PORT" MISSIVE_RATE_LIMITS=off MISSIVE_LOG=warn \
        MISSIVE_CACHE="$1" ${2:+REDIS_URL="$2"} MISSIVE_REDIS_PREFIX="$REDIS_PREFIX" \
        target/release/missive >"$log" 2>&1 &
    SERVER_PID=$!
    wait_ready "$BASE/readyz" "$log"
}

post() { curl -fsS "$BASE$1" -H 'content-type: application/json' "${@:3}" -d "$2"; }

# load LABEL: a short warm-up, then the measured run.
load() {
    local url="$BASE/messages?peer_id=$BOB&limit=20"
    target/release/examples/loadgen --url "$url" --token "$TOKEN" \
        --concurrency "$CONCURRENCY" --duration 3 --label warm-up >/dev/null
    target/release/examples/loadgen --url "$url" --token "$TOKEN" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --label "$1"
}

echo "building (release)..." >&2
cargo build --release -q -p missive --bin missive --example loadgen

dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
createdb -h "$PGHOST" -U "$PGUSER" "$DB"

start_server off
password=correct-horse-battery
for name in alice bob; do
    post /register "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"$password\"}" >/dev/null
done
TOKEN=$(post /login "{\"username\":\"alice\",\"password\":\"$password\"}" | jq -r .access_token)
BOB_TOKEN=$(post /login "{\"username\":\"bob\",\"password\":\"$password\"}" | jq -r .access_token)
ALICE=$(curl -fsS "$BASE/v1/users/me" -H "authorization: Bearer $TOKEN" | jq -r .id)
BOB=$(curl -fsS "$BASE/v1/users/me" -H "authorization: Bearer $BOB_TOKEN" | jq -r .id)
for n in $(seq "$MESSAGES"); do
    if ((n % 2)); then
        post /send "{\"recipient_id\":$BOB,\"content\":\"message $n from alice\"}" \
            -H "authorization: Bearer $TOKEN" >/dev/null
    else
        post /send "{\"recipient_id\":$ALICE,\"content\":\"message $n from bob\"}" \
            -H "authorization: Bearer $BOB_TOKEN" >/dev/null
    fi
done
echo "$MESSAGES messages between alice ($ALICE) and bob ($BOB); $CONCURRENCY workers, ${DURATION}s each" >&2

load "cache off"
stop_server

start_server on
load "cache on (in-process)"
stop_server

if command -v redis-cli >/dev/null && redis-cli -u "$REDIS" ping >/dev/null 2>&1; then
    start_server on "$REDIS"
    load "cache on (Redis)"
    stop_server
else
    echo "no Redis at $REDIS: skipping the Redis run" >&2
fi
