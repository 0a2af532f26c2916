# Shared by the bench scripts (sourced): stopping the server a script started, and waiting
# for one to answer. Each script sets SERVER_PID when it starts missive.

stop_server() {
    if [[ -n "${SERVER_PID:-}" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

wait_ready() { # URL LOGFILE: up to 10 s for URL to answer; otherwise show the log and stop.
    for _ in $(seq 100); do
        curl -fs "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the server at $1 did not become ready; its log:" >&2
    cat "$2" >&2
    exit 1
}
