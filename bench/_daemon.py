"""Section 3: starting through a daemon. nsrun's API (create + start + wait on one kept-alive connection) and
the docker CLI against nsrun's daemon, against crun run and (FULL=1) the docker CLI against dockerd."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time

from _common import Bench, NotRun, Section, Target
from _docker import DOCKER_CLI
from _measure import Case, measure, paired_ratio
from _start import _median

__all__ = ["section_daemon", "NsrunDaemon"]

API = "/v1.41"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class NsrunDaemon:
    """``nsrun daemon -H unix://<workdir>/nsrun.sock`` with the bench root; stopped in ``close()``."""

    def __init__(self, b: Bench) -> None:
        self.b = b
        self.sock = os.path.join(b.workdir, "nsrun.sock")
        self.proc: subprocess.Popen | None = None
        self.conn: _UnixConnection | None = None
        self.reconnects = 0

    def start(self) -> None:
        reason = self.b.nsrun.why_no_daemon()
        if reason:
            raise NotRun(reason)
        log = open(os.path.join(self.b.workdir, "nsrun-daemon.log"), "w")
        self.proc = subprocess.Popen(self.b.nsrun.cmd("daemon", "-H", f"unix://{self.sock}"), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NotRun(f"`nsrun daemon` exited {self.proc.returncode} (log: {log.name})")
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                self.conn = None
            time.sleep(0.2)
        raise NotRun("`nsrun daemon` did not answer /_ping within 30 s")

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """One request on the kept-alive connection; if the server closed it, reconnect once (and count it,
        since a server without keep-alive makes every request pay a connect)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = _UnixConnection(self.sock)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                self.reconnects += 1
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def run_true(self, network: str | None) -> float:
        """create + start + wait of /bin/true on the kept-alive connection; returns the seconds it took.
        The container is deleted afterwards, outside the timed part."""
        body = {"Image": "busybox", "Cmd": ["/bin/true"], "HostConfig": {"NetworkMode": network} if network else {}}
        t0 = time.perf_counter()
        status, created = self.request("POST", f"{API}/containers/create", body)
        if status != 201:
            raise _failed("create", status, created)
        cid = created["Id"]
        status, out = self.request("POST", f"{API}/containers/{cid}/start")
        if status not in (204, 304):
            raise _failed("start", status, out)
        status, out = self.request("POST", f"{API}/containers/{cid}/wait")
        elapsed = time.perf_counter() - t0
        if status != 200 or (isinstance(out, dict) and out.get("StatusCode") != 0):
            raise _failed("wait", status, out)
        self.request("DELETE", f"{API}/containers/{cid}?force=1")
        return elapsed

    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def close(self) -> list[str]:
        if self.conn is not None:
            self.conn.close()
        if self.proc is None or self.proc.poll() is not None:
            return []
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return ["nsrun daemon did not stop on SIGTERM within 20 s; killed"]
        return []


def _failed(step: str, status: int, out: object):
    from _measure import CmdFailed
    msg = out.get("message") if isinstance(out, dict) else out
    return CmdFailed(f"{step}: HTTP {status}: {str(msg)[:200]}")


def nsrun_daemon(b: Bench) -> NsrunDaemon:
    if "daemon" not in b.shared:
        d = NsrunDaemon(b)
        b.cleanups.append(d.close)
        b.shared["daemon"] = d
        try:
            d.start()
        except NotRun as exc:
            b.shared["daemon_error"] = str(exc)
    if b.shared.get("daemon_error"):
        raise NotRun(b.shared["daemon_error"])
    return b.shared["daemon"]


def section_daemon(b: Bench) -> Section:
    sec = Section("daemon", "3. through a daemon: /bin/true, --network none where the net plugin exists (ms)")
    from _memory import rss_kb
    why = None
    try:
        d = nsrun_daemon(b)
        b.shared["daemon_rss_idle_kb"] = rss_kb(d.pid())
    except NotRun as exc:       # the anchors are still measured: the nsrun rows say why they are missing
        d, why = NsrunDaemon(b), str(exc)
    net = None if b.nsrun.why_no_net() else "none"
    netargs = ["--network", "none"] if net else []
    api = f"nsrun API: create+start+wait /bin/true (kept-alive connection{', network none' if net else ''})"
    cli_nsrun = f"docker run --rm {'--network none ' if net else ''}busybox true -> nsrun daemon"
    cases = [Case(api, fn=lambda: d.run_true(net), role="subject", not_run=why),
             Case(cli_nsrun, [DOCKER_CLI, "-H", f"unix://{d.sock}", "run", "--rm", *netargs, "busybox", "true"],
                  role="subject", env={"DOCKER_CONFIG": os.path.join(b.workdir, "docker-client")},
                  not_run=why or (None if _which(DOCKER_CLI) else "the docker CLI is not installed")),
             b.anchors.crun(net=bool(net))]
    docker = b.shared.get("dockerd")
    if docker is not None:
        cases.append(Case("docker run --rm --network none busybox true -> dockerd",
                          docker.cli("run", "--rm", "--network", "none", docker.image, "true"), env=docker.env))
    else:
        sec.notes.append("dockerd not compared: run `make bench FULL=1`" if not b.full
                         else b.shared.get("dockerd_error", "dockerd not available"))
    sec.figures = measure(cases, b.runs, b.warmup, b.log)
    if why is None:
        b.shared["daemon_rss_after_kb"] = rss_kb(d.pid())
        if d.reconnects:
            sec.notes.append(f"the daemon closed the kept-alive connection {d.reconnects} times (reconnected)")
    crun = sec.figures[2]
    r = paired_ratio(sec.figures[0], crun)
    sec.targets.append(Target("daemon API path within 2x crun run (aim: beat it)", None if r is None else r <= 2,
                              "not judged: " + (sec.figures[0].not_run or crun.not_run or "no samples")
                              if r is None else f"{r:.2f}x crun"))
    med = _median(sec.figures[1])
    dfig = sec.figure("docker run --rm --network none busybox true -> dockerd")
    dmed = _median(dfig) if dfig else None
    ref, where = (dmed, "dockerd in this run") if dmed else (170.0, "dockerd's 170 ms in ENVIRONMENT.md")
    sec.targets.append(Target("docker CLI via nsrun <= 1/2 of docker CLI via dockerd (aim < 50 ms)",
                              None if med is None else med <= ref / 2,
                              f"not judged: {sec.figures[1].not_run}" if med is None
                              else f"{med:.1f} ms = {med / ref:.2f}x {where}"))
    return sec


def _which(tool: str) -> bool:
    import shutil
    return shutil.which(tool) is not None
