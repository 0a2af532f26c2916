#!/usr/bin/env bash
# The web client's browser tests, in one command (CI calls this from .ci/run).
#
#   tests/browser/run.sh                      against target/release/missive
#   MISSIVE_BIN=/path/to/missive tests/browser/run.sh
#
# With TEST_DATABASE_URL and TEST_REDIS_URL set, the two-instance PostgreSQL + Redis tests
# run too; without them they print a notice and skip. Installs Debian's Chromium (Playwright's
# own download is not used), Node.js and npm (as root, or through sudo) and playwright-core
# when missing. CHROMIUM_PATH names another Chromium to use.
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${CHROMIUM_PATH:-}" ]; then # helpers.mjs launches that one instead
    if [ ! -x "$CHROMIUM_PATH" ]; then
        echo "browser tests: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
        exit 1
    fi
fi

# As root, apt-get directly; otherwise through sudo if there is one; else say what to do.
apt_install() { # apt_install WHAT PACKAGE...
    local what=$1; shift
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "browser tests: $what is missing, and this is neither root nor has sudo to" >&2
            echo "install it with. Install it first (Debian: apt-get install $*), or run this" >&2
            echo "as root." >&2
            exit 1
        fi
        as_root=(sudo)
    fi
    echo "browser tests: installing $*"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
    apt_install "Chromium (/usr/bin/chromium; or set CHROMIUM_PATH)" chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install "Node.js" nodejs npm
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "browser tests: playwright-core needs Node.js 20 or later; this is $(node --version)." >&2
    echo "Install a newer one (Debian 13's nodejs package, NodeSource, or nvm)." >&2
    exit 1
fi

if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi

# One file at a time: each starts its own servers and browser, and the machine is small.
# (Node 20 before 20.10 has no --test-concurrency; it runs as many files at once as there
# are cores less one, which is one on a 2-core machine.)
concurrency=()
if node --test-concurrency=1 -e 0 >/dev/null 2>&1; then
    concurrency=(--test-concurrency=1)
fi
exec node --test "${concurrency[@]}" "$@"
