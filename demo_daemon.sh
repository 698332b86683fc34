#!/usr/bin/env bash
# The end of `make demo`: start nsrun's daemon and drive it with the real docker CLI and with `nsrun -H`.
# Uses its own root and socket; removes everything it made.
set -euo pipefail
cd "$(dirname "$0")"
NSRUN=.venv/bin/nsrun
DOCKER=$(command -v docker || echo /usr/local/bin/docker)
ROOT=$(mktemp -d /tmp/nsrun-demo-daemon.XXXXXX)
SOCK="$ROOT/nsrun.sock"
export DOCKER_CONFIG="$ROOT/docker-config"
"$NSRUN" --root "$ROOT" daemon -H "unix://$SOCK" >"$ROOT/daemon.log" 2>&1 &
DAEMON=$!
cleanup() { kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null || true
            "$NSRUN" --root "$ROOT" system reset >/dev/null 2>&1 || true; rm -rf "$ROOT"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
say docker -H "unix://$SOCK" version --format "'{{.Server.Version}} (API {{.Server.APIVersion}})'"
"$DOCKER" -H "unix://$SOCK" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'
say docker -H "unix://$SOCK" run --rm --network none --hostname demo busybox sh -c "'echo hello from \$(hostname), pid \$\$'"
"$DOCKER" -H "unix://$SOCK" run --rm --network none --hostname demo busybox sh -c 'echo hello from $(hostname), pid $$'
say docker run -d --name web --network none busybox sh -c "'while true; do date; sleep 1; done'"
"$DOCKER" -H "unix://$SOCK" run -d --name web --network none busybox sh -c 'while true; do date; sleep 1; done'
say nsrun -H "unix://$SOCK" ps
"$NSRUN" -H "unix://$SOCK" ps
say docker exec web cat /etc/hostname
"$DOCKER" -H "unix://$SOCK" exec web cat /etc/hostname
say docker rm -f web
"$DOCKER" -H "unix://$SOCK" rm -f web
