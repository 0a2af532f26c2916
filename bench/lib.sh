# Shared by the bench scripts (sourced): stopping what a script started, waiting for a
# server to answer, and the helpers the result tables are built with. Each script sets
# SERVER_PID when it starts missive, and LOG before it calls `say`.

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

stop() { # stop PID_VARIABLE: ends that process (if any) and empties the variable.
    local pid=${!1:-}
    if [[ -n "$pid" ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    printf -v "$1" '%s' ""
}

stop_server() { stop SERVER_PID; }

forget_redis_keys() { # REDIS_URL PREFIX: deletes the keys a run left under PREFIX:.
    redis-cli -u "$1" --scan --pattern "$2:*" | xargs -r redis-cli -u "$1" del >/dev/null 2>&1 || true
}

say() { echo "$*" | tee -a "$LOG" >&2; }
calc() { awk "BEGIN { printf \"%s\", ($1) }"; }
yes_if() { if [[ $(calc "($1) ? 1 : 0") == 1 ]]; then echo met; else echo "NOT met"; fi; }

wait_ready() { # URL LOGFILE: up to 10 s for URL to answer; otherwise show the log and stop.
    for _ in $(seq 100); do
        curl -fs "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the server at $1 did not become ready; its log:" >&2
    cat "$2" >&2
    exit 1
}
