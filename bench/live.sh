#!/usr/bin/env bash
# The live-delivery benchmark (the figures of the design's "Figures to reach"), in one command:
# builds the release binaries, starts missive on a fresh SQLite file and runs the four
# scenarios of the client `crates/server/examples/live_bench.rs`:
#
#   idle       IDLE idle WebSockets (as IDLE_USERS users); the server's resident memory before,
#              with them open (IDLE_HOLD seconds after the last opened; 35 also sees every
#              socket through one round of the server's pings), and after they closed;
#   latency    STREAMS open WebSockets (one user each); MESSAGES messages at RATE/s from
#              SENDERS senders, first with no stream open, then with them: send -> event latency
#              at the receiving socket, events lost, and a send's cost with / without streams;
#   reconnect  CLIENTS clients read to ready, disconnect, miss MISSED messages each, and
#              reconnect at once with their cursors: errors, events lost, time to catch up;
#   group      a group of MEMBERS members, each with a stream open; SENDS messages sent into it
#              one at a time by its members in turn: the send's HTTP time, the time until the
#              last stream has the event, events lost, and the server's peak RSS meanwhile;
#
# then, if PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer, starts TWO instances
# on a fresh PostgreSQL database with Redis and runs `latency` and `group` with the streams on
# instance B and the sends on instance A. Prints a table of figures and goals and saves it, the
# raw output and the servers' logs under the target directory.
#
#   bench/live.sh                                               # a few minutes after the build
#   STREAMS=200 IDLE=2000 CLIENTS=200 MEMBERS=200 bench/live.sh # smaller
#   SKIP_PG=1 bench/live.sh                                     # SQLite only
#
# Needs: cargo, curl, Linux (/proc for memory); for the second part psql, createdb, dropdb
# (postgresql-client) and redis-cli (redis-tools), with a PostgreSQL the `postgres` user can
# create databases in. It creates and drops the database missive_live_<pid>, uses Redis keys
# under missive-live-<pid>: (deleted afterwards) and a temporary directory; everything stays
# on 127.0.0.1, every scenario is bounded in time, and every process it starts is stopped.
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
REDIS=${REDIS:-redis://127.0.0.1:6379}
PORT=${PORT:-8110}
PORT_B=${PORT_B:-8111}
STREAMS=${STREAMS:-1000}
SENDERS=${SENDERS:-10}
MESSAGES=${MESSAGES:-2000}
RATE=${RATE:-200}
IDLE=${IDLE:-10000}
IDLE_USERS=${IDLE_USERS:-20}
IDLE_HOLD=${IDLE_HOLD:-5}
CLIENTS=${CLIENTS:-1000}
CLIENT_USERS=${CLIENT_USERS:-$CLIENTS}
MISSED=${MISSED:-5}
MEMBERS=${MEMBERS:-1000}
SENDS=${SENDS:-50}
SKIP_PG=${SKIP_PG:-}
BASE="http://127.0.0.1:$PORT"
BASE_B="http://127.0.0.1:$PORT_B"
DB="missive_live_$$"
REDIS_PREFIX="missive-live-$$"
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
BENCH="$TARGET/release/examples/live_bench"
OUT_DIR="$TARGET/bench"
STAMP=$(date +%Y%m%d-%H%M%S)
LOG="$OUT_DIR/live-$STAMP.log"
TABLE="$OUT_DIR/live-$STAMP.txt"
WORK=$(mktemp -d)
PAUSE="$WORK/pause"
SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
# Room for every idle socket and then some: the default cap (10 000) would leave none for
# anything else while 10 000 sockets are open.
MAX_CONNECTIONS=$((IDLE + 2000))
# The server's default (1000) unless the group is larger.
MAX_GROUP_MEMBERS=$((MEMBERS > 1000 ? MEMBERS : 1000))
SERVER_PID=""
SERVER_B_PID=""
BENCH_PID=""
DB_CREATED=""
REDIS_USED=""

for tool in cargo curl; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
[[ -r /proc/self/status ]] || die "needs Linux /proc for the memory figures"
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < MAX_CONNECTIONS + 200)); then
    die "the open-file hard limit ($hard) cannot hold $IDLE sockets; raise it or lower IDLE"
fi

cleanup() {
    stop BENCH_PID
    stop SERVER_PID
    stop SERVER_B_PID
    if [[ -n "$DB_CREATED" ]]; then
        dropdb --if-exists "$DB" || true
    fi
    if [[ -n "$REDIS_USED" ]]; then
        forget_redis_keys "$REDIS" "$REDIS_PREFIX"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT_DIR"
: >"$LOG"

# ---- results ---------------------------------------------------------------------------------
ROWS=()
row() { ROWS+=("$1|$2|$3|$4"); } # FIGURE VALUE GOAL RESULT
# kv KEY: the value of KEY=... in the last result line (LINE).
kv() { sed -nE "s/^(.* )?$1=([^ ]+).*/\2/p" <<<"$LINE" | head -1; }
# num KEY: the same as a number for the goals; missing or NaN (no samples) is never a pass.
num() {
    local value
    value=$(kv "$1")
    if [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]]; then echo "$value"; else echo 1e18; fi
}

# bench LABEL SCENARIO ARGS...: one live_bench run; its result line goes to LINE (empty, and a
# row saying so, if it failed: the rows from it then say "NOT met").
bench() {
    local label=$1 out status=0
    shift
    say "== $label"
    out=$("$BENCH" "$@" 2>&1) || status=$?
    echo "$out" | tee -a "$LOG" >&2
    LINE=$(grep '^result ' <<<"$out" | tail -1 || true)
    if ((status != 0)); then
        row "$label" "live_bench failed (exit $status)" "" "NOT met"
        LINE=""
    fi
}

# ---- servers ---------------------------------------------------------------------------------
# In MB (10^6 bytes); /proc gives KiB.
mem() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 * 1.024 / 1000 }' "/proc/$1/status"; }
descriptors() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# The peak RSS of a server (VmHWM), restarted from its present RSS by reset_peak (Linux's
# clear_refs) to see one scenario's own peak; whole_peak PID still counts the earlier ones.
declare -A EARLIER_PEAK=()
reset_peak() {
    EARLIER_PEAK[$1]=$(whole_peak "$1")
    echo 5 2>/dev/null >"/proc/$1/clear_refs" || say "== cannot reset the peak RSS of $1"
}
whole_peak() {
    local now
    now=$(mem "$1" VmHWM)
    calc "${EARLIER_PEAK[$1]:-0} > $now ? ${EARLIER_PEAK[$1]:-0} : $now"
}

start_missive() { # PID_VARIABLE NAME PORT DATABASE_URL [VAR=VALUE...]
    local var=$1 name=$2 port=$3 url=$4
    shift 4
    # From the temporary directory, so that no .env file is read.
    (cd "$WORK" && exec env -i PATH="$PATH" DATABASE_URL="$url" SECRET_KEY="$SECRET" \
        MISSIVE_BIND="127.0.0.1:$port" MISSIVE_RATE_LIMITS=off MISSIVE_LOG=warn \
        MISSIVE_MAX_CONNECTIONS="$MAX_CONNECTIONS" \
        MISSIVE_MAX_GROUP_MEMBERS="$MAX_GROUP_MEMBERS" "$@" \
        "$TARGET/release/missive" serve) >"$WORK/missive-$name.log" 2>&1 &
    printf -v "$var" '%s' "$!"
    wait_ready "http://127.0.0.1:$port/readyz" "$WORK/missive-$name.log"
}

# await_checkpoint NAME: until live_bench writes NAME to the pause file (at most 5 minutes).
await_checkpoint() {
    for _ in $(seq 3000); do
        if [[ -f "$PAUSE" && $(cat "$PAUSE" 2>/dev/null) == "$1" ]]; then
            return 0
        fi
        kill -0 "$BENCH_PID" 2>/dev/null || die "live_bench idle ended before checkpoint $1"
        sleep 0.1
    done
    die "live_bench idle did not reach checkpoint $1"
}

# check_log NAME FILE: says whether the server's log has panics, errors or warnings.
LOG_NOTES=()
check_log() {
    local panics errors warnings
    panics=$(grep -ci panic "$2" || true)
    errors=$(grep -c 'ERROR' "$2" || true)
    warnings=$(grep -c 'WARN' "$2" || true)
    LOG_NOTES+=("server log ($1): $panics panics, $errors errors, $warnings warnings")
    if ((panics + errors + warnings > 0)); then
        say "== server log ($1): $panics panics, $errors errors, $warnings warnings; first lines:"
        grep -E -i 'panic|ERROR|WARN' "$2" | head -5 | tee -a "$LOG" >&2
    fi
    cp "$2" "$OUT_DIR/live-$STAMP-$1.log"
}

# delivery_rows NAME: rows for the events of a latency or group run.
delivery_rows() {
    local name=$1
    row "  events received / expected, lost ($name)" \
        "$(kv received) / $(kv expected), $(kv lost) lost" "0 lost" \
        "$(yes_if "$(num lost) == 0 && $(num received) == $(num expected) && $(num expected) > 0")"
    row "  open streams, dup, seq gaps, errors ($name)" \
        "$(kv open) of $(kv streams), $(kv duplicates), $(kv gaps), $(kv errors)" "all, 0, 0, 0" \
        "$(yes_if "$(num open) == $(num streams) && $(num duplicates) + $(num gaps) + $(num errors) == 0")"
}

# latency_rows NAME: rows for the result of a latency run.
latency_rows() {
    local name=$1
    row "delivery p50 / p99 / max, $(kv open) streams ($name)" \
        "$(kv delivery_p50) / $(kv delivery_p99) / $(kv delivery_max) ms" "p99 <= 50 ms" \
        "$(yes_if "$(num delivery_p99) <= 50")"
    delivery_rows "$name"
    row "send p50 no streams / $(kv open) streams ($name)" \
        "$(kv base_send_p50) / $(kv live_send_p50) ms" "" ""
    row "  send cost with / without streams ($name)" \
        "p50 $(kv send_ratio_p50)x, mean $(kv send_ratio_mean)x" "<= 1.3x" \
        "$(yes_if "$(num send_ratio_p50) <= 1.3 && $(num send_ratio_mean) <= 1.3")"
}

# group_run NAME PIDS ARGS...: the group scenario (live_bench ARGS) on the servers PIDS (pids,
# space-separated): its rows, the servers' peak RSS during it, and one summary line.
group_run() {
    local name=$1 pids=$2 pid peaks=""
    shift 2
    for pid in $pids; do reset_peak "$pid"; done
    bench "$name: group of $MEMBERS members, $SENDS sends one at a time" group \
        --members "$MEMBERS" --sends "$SENDS" "$@"
    for pid in $pids; do peaks+="${peaks:+ / }$(mem "$pid" VmHWM)"; done
    row "group of $(kv members): send p50 / p99 / max ($name)" \
        "$(kv send_p50) / $(kv send_p99) / $(kv send_max) ms" "" ""
    row "  send -> last stream p50 / p99 / max ($name)" \
        "$(kv last_p50) / $(kv last_p99) / $(kv last_max) ms" "" ""
    row "  send -> each stream p50 / p99 ($name)" "$(kv stream_p50) / $(kv stream_p99) ms" "" ""
    row "  sends ok / reaching every stream ($name)" "$(kv sent) / $(kv complete) of $SENDS" \
        "all" "$(yes_if "$(num sent) == $SENDS && $(num complete) == $SENDS")"
    delivery_rows "$name"
    row "  server peak RSS during it ($name)" "$peaks MB" "" ""
    say "== $name group of $(kv members) ($(kv open) streams): send p50/p99/max" \
        "$(kv send_p50)/$(kv send_p99)/$(kv send_max) ms, last stream has it" \
        "$(kv last_p50)/$(kv last_p99)/$(kv last_max) ms, each stream p50 $(kv stream_p50) ms;" \
        "$(kv received)/$(kv expected) events, $(kv lost) lost, $(kv errors) errors;" \
        "peak RSS $peaks MB"
}

# ---- build -----------------------------------------------------------------------------------
say "== building (release)"
cargo build --release -q -p missive --bin missive --example live_bench

# ---- SQLite ----------------------------------------------------------------------------------
start_missive SERVER_PID sqlite "$PORT" "sqlite://$WORK/missive.db"
sleep 1
RSS_START=$(mem "$SERVER_PID" VmRSS)
say "== SQLite: RSS after start $RSS_START MB"
row "RSS after start (SQLite)" "$RSS_START MB" "" ""

# idle: memory at each checkpoint of live_bench.
rm -f "$PAUSE"
say "== SQLite: $IDLE idle WebSockets as $IDLE_USERS users"
"$BENCH" idle --url "$BASE" --sockets "$IDLE" --users "$IDLE_USERS" --pause-file "$PAUSE" \
    >"$WORK/idle.out" 2>&1 &
BENCH_PID=$!
await_checkpoint baseline
sleep 1
RSS_BEFORE=$(mem "$SERVER_PID" VmRSS)
FDS_BEFORE=$(descriptors "$SERVER_PID")
rm -f "$PAUSE"
await_checkpoint open
sleep "$IDLE_HOLD"
RSS_OPEN=$(mem "$SERVER_PID" VmRSS)
FDS_OPEN=$(descriptors "$SERVER_PID")
rm -f "$PAUSE"
await_checkpoint closed
sleep 1
RSS_CLOSED=$(mem "$SERVER_PID" VmRSS)
FDS_CLOSED=$(descriptors "$SERVER_PID")
rm -f "$PAUSE"
status=0
wait "$BENCH_PID" || status=$?
BENCH_PID=""
tee -a "$LOG" <"$WORK/idle.out" >&2
((status == 0)) || die "idle: live_bench failed (exit $status)"
LINE=$(grep '^result ' "$WORK/idle.out" | tail -1)
say "== SQLite idle: RSS $RSS_BEFORE MB before, $RSS_OPEN MB with $(kv opened) sockets open," \
    "$RSS_CLOSED MB after they closed; server descriptors $FDS_BEFORE / $FDS_OPEN / $FDS_CLOSED"
ADDED=$(calc "$RSS_OPEN - $RSS_BEFORE")
PER_SOCKET=$(awk -v a="$ADDED" -v n="$(kv opened)" 'BEGIN { printf "%.1f", n ? a * 1000 / n : 0 }')
row "RSS before idle sockets (SQLite)" "$RSS_BEFORE MB" "" ""
row "RSS with $(kv opened) idle WebSockets (SQLite)" \
    "$RSS_OPEN MB (+$ADDED MB, $PER_SOCKET kB each)" "<= +100 MB" \
    "$(yes_if "$ADDED <= 100 && $(num opened) == $IDLE")"
row "  idle sockets open / still open after hold" "$(kv opened) / $(kv still_open) of $IDLE" \
    "all" "$(yes_if "$(num still_open) == $IDLE && $(num errors) == 0")"
row "  time to open them" "$(kv open_secs) s" "" ""
row "  RSS after they closed (SQLite)" "$RSS_CLOSED MB (descriptors $FDS_CLOSED)" "" ""

bench "SQLite: latency, $STREAMS streams, $MESSAGES messages at $RATE/s" latency \
    --send-url "$BASE" --streams "$STREAMS" --senders "$SENDERS" --messages "$MESSAGES" \
    --rate "$RATE"
latency_rows SQLite

bench "SQLite: reconnect, $CLIENTS clients, $MISSED missed messages each" reconnect \
    --url "$BASE" --clients "$CLIENTS" --users "$CLIENT_USERS" --missed "$MISSED"
row "$(kv clients) clients reconnect at once (SQLite)" \
    "$(kv ok) caught up, $(kv errors) errors, $(kv lost) lost" "0 errors, 0 lost" \
    "$(yes_if "$(num ok) == $(num clients) && $(num errors) == 0 && $(num lost) == 0")"
row "  time to ready p50 / p99 / max; all" \
    "$(kv catchup_p50) / $(kv catchup_p99) / $(kv catchup_max) ms; $(kv all_secs) s" "" ""

group_run SQLite "$SERVER_PID" --send-url "$BASE"

PEAK=$(whole_peak "$SERVER_PID")
row "peak RSS, whole SQLite run" "$PEAK MB" "" ""
say "== SQLite: peak RSS $PEAK MB, RSS now $(mem "$SERVER_PID" VmRSS) MB"
stop SERVER_PID
check_log sqlite "$WORK/missive-sqlite.log"

# ---- PostgreSQL + Redis, two instances -------------------------------------------------------
PG_NOTE=""
if [[ -n "$SKIP_PG" ]]; then
    PG_NOTE="skipped (SKIP_PG set)"
elif ! command -v psql >/dev/null || ! command -v createdb >/dev/null \
    || ! command -v redis-cli >/dev/null; then
    PG_NOTE="skipped (needs psql, createdb, dropdb and redis-cli)"
elif ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -Atc 'select 1' postgres >/dev/null 2>&1; then
    PG_NOTE="skipped (no PostgreSQL at $PGHOST:$PGPORT for user $PGUSER)"
elif ! redis-cli -u "$REDIS" ping >/dev/null 2>&1; then
    PG_NOTE="skipped (no Redis at $REDIS)"
fi
if [[ -z "$PG_NOTE" ]]; then
    export PGHOST PGPORT PGUSER
    createdb "$DB"
    DB_CREATED=1
    REDIS_USED=1
    PG_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
    # A first, alone (it applies the migrations), then B.
    start_missive SERVER_PID pg-a "$PORT" "$PG_URL" REDIS_URL="$REDIS" \
        MISSIVE_REDIS_PREFIX="$REDIS_PREFIX"
    start_missive SERVER_B_PID pg-b "$PORT_B" "$PG_URL" REDIS_URL="$REDIS" \
        MISSIVE_REDIS_PREFIX="$REDIS_PREFIX"
    bench "PostgreSQL + Redis: latency, sends to A, $STREAMS streams on B" latency \
        --send-url "$BASE" --stream-url "$BASE_B" --streams "$STREAMS" --senders "$SENDERS" \
        --messages "$MESSAGES" --rate "$RATE"
    latency_rows "PG + Redis, A -> B"
    group_run "PG + Redis, A -> B" "$SERVER_PID $SERVER_B_PID" --send-url "$BASE" \
        --stream-url "$BASE_B"
    say "== PostgreSQL: peak RSS A $(whole_peak "$SERVER_PID") MB, B $(whole_peak "$SERVER_B_PID") MB"
    stop SERVER_PID
    stop SERVER_B_PID
    check_log pg-a "$WORK/missive-pg-a.log"
    check_log pg-b "$WORK/missive-pg-b.log"
    dropdb "$DB"
    DB_CREATED=""
else
    say "== PostgreSQL + Redis: $PG_NOTE"
    row "PostgreSQL + Redis, two instances" "$PG_NOTE" "" ""
fi

# ---- the table -------------------------------------------------------------------------------
{
    echo "missive live-delivery benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (modified)')"
    echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))," \
        "$(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1024 / 1024 }' /proc/meminfo) RAM, $(uname -sr)"
    echo "load: $IDLE idle sockets as $IDLE_USERS users; $STREAMS streams, $MESSAGES messages at" \
        "$RATE/s from $SENDERS senders per phase; $CLIENTS clients ($CLIENT_USERS users)" \
        "reconnecting after $MISSED messages each; a group of $MEMBERS members with a stream" \
        "each, $SENDS sends one at a time; MISSIVE_MAX_CONNECTIONS=$MAX_CONNECTIONS"
    echo
    printf '%-56s %-42s %-16s %s\n' figure value goal result
    printf '%-56s %-42s %-16s %s\n' "$(printf '%.0s-' {1..56})" "$(printf '%.0s-' {1..42})" \
        ---------------- -------
    for line in "${ROWS[@]}"; do
        IFS='|' read -r figure value goal result <<<"$line"
        printf '%-56s %-42s %-16s %s\n' "$figure" "$value" "$goal" "$result"
    done
    echo
    printf '%s\n' "${LOG_NOTES[@]}"
} >"$TABLE"
echo
cat "$TABLE"
echo
echo "saved to $TABLE (raw output: $LOG; server logs: $OUT_DIR/live-$STAMP-*.log)"
