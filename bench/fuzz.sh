#!/usr/bin/env bash
# Fuzzes the API from its own OpenAPI document with schemathesis: builds and starts the release
# binary on a temporary SQLite file (rate limits off), registers a user, and sends generated
# requests (valid and invalid) to every operation with that user's bearer token. Fails on any
# 5xx, or on a response whose status, content type, headers or body the document does not
# declare, or when the server accepts a request the document says is invalid.
#
#   bench/fuzz.sh                  # about 3 minutes
#   MAX_TIME=600 bench/fuzz.sh     # longer
#
# Needs: curl, jq, python3 (schemathesis is installed into target/fuzz-venv when `st` is not on
# the PATH). Everything stays on 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
PORT=${PORT:-8098}
MAX_TIME=${MAX_TIME:-150}
BASE="http://127.0.0.1:$PORT"
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
WORK=$(mktemp -d)
SERVER_PID=""

source bench/lib.sh
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v st >/dev/null; then
    if [[ ! -x "$TARGET/fuzz-venv/bin/st" ]]; then
        echo "== installing schemathesis into $TARGET/fuzz-venv"
        python3 -m venv "$TARGET/fuzz-venv"
        "$TARGET/fuzz-venv/bin/pip" install --quiet schemathesis
    fi
    PATH="$TARGET/fuzz-venv/bin:$PATH"
fi

echo "== cargo build --release"
cargo build --release --quiet

echo "== starting missive on $BASE"
env DATABASE_URL="sqlite://$WORK/fuzz.db" MISSIVE_BIND="127.0.0.1:$PORT" \
    MISSIVE_RATE_LIMITS=off MISSIVE_LOG=warn \
    "$TARGET/release/missive" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$BASE/readyz" "$WORK/server.log"

# A token whose session outlives the run: the operations that end sessions get their own
# token, in a second, short run after the first.
token() {
    curl -sf "$BASE/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"username\": \"$1\", \"email\": \"$1@example.com\", \"password\": \"fuzz-password-1\"}" \
        | jq -er .access_token
}

# Every check but positive_data_acceptance, which cannot hold here: the document cannot say
# that `before` and `after` exclude each other, that a cursor must be one the API gave out, that
# no string in a body may hold NUL, or that an integer may not be written as 1.0.
fuzz() { # fuzz TOKEN SECONDS ARGS...
    local token=$1 seconds=$2
    shift 2
    # From the temporary directory, where schemathesis leaves its cache.
    (cd "$WORK" && st run "$BASE/openapi.json" --header "Authorization: Bearer $token" \
        --checks all --exclude-checks positive_data_acceptance \
        --max-time "$seconds" --workers 2 --suppress-health-check all --warnings off "$@")
}

ENDS_SESSIONS='^/v1/(auth/logout|sessions/\{id\})'
status=0
echo "== fuzzing every operation but those that end sessions (${MAX_TIME}s)"
fuzz "$(token fuzzer)" "$MAX_TIME" --exclude-path-regex "$ENDS_SESSIONS" || status=$?
echo "== fuzzing the operations that end sessions (20s)"
fuzz "$(token ender)" 20 --include-path-regex "$ENDS_SESSIONS" || status=$?

if grep -q -i 'panic' "$WORK/server.log"; then
    echo "fuzz: the server panicked:" >&2
    grep -i -A5 'panic' "$WORK/server.log" >&2
    status=1
fi
exit "$status"
