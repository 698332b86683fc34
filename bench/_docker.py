"""A private dockerd for the comparisons that need one (``make bench FULL=1`` only).

It gets its own socket, data root, exec root and pid file under the bench's work dir, a bridge address inside
10.120.0.0/14 (``--bip``), and the busybox image imported from nsrun's busybox rootfs, so nothing it does
clashes with a system dockerd. It is stopped, and its directories removed, at the end. Like any dockerd it sets
the FORWARD policy to DROP, turns on ip_forward and adds DOCKER chains: the harness notes the firewall state
before and puts back what dockerd changed (chains it added, the FORWARD policy, ip_forward, docker0).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
import time

from _cgroups import own_parent, remove_parent
from _env import free_subnet, run

__all__ = ["Dockerd", "DOCKER_CLI"]

DOCKER_CLI = "docker"


class Dockerd:
    image = "busybox:nsrbench"

    def __init__(self, workdir: str, rootfs: str) -> None:
        self.dir = os.path.join(workdir, "dockerd")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.env = {"DOCKER_CONFIG": os.path.join(self.dir, "client")}
        self.cgroup_parent = own_parent("nsrbench-docker")  # its containers' cgroups: beneath ours, never /docker
        self.proc: subprocess.Popen | None = None
        self.rootfs = rootfs
        self._before: dict | None = None

    @property
    def full_env(self) -> dict[str, str]:
        """The environment for a docker CLI call (``env=`` replaces the whole environment)."""
        return {**os.environ, **self.env}

    def cli(self, *args: str) -> list[str]:
        return [DOCKER_CLI, "-H", f"unix://{self.sock}", *args]

    def start(self) -> None:
        """Start it and import the image; RuntimeError with the reason if it cannot."""
        for tool in ("dockerd", DOCKER_CLI):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (make bench FULL=1 installs docker.io)")
        if os.path.exists("/sys/class/net/docker0"):
            raise RuntimeError("a docker0 bridge exists already (another dockerd?); not starting a second one")
        os.makedirs(self.env["DOCKER_CONFIG"], exist_ok=True)
        self._before = self._firewall_state()
        bip = free_subnet().rsplit(".", 1)[0] + ".1/24"
        log = open(os.path.join(self.dir, "dockerd.log"), "w")
        self.proc = subprocess.Popen(
            ["dockerd", "-H", f"unix://{self.sock}", "--data-root", os.path.join(self.dir, "data"),
             "--exec-root", os.path.join(self.dir, "exec"), "--pidfile", os.path.join(self.dir, "dockerd.pid"),
             "--bip", bip, "--userland-proxy=false"]
            + (["--cgroup-parent", self.cgroup_parent] if self.cgroup_parent else []),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited {self.proc.returncode}; see {log.name}")
            if run(self.cli("version"), timeout=10, env={**os.environ, **self.env}).returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("dockerd did not answer within 60 s")
        tar = os.path.join(self.dir, "busybox.tar")
        with tarfile.open(tar, "w") as t:
            t.add(self.rootfs, arcname=".")
        with open(tar, "rb") as f:
            res = subprocess.run(self.cli("import", "-", self.image), stdin=f, capture_output=True, text=True,
                                 timeout=120, env={**os.environ, **self.env})
        if res.returncode != 0:
            raise RuntimeError(f"docker import failed: {res.stderr.strip()[-200:]}")

    def _firewall_state(self) -> dict:
        state = {"chains": {}, "forward_policy": None, "ip_forward": None}
        for table in ("filter", "nat"):
            out = run(["iptables", "-t", table, "-S"]).stdout.splitlines()
            state["chains"][table] = out
            if table == "filter":
                state["forward_policy"] = next((line.split()[2] for line in out if line.startswith("-P FORWARD ")), None)
        try:
            with open("/proc/sys/net/ipv4/ip_forward") as f:
                state["ip_forward"] = f.read().strip()
        except OSError:
            pass
        return state

    def _restore_firewall(self) -> list[str]:
        """Undo what our dockerd added: rules it put in built-in chains, its new chains, policy, ip_forward."""
        if self._before is None:
            return []
        problems = []
        for table, lines in self._before["chains"].items():
            old = set(lines)
            now = run(["iptables", "-t", table, "-S"]).stdout.splitlines()
            new_chains = [line.split()[1] for line in now if line.startswith("-N ") and line not in old]
            for line in now:
                if line.startswith("-A ") and line not in old:
                    run(["iptables", "-t", table, "-D", *line.split()[1:]])
            for chain in new_chains:
                run(["iptables", "-t", table, "-F", chain])
            for chain in new_chains:
                res = run(["iptables", "-t", table, "-X", chain])
                if res.returncode != 0:
                    problems.append(f"iptables -t {table} -X {chain}: {res.stderr.strip()}")
        if self._before["forward_policy"]:
            run(["iptables", "-P", "FORWARD", self._before["forward_policy"]])
        if self._before["ip_forward"] is not None:
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(self._before["ip_forward"])
        return problems

    def rss_kb(self) -> int | None:
        from _memory import rss_kb
        return rss_kb(self.proc.pid) if self.proc else None

    def close(self) -> list[str]:
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                problems.append("dockerd did not stop within 30 s; killed")
        if self.proc is not None and os.path.exists("/sys/class/net/docker0"):
            run(["ip", "link", "del", "docker0"])   # it did not exist before we started dockerd
        problems += self._restore_firewall()
        subprocess.run(["umount", "-R", "-l", os.path.join(self.dir, "data")], capture_output=True)
        subprocess.run(["umount", "-R", "-l", os.path.join(self.dir, "exec")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.cgroup_parent:
            remove_parent(self.cgroup_parent)
        return problems
