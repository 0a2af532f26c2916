#!/usr/bin/env bash
# The web client's browser tests, in one command (CI calls this from .ci/run).
#
#   tests/browser/run.sh                      against target/release/missive
#   MISSIVE_BIN=/path/to/missive tests/browser/run.sh
#
# With TEST_DATABASE_URL and TEST_REDIS_URL set, the two-instance PostgreSQL + Redis tests
# run too; without them they print a notice and skip. Needs Node 20.10+ and npm; installs
# Debian's Chromium (Playwright's own download is not used; as root, or through sudo) and
# playwright-core if missing. CHROMIUM_PATH names another Chromium to use.
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${CHROMIUM_PATH:-}" ]; then # helpers.mjs launches that one instead
    if [ ! -x "$CHROMIUM_PATH" ]; then
        echo "browser tests: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
        exit 1
    fi
elif [ ! -x /usr/bin/chromium ]; then
    # As root, apt-get directly; otherwise through sudo if there is one; else say what to do.
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "browser tests: Chromium is missing (/usr/bin/chromium), and this is neither root" >&2
            echo "nor has sudo to install it with. Install it first (Debian: apt-get install" >&2
            echo "chromium), or run this as root, or set CHROMIUM_PATH to an installed Chromium." >&2
            exit 1
        fi
        as_root=(sudo)
    fi
    echo "browser tests: installing chromium"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi

# One file at a time: each starts its own servers and browser, and the machine is small.
exec node --test --test-concurrency=1 "$@"
