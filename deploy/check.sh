#!/usr/bin/env bash
# Checks the container and service files with what runs without a container engine (none
# can build or pull images on the development machines): docker-compose.yml parses and every
# setting it gives missive is one the binary reads and the README documents; the Dockerfile
# exposes the port the compose file binds and checks /healthz; nginx's config is the one the
# compose file mounts; the Grafana dashboard queries only metrics missive records and the README
# lists; the systemd unit passes `systemd-analyze verify` where that exists.
#
#   deploy/check.sh [path/to/missive]     # default: the debug build
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/missive}
[[ -x "$BIN" ]] || { echo "deploy/check.sh: build missive first ($BIN)" >&2; exit 1; }

if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "deploy/check.sh: installing PyYAML"
    python3 -m pip install --quiet pyyaml
fi

HELP=$("$BIN" --help) python3 - <<'PY'
import json, os, re, sys, yaml

failures = []
def check(ok, what):
    if not ok:
        failures.append(what)

compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
for name in ["postgres", "redis", "missive-a", "missive-b", "nginx"]:
    check(name in services, f"docker-compose.yml: no service {name}")

readme = open("README.md").read()
documented = set(re.findall(r"^\| `([A-Z_]+)`", readme, re.M))
documented |= set(re.findall(r"`(POSTGRES_[A-Z]+)`", readme))
help_text = os.environ["HELP"]
for name in ["missive-a", "missive-b"]:
    env = services[name]["environment"]
    for key in env:
        check(key in documented, f"{name}: {key} is not in the README's configuration table")
        check(f"[env: {key}" in help_text, f"{name}: {key} is not a setting `missive --help` lists")
    check(env["DATABASE_URL"].startswith("postgres://"), f"{name}: DATABASE_URL is not PostgreSQL")
    check(env["REDIS_URL"].startswith("redis://"), f"{name}: REDIS_URL is not Redis")
    check("SECRET_KEY" in env, f"{name}: no SECRET_KEY (required with PostgreSQL)")
    bind_port = env["MISSIVE_BIND"].rsplit(":", 1)[1]
    # A stop may take the shutdown grace (default 20 s) plus 15 s; Docker's default is 10 s.
    grace = services[name].get("stop_grace_period", "10s")
    check(int(grace.rstrip("s")) >= int(env.get("MISSIVE_SHUTDOWN_GRACE_SECS", 20)) + 15,
          f"{name}: stop_grace_period {grace} cuts a graceful stop short")
    nginx_proxy = services["nginx"]["networks"]["missive"]["ipv4_address"]
    check(env["MISSIVE_TRUSTED_PROXIES"] == nginx_proxy, f"{name}: trusts {env['MISSIVE_TRUSTED_PROXIES']}, nginx is {nginx_proxy}")

dockerfile = open("Dockerfile").read()
check(f"EXPOSE {bind_port}" in dockerfile, f"Dockerfile: does not expose {bind_port}")
check(f"MISSIVE_BIND=0.0.0.0:{bind_port}" in dockerfile, "Dockerfile: MISSIVE_BIND differs from the compose file's")
check("/healthz" in dockerfile and "HEALTHCHECK" in dockerfile, "Dockerfile: no HEALTHCHECK on /healthz")
check(re.search(r"^USER (?!root)", dockerfile, re.M) is not None, "Dockerfile: runs as root")

mount = services["nginx"]["volumes"][0].split(":")[0]
check(os.path.exists(mount), f"nginx mounts {mount}, which does not exist")
nginx = open(mount).read()
for name in ["missive-a", "missive-b"]:
    check(f"server {name}:{bind_port}" in nginx, f"{mount}: no upstream {name}:{bind_port}")
check("proxy_set_header Upgrade" in nginx, f"{mount}: WebSocket upgrades are not passed on")
check("location = /metrics" in nginx, f"{mount}: /metrics is public")

dashboard = json.load(open("deploy/grafana-dashboard.json"))
sources = ["crates/server/src/metrics.rs", "crates/store/src/pool.rs"]
recorded = {name for source in sources for name in re.findall(r'"(missive_[a-z_]+)"', open(source).read())}
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        for name in re.findall(r"missive_[a-z_]+", target["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            check(base in recorded, f"grafana-dashboard.json: {name} is not a metric missive records")
            check(f"`{base}`" in readme, f"grafana-dashboard.json: {base} is not in the README's metrics table")

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print("deploy: docker-compose.yml, Dockerfile, nginx.conf and the Grafana dashboard agree with each other, the binary and the README")
PY

if command -v systemd-analyze >/dev/null; then
    unit=$(mktemp --suffix=.service)
    trap 'rm -f "$unit"' EXIT
    # The unit names the installed path; verify it against this build.
    sed "s#/usr/local/bin/missive#$(realpath "$BIN")#" deploy/missive.service > "$unit"
    # It only warns about many mistakes (a bad value is "ignored"): any word from it fails.
    said=$(systemd-analyze verify "$unit" 2>&1) || { echo "$said" >&2; exit 1; }
    if [[ -n "$said" ]]; then
        echo "deploy/missive.service: $said" >&2
        exit 1
    fi
    echo "deploy: missive.service passes systemd-analyze verify"
else
    echo "deploy: systemd-analyze not installed; the unit was not verified"
fi
