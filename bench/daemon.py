"""Daemon figures for ``make bench``: the docker CLI through nsrun's daemon, the daemon's own create+start+wait
path over one kept-open connection, idle memory, and per-container supervisor memory (PSS).

Usage: ``.venv/bin/python bench/daemon.py [--runs N]``; prints one JSON object. Uses its own root and socket,
``--network none`` only, and removes everything it made.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def _net_none() -> tuple[str, ...]:
    from nsrun._plugins import installed_plugins
    return ("--network", "none") if "net" in installed_plugins() else ()


NET = _net_none()


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def call(conn: http.client.HTTPConnection, method: str, path: str, body=None) -> tuple[int, bytes]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    resp = conn.getresponse()
    return resp.status, resp.read()


def api_run(c1: UnixConn, c2: UnixConn) -> float:
    """create + wait (headers) + start + wait (body): the docker CLI's sequence, on two kept-open connections."""
    t0 = time.perf_counter()
    status, data = call(c1, "POST", "/v1.41/containers/create",
                        {"Image": "busybox", "Cmd": ["/bin/true"], "HostConfig": {"NetworkMode": "none"}})
    assert status == 201, data
    cid = json.loads(data)["Id"]
    c2.request("POST", f"/v1.41/containers/{cid}/wait?condition=next-exit")
    wait = c2.getresponse()
    status, data = call(c1, "POST", f"/v1.41/containers/{cid}/start")
    assert status == 204, data
    assert json.loads(wait.read())["StatusCode"] == 0
    elapsed = time.perf_counter() - t0
    call(c1, "DELETE", f"/v1.41/containers/{cid}")
    return elapsed * 1000


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def uss_kb(pid: int) -> int:
    """Private (unshared) memory: what one more container costs, whatever the number running."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean:", "Private_Dirty:")))


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median_ms": round(statistics.median(values), 1), "p90_ms": round(values[int(len(values) * 0.9) - 1], 1),
            "min_ms": round(values[0], 1), "runs": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--containers", type=int, default=10, help="running containers for the memory figures")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="nsrbench-daemon-", dir="/tmp")
    sock = os.path.join(root, "nsrun.sock")
    daemon = subprocess.Popen([NSRUN, "--root", root, "daemon", "-H", f"unix://{sock}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, object] = {}
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        out["daemon_idle_rss_kb"] = rss_kb(daemon.pid)
        forkservers = children(daemon.pid)
        out["forkserver_rss_kb"] = rss_kb(forkservers[0]) if forkservers else None
        env = {**os.environ, "DOCKER_CONFIG": root}
        cli = [DOCKER, "-H", f"unix://{sock}", "run", "--rm", "--network", "none", "busybox", "true"]
        for _ in range(3):
            subprocess.run(cli, check=True, env=env, capture_output=True)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cli, check=True, env=env, capture_output=True)
            times.append((time.perf_counter() - t0) * 1000)
        out["docker_cli_run_rm_true"] = summary(times)
        c1, c2 = UnixConn(sock), UnixConn(sock)
        for _ in range(3):
            api_run(c1, c2)
        out["api_create_start_wait_true"] = summary([api_run(c1, c2) for _ in range(args.runs)])
        embedded = []
        for _ in range(min(args.runs, 10)):
            t0 = time.perf_counter()
            subprocess.run([NSRUN, "--root", root, "run", *NET, "--rm", "busybox", "true"], check=True)
            embedded.append((time.perf_counter() - t0) * 1000)
        out["embedded_nsrun_run_rm_true"] = summary(embedded)
        ids = [subprocess.run([DOCKER, "-H", f"unix://{sock}", "run", "-d", "--network", "none", "busybox", "sleep",
                               "120"], check=True, env=env, capture_output=True, text=True).stdout.strip()
               for _ in range(args.containers)]
        time.sleep(0.5)
        supervisors = [p for fs in forkservers for p in children(fs)]
        stage1 = [c for s in supervisors for c in children(s)]
        if supervisors:
            out["containers_running"] = len(supervisors)
            out["supervisor_pss_kb"] = round(statistics.mean(pss_kb(p) for p in supervisors))
            out["supervisor_private_kb"] = round(statistics.mean(uss_kb(p) for p in supervisors))
            out["stage1_relay_pss_kb"] = round(statistics.mean(pss_kb(p) for p in stage1)) if stage1 else None
        out["daemon_rss_after_kb"] = rss_kb(daemon.pid)
        subprocess.run([DOCKER, "-H", f"unix://{sock}", "rm", "-f", *ids], env=env, capture_output=True)
    finally:
        daemon.terminate()
        daemon.wait(30)
        subprocess.run([NSRUN, "--root", root, "system", "reset"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
