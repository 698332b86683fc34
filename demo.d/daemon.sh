# Daemon part of the demo (sourced by demo.sh at its end: uses its NSRUN, ROOT, n, say, show). The real docker
# CLI and `nsrun -H` drive containers through `nsrun daemon`; the containers outlive a daemon restart.
DOCKER=$(command -v docker || echo /usr/local/bin/docker)
SOCK="$ROOT/nsrun.sock"
export DOCKER_CONFIG="$ROOT/docker-config"
start_daemon() {
  "$NSRUN" --root "$ROOT" daemon -H "unix://$SOCK" >>"$ROOT/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
}
stop_daemon() { kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; }
d() { "$DOCKER" -H "unix://$SOCK" "$@"; }

say "daemon: nsrun daemon speaks the Docker Engine API; the docker CLI drives it"
start_daemon
trap 'stop_daemon; ${STOP_REGISTRY:-:}; cleanup' EXIT  # the registry of redis.sh too
show d version --format '{{.Server.Version}} (Docker API {{.Server.APIVersion}})'
show d run --rm --network none --hostname via-docker busybox sh -c 'echo hello from $(hostname); exit 3' || \
  echo "(exit status $?, passed through)"
show d run -d --name demo-daemon --network none busybox sh -c 'while :; do date +%T; sleep 1; done'
if [ -n "${REG:-}" ]; then
  say "daemon: docker pulls the redis image through nsrun's daemon and runs it with a published port"
  show d image rm "$REG/redis" >/dev/null 2>&1 || true
  show d run -d --name demo-redis -p 6380:6379 "$REG/redis"
  for _ in $(seq 100); do redis-cli -h 127.0.0.1 -p 6380 ping >/dev/null 2>&1 && break; sleep 0.1; done
  show redis-cli -h 127.0.0.1 -p 6380 ping
  show d rm -f demo-redis
fi
show "$NSRUN" -H "unix://$SOCK" ps

say "daemon: stop it; the container keeps running, and a new daemon finds it"
stop_daemon
start_daemon
show d ps --format '{{.Names}}: {{.Status}}'
show d exec demo-daemon hostname
show d rm -f demo-daemon
stop_daemon
