#!/usr/bin/env bash
# A short guided tour: what each namespace plugin changes, seen from inside the container and from the host.
set -euo pipefail
cd "$(dirname "$0")"
NSRUN="$PWD/.venv/bin/nsrun"
ROOT=$(mktemp -d /tmp/nsrun-demo.XXXXXX)
chmod 755 "$ROOT"
n() { "$NSRUN" --root "$ROOT" "$@"; }
cleanup() { n system reset >/dev/null 2>&1 || true; rm -rf "$ROOT"; }
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

say "Installed plugins (each namespace is one; --plugins picks the exact set)"
n plugins

say "pid: the command is PID 1 and sees only its own processes"
show n run --rm busybox ps
echo "(host: $(ps -e --no-headers | wc -l) processes)"

say "uts: its own hostname (the container id's first 12 characters by default)"
show n run --rm busybox hostname
show n run --rm --hostname demo-box busybox hostname
echo "(host: $(hostname))"

say "mnt: its own root (overlayfs over the image, pivot_root); the image is never written"
show n run --rm busybox sh -c 'echo hello > /etc/greeting; cat /etc/greeting; mount | head -3'
echo "(host: image has /etc/greeting? $(test -e "$ROOT/images/busybox/rootfs/etc/greeting" && echo yes || echo no))"

say "ipc: SysV IPC made on the host is invisible inside"
id=$(ipcmk -M 4093 | awk '{print $NF}')
echo "host: made shared memory segment $id (4093 bytes)"
show n --plugins ipc run --rm --rootfs / ipcs -m
ipcrm -m "$id"

say "user: root inside is uid 100000 outside"
n --plugins user,pid,mnt,uts,ipc,sec run -d --name demo-user busybox sleep 30 >/dev/null
pid=$(n inspect demo-user | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["State"]["Pid"])')
show n exec demo-user id
echo "(host: the same process runs as uid $(awk '/^Uid:/{print $2}' /proc/$pid/status))"
n rm -f demo-user >/dev/null

say "sec: Docker's default capabilities and no_new_privs"
show n run --rm busybox grep -E 'CapBnd|NoNewPrivs' /proc/self/status

say "detached containers, logs, exec, stop"
show n run -d --name demo-web busybox sh -c 'echo started; while :; do sleep 1; done'
sleep 0.3
show n ps
show n logs demo-web
show n exec demo-web ps
show n stop -t 1 demo-web
show n rm demo-web
# Networking (two containers over the bridge, a published port), then the daemon driven by the docker CLI.
for part in demo.d/net.sh demo.d/redis.sh demo.d/daemon.sh; do
  if [ -f "$part" ]; then . "$part"; fi
done
say "done: every container, mount and record of the demo is gone"
