#!/usr/bin/env bash
# The performance benchmark, in one command: builds the release binaries, measures the
# ceilings (the database's own rate for a send's transaction, and a bare axum + JWT server),
# then runs missive on SQLite (default durability, synchronous=FULL) and on PostgreSQL + Redis,
# each on a fresh database seeded with 200 users in 200 conversations of 25 messages, and
# measures sends, cached history reads, a 90/10 read/send mix, single-connection send
# latency, bursts of 64 concurrent logins and registrations, and resident memory. Prints one
# table of figures, ceilings, ratios and goals (docs/benchmarks.md explains them) and saves it,
# with the raw output, under the target directory.
#
#   bench/run.sh                    # about 3 minutes after the build
#   DURATION=20 bench/run.sh        # seconds per measured load run (default 10)
#
# Needs: cargo, curl, jq, a local PostgreSQL the `postgres` user can create databases in
# (psql, createdb, dropdb, pgbench: apt-get install postgresql-client postgresql-contrib), a
# local Redis (redis-cli: apt-get install redis-tools), and Linux (/proc for memory figures).
# It creates and drops the database missive_bench_<pid>, uses Redis keys under
# missive-bench-<pid>: (deleted afterwards) and a temporary directory. Everything stays on
# 127.0.0.1, and every load run is bounded in time.
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
REDIS=${REDIS:-redis://127.0.0.1:6379}
PORT=${PORT:-8096}
BARE_PORT=${BARE_PORT:-8097}
DURATION=${DURATION:-10}
SINGLE_DURATION=${SINGLE_DURATION:-5}
CONCURRENCY=64
BURST=64
USERS=200
MESSAGES=25
PASSWORD=correct-horse-battery
BASE="http://127.0.0.1:$PORT"
DB="missive_bench_$$"
REDIS_PREFIX="missive-bench-$$"
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
OUT_DIR="$TARGET/bench"
STAMP=$(date +%Y%m%d-%H%M%S)
LOG="$OUT_DIR/run-$STAMP.log"
TABLE="$OUT_DIR/run-$STAMP.txt"
WORK=$(mktemp -d)
SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
SERVER_PID=""
SERVER_LOG=""
BARE_PID=""
DB_CREATED=""

for tool in cargo curl jq psql createdb dropdb pgbench redis-cli; do
    command -v "$tool" >/dev/null || die "needs $tool (pgbench: apt-get install postgresql-contrib;" \
        "psql/createdb/dropdb: postgresql-client; redis-cli: redis-tools)"
done
[[ -r /proc/self/status ]] || die "needs Linux /proc for the memory figures"
pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null || psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" \
    -Atc 'select 1' postgres >/dev/null || die "no PostgreSQL at $PGHOST:$PGPORT (user $PGUSER)"
redis-cli -u "$REDIS" ping >/dev/null 2>&1 || die "no Redis at $REDIS"
export PGHOST PGPORT PGUSER

cleanup() {
    stop SERVER_PID
    stop BARE_PID
    if [[ -n "$DB_CREATED" ]]; then
        dropdb --if-exists "$DB" || true
    fi
    forget_redis_keys "$REDIS" "$REDIS_PREFIX"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT_DIR"
: >"$LOG"

# ---- results ---------------------------------------------------------------------------------
ROWS=()
row() { ROWS+=("$1|$2|$3|$4|$5|$6"); } # FIGURE VALUE CEILING RATIO GOAL RESULT
ratio() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.*f", d, a / b }'; }

# Parsing loadgen's result line (see crates/server/examples/loadgen.rs).
rps() { sed -E 's/.* = ([0-9]+) req\/s.*/\1/' <<<"$1"; }
pct() { sed -E "s/.* $2 ([0-9.]+|NaN).*/\1/" <<<"$1"; }
failed() { sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$1"; }
secs() { sed -E 's/.* in ([0-9.]+) s = .*/\1/' <<<"$1"; }

ERRORS=0
# load LABEL LOADGEN_ARGS...: one loadgen run; its first line goes to LINE.
load() {
    local label=$1 out
    shift
    out=$("$TARGET/release/examples/loadgen" --label "$label" "$@")
    echo "$out" | tee -a "$LOG" >&2
    LINE=${out%%$'\n'*}
    ERRORS=$((ERRORS + $(failed "$LINE")))
}

# ---- memory of the server --------------------------------------------------------------------
# In MB (10^6 bytes); /proc gives KiB.
mem() { awk -v f="$1:" '$1 == f { printf "%.1f", $2 * 1.024 / 1000 }' "/proc/$SERVER_PID/status"; }
PEAKS=""
PEAK_MAX=0
PEAK_WHERE=""
# Peak resident memory (VmHWM) is measured per scenario: reset before, read after.
reset_peak() { echo 5 >"/proc/$SERVER_PID/clear_refs"; }
note_peak() {
    local peak
    peak=$(mem VmHWM)
    PEAKS+="${PEAKS:+, }$1 $peak"
    if [[ $(calc "$peak > $PEAK_MAX ? 1 : 0") == 1 ]]; then
        PEAK_MAX=$peak
        PEAK_WHERE=$1
    fi
}

start_missive() { # NAME DATABASE_URL [VAR=VALUE...]
    local name=$1 url=$2
    shift 2
    # From the temporary directory, so that no .env file is read.
    (cd "$WORK" && exec env -i PATH="$PATH" DATABASE_URL="$url" SECRET_KEY="$SECRET" \
        MISSIVE_BIND="127.0.0.1:$PORT" MISSIVE_RATE_LIMITS=off MISSIVE_LOG=warn "$@" \
        "$TARGET/release/missive" serve) >"$WORK/missive-$name.log" 2>&1 &
    SERVER_PID=$!
    SERVER_LOG="$WORK/missive-$name.log"
    wait_ready "$BASE/readyz" "$SERVER_LOG"
}

# Registers u0..u199 (each reply carries the id and a token), then has each user u_k send
# 25 messages to u_(k+1): 200 conversations. The users file gives worker k user k's token and
# u_(k+1)'s id, so 64 workers are 64 users, each in a conversation of their own.
seed() {
    seq 0 $((USERS - 1)) | xargs -P 4 -I{} curl -fsS -w '\n' "$BASE/v1/auth/register" \
        -H 'content-type: application/json' \
        -d '{"username":"user{}","email":"user{}@example.com","password":"'"$PASSWORD"'"}' \
        | jq -r '[(.user.username[4:] | tonumber), .user.id, .access_token] | @tsv' \
        | sort -n >"$WORK/seeded.tsv"
    [[ $(wc -l <"$WORK/seeded.tsv") -eq $USERS ]] || die "seeding: not every user registered"
    awk -F'\t' -v n="$USERS" '{ id[NR - 1] = $2; token[NR - 1] = $3 }
        END { for (k = 0; k < n; k++) print token[k], id[(k + 1) % n] }' \
        "$WORK/seeded.tsv" >"$WORK/users.txt"
    load "seed: $USERS users send $MESSAGES messages each" --url "$BASE/send" \
        --users "$WORK/users.txt" --body '{"recipient_id": {peer}, "content": "seed message"}' \
        --concurrency "$USERS" --count "$MESSAGES" --duration 120
    [[ $(failed "$LINE") -eq 0 ]] || die "seeding: some sends failed"
}

SEND_BODY='{"recipient_id": {peer}, "content": "hello"}'
READ_URL="$BASE/messages?peer_id={peer}&limit=20"

# prepare NAME: the idle memory of the fresh server, then the seed.
prepare() {
    PEAKS=""
    PEAK_MAX=0
    sleep 1
    IDLE=$(mem VmRSS)
    say "== $1: idle RSS after start $IDLE MB"
    reset_peak
    seed
    note_peak seed
}

# measure NAME SEND_CEILING P50_GOAL_MS TX_LATENCY_MS: every scenario against the running,
# seeded missive.
measure() {
    local name=$1 ceiling=$2 p50_goal=$3 tx_latency=$4 idle=$IDLE p50 p99

    reset_peak
    load "$name: POST /send" --url "$BASE/send" --users "$WORK/users.txt" --body "$SEND_BODY" \
        --concurrency "$CONCURRENCY" --duration "$DURATION"
    note_peak sends
    p50=$(pct "$LINE" p50)
    p99=$(pct "$LINE" p99)
    row "sends/s, $CONCURRENCY conn ($name)" "$(rps "$LINE")" "$ceiling" \
        "$(ratio "$(rps "$LINE")" "$ceiling" 2)" ">= 0.6 x" \
        "$(yes_if "$(rps "$LINE") >= 0.6 * $ceiling")"
    row "  send p99 / p50, $CONCURRENCY conn ($name)" "$p99 / $p50 ms" "" \
        "$(ratio "$p99" "$p50" 1)" "<= 10" "$(yes_if "$p99 <= 10 * $p50")"

    reset_peak
    load "$name: GET /messages, warm-up" --url "$READ_URL" --users "$WORK/users.txt" \
        --concurrency "$CONCURRENCY" --duration 2 >/dev/null
    load "$name: GET /messages (cached)" --url "$READ_URL" --users "$WORK/users.txt" \
        --concurrency "$CONCURRENCY" --duration "$DURATION"
    note_peak reads
    row "cached reads/s, $CONCURRENCY conn ($name)" "$(rps "$LINE")" "$BARE_RPS" \
        "$(ratio "$(rps "$LINE")" "$BARE_RPS" 2)" ">= 0.5 x" \
        "$(yes_if "$(rps "$LINE") >= 0.5 * $BARE_RPS")"

    reset_peak
    load "$name: 90% GET /messages, 10% POST /send" --url "$READ_URL" \
        --users "$WORK/users.txt" --mix-url "$BASE/send" --mix-body "$SEND_BODY" \
        --mix-percent 10 --concurrency "$CONCURRENCY" --duration "$DURATION"
    note_peak mix
    p50=$(pct "$LINE" p50)
    p99=$(pct "$LINE" p99)
    row "mix 90/10 req/s, $CONCURRENCY conn ($name)" "$(rps "$LINE")" "" "" "" ""
    row "  mix p99 / p50 ($name)" "$p99 / $p50 ms" "" "$(ratio "$p99" "$p50" 1)" \
        "<= 10" "$(yes_if "$p99 <= 10 * $p50")"

    reset_peak
    load "$name: POST /send, one connection" --url "$BASE/send" --users "$WORK/users.txt" \
        --body "$SEND_BODY" --concurrency 1 --duration "$SINGLE_DURATION"
    note_peak single
    p50=$(pct "$LINE" p50)
    row "send p50, one connection ($name)" "$p50 ms ($(rps "$LINE")/s)" "$tx_latency ms" \
        "$(ratio "$p50" "$tx_latency" 1)" \
        "<= $p50_goal ms" "$(yes_if "$p50 <= $p50_goal")"

    reset_peak
    load "$name: $BURST concurrent logins" --url "$BASE/login" \
        --body '{"username": "user{n}", "password": "'"$PASSWORD"'"}' \
        --concurrency "$BURST" --count 1 --duration 60
    note_peak logins
    row "$BURST concurrent logins ($name)" "$(secs "$LINE") s, $(failed "$LINE") errors" "" "" \
        "0 errors" "$(yes_if "$(failed "$LINE") == 0")"

    reset_peak
    load "$name: $BURST concurrent registrations" --url "$BASE/register" \
        --body '{"username": "burst{n}", "email": "burst{n}@example.com", "password": "'"$PASSWORD"'"}' \
        --concurrency "$BURST" --count 1 --duration 60
    note_peak registrations
    row "$BURST concurrent registrations ($name)" "$(secs "$LINE") s, $(failed "$LINE") errors" \
        "" "" "0 errors" "$(yes_if "$(failed "$LINE") == 0")"

    row "idle RSS after start ($name)" "$idle MB" "" "" "<= 30 MB" "$(yes_if "$idle <= 30")"
    row "peak RSS, worst scenario ($name)" "$PEAK_MAX MB ($PEAK_WHERE)" "" "" "<= 200 MB" \
        "$(yes_if "$PEAK_MAX <= 200")"
    say "== $name: peak RSS (MB) by scenario: $PEAKS"
    PEAK_LINES+=("peak RSS MB by scenario ($name): $PEAKS")
    sleep 2
    say "== $name: RSS after the runs, 2 s idle: $(mem VmRSS) MB"
    if grep -qi panic "$SERVER_LOG"; then
        say "== $name: the server log mentions a panic:"
        grep -i -A3 panic "$SERVER_LOG" | tee -a "$LOG" >&2
    fi
}
PEAK_LINES=()

# The bare axum + JWT server under the same load as the cached reads (the seeded users' tokens
# verify there too: same key).
measure_bare() {
    say "== ceiling: bare axum + JWT, $CONCURRENCY connections, ${DURATION}s"
    SECRET_KEY="$SECRET" "$TARGET/release/examples/bare_jwt" --port "$BARE_PORT" \
        --max-seconds 300 >"$WORK/bare.log" 2>&1 &
    BARE_PID=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$BARE_PORT/messages" && break
        sleep 0.1
    done
    load "bare axum + JWT: GET /messages, warm-up" --url "http://127.0.0.1:$BARE_PORT/messages" \
        --users "$WORK/users.txt" --concurrency "$CONCURRENCY" --duration 2 >/dev/null
    load "bare axum + JWT: GET /messages" --url "http://127.0.0.1:$BARE_PORT/messages" \
        --users "$WORK/users.txt" --concurrency "$CONCURRENCY" --duration "$DURATION"
    BARE_RPS=$(rps "$LINE")
    stop BARE_PID
    row "ceiling: bare axum + JWT, req/s at $CONCURRENCY conn" "" "$BARE_RPS" "" "" ""
}

# ---- build -----------------------------------------------------------------------------------
say "== building (release)"
cargo build --release -q -p missive --bin missive --example loadgen --example bare_jwt
cargo build --release -q -p missive-store --example sqlite_ceiling

# ---- SQLite ----------------------------------------------------------------------------------
say "== ceiling: the send transaction on SQLite, one connection, ${DURATION}s"
out=$("$TARGET/release/examples/sqlite_ceiling" "$WORK/ceiling.db" "$DURATION" full)
say "$out"
SQLITE_CEILING=$(sed -E 's/.* = ([0-9]+) tx\/s.*/\1/' <<<"$out")
SQLITE_P50=$(sed -E 's/.* p50 ([0-9.]+) .*/\1/' <<<"$out")
rm -f "$WORK"/ceiling.db*
row "ceiling: SQLite send transaction, tx/s" "" "$SQLITE_CEILING" "" "" ""

start_missive sqlite "sqlite://$WORK/missive.db"
prepare SQLite
# Measured here, while missive sits idle, because it needs the seeded users' tokens.
measure_bare
measure SQLite "$SQLITE_CEILING" 0.5 "$SQLITE_P50"
stop SERVER_PID

# ---- PostgreSQL + Redis ----------------------------------------------------------------------
createdb "$DB"
DB_CREATED=1
say "== ceiling: the send transaction on PostgreSQL with pgbench (copy of missive's tables)"
# A scratch schema with missive's own migrations, seeded as missive is, dropped afterwards.
psql_bench() { PGOPTIONS="-c search_path=ceiling" psql -q -X -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -c 'CREATE SCHEMA ceiling'
psql_bench -f crates/store/migrations/postgres/0001_init.sql \
    -f crates/store/migrations/postgres/0002_sessions_idempotency_read_state.sql \
    -f crates/store/migrations/postgres/0003_events.sql >/dev/null
psql_bench <<SQL
INSERT INTO users (id, username, email, password_hash, created_at, last_active_at)
    SELECT g, 'u' || g, 'u' || g || '@example.com', 'not a hash', 0, 0
    FROM generate_series(1, $USERS) g;
INSERT INTO event_heads (user_id) SELECT id FROM users;
INSERT INTO conversations (id, direct_low, direct_high, last_seq, created_at, last_message_at)
    SELECT g, least(g, g % $USERS + 1), greatest(g, g % $USERS + 1), $MESSAGES, 0, $MESSAGES
    FROM generate_series(1, $USERS) g;
INSERT INTO conversation_members (conversation_id, user_id, joined_at)
    SELECT id, direct_low, 0 FROM conversations UNION ALL SELECT id, direct_high, 0 FROM conversations;
INSERT INTO messages (conversation_id, seq, sender_id, content, created_at)
    SELECT c.id, s, c.direct_low, 'seed message', s
    FROM conversations c, generate_series(1, $MESSAGES) s;
ANALYZE;
SQL
# 32 and 64 clients for the ceiling; 16 (missive's pool size) for comparison; one client for
# the latency of a lone send's transaction.
PG_CEILING=0
for clients in 16 32 64 1; do
    seconds=$DURATION
    if ((clients == 1)); then seconds=$SINGLE_DURATION; fi
    out=$(PGOPTIONS="-c search_path=ceiling" pgbench -n -M prepared -c "$clients" -j 2 \
        -T "$seconds" -f bench/pg_send.sql "$DB" 2>&1)
    echo "$out" >>"$LOG"
    tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out" | xargs printf %.0f)
    PG_LATENCY=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' <<<"$out")
    say "pgbench, $clients clients: $tps tps, latency average $PG_LATENCY ms"
    if ((clients == 1)); then
        continue # the ceiling of the single-connection row
    fi
    row "ceiling: pgbench send transaction, -c $clients, tps" "" "$tps" "" "" ""
    if ((clients >= 32 && tps > PG_CEILING)); then PG_CEILING=$tps; fi
done
psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -c 'SET client_min_messages = warning' \
    -c 'DROP SCHEMA ceiling CASCADE'

start_missive postgres "postgres://$PGUSER@$PGHOST:$PGPORT/$DB" REDIS_URL="$REDIS" \
    MISSIVE_REDIS_PREFIX="$REDIS_PREFIX"
prepare PostgreSQL
measure PostgreSQL "$PG_CEILING" 1 "$PG_LATENCY"
stop SERVER_PID
dropdb "$DB"
DB_CREATED=""

row "errors in all runs (5xx, other non-2xx, socket)" "$ERRORS" "" "" "0" "$(yes_if "$ERRORS == 0")"

# ---- the table -------------------------------------------------------------------------------
{
    echo "missive benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (modified)')"
    echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))," \
        "$(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1024 / 1024 }' /proc/meminfo) RAM," \
        "$(uname -sr); $(psql -X -Atc 'show server_version' postgres | cut -d' ' -f1 | sed 's/^/PostgreSQL /')," \
        "Redis $(redis-cli -u "$REDIS" info server | sed -n 's/^redis_version:\(.*\)\r$/\1/p'), $(rustc --version | cut -d' ' -f1-2)"
    echo "load: ${DURATION}s per run, $CONCURRENCY connections unless said; $USERS users, $USERS conversations of $MESSAGES messages"
    echo
    printf '%-48s %-24s %-10s %-6s %-9s %s\n' figure missive ceiling ratio goal result
    printf '%-48s %-24s %-10s %-6s %-9s %s\n' "$(printf '%.0s-' {1..48})" "$(printf '%.0s-' {1..24})" \
        ---------- ------ --------- -------
    for line in "${ROWS[@]}"; do
        IFS='|' read -r figure value ceiling ratio goal result <<<"$line"
        printf '%-48s %-24s %-10s %-6s %-9s %s\n' "$figure" "$value" "$ceiling" "$ratio" "$goal" "$result"
    done
    echo
    printf '%s\n' "${PEAK_LINES[@]}"
} >"$TABLE"
echo
cat "$TABLE"
echo
echo "saved to $TABLE (raw output: $LOG)"
