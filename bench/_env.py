"""What the benchmark runs on and with: machine, tool versions, which nsrun features exist, free ports/subnets."""
from __future__ import annotations

import ipaddress
import json
import os
import platform
import shutil
import socket
import subprocess
from typing import Any

__all__ = ["machine", "versions", "Nsrun", "free_ports", "free_subnet", "run"]

NET_PLUGINS = ("net", "nft", "iptables")
BENCH_NET = ipaddress.ip_network("10.120.0.0/14")   # every bridge subnet the benchmark uses lies in here


def run(argv: list[str], timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess:
    """Run a helper command (not timed), capturing text output; never raises for a missing binary."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except FileNotFoundError:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: not installed")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"{argv[0]}: timed out after {timeout:.0f} s")


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    os_name = ""
    try:
        with open("/etc/os-release") as f:
            os_name = dict(line.rstrip().split("=", 1) for line in f if "=" in line).get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "kernel": platform.release(), "os": os_name,
            "cpus": os.cpu_count(), "cpu_model": model, "mem_mb": mem, "python": platform.python_version()}


_VERSION_ARGS = {
    "unshare": ["unshare", "--version"], "bwrap": ["bwrap", "--version"], "crun": ["crun", "--version"],
    "runc": ["runc", "--version"], "docker": ["docker", "--version"], "dockerd": ["dockerd", "--version"],
    "iperf3": ["iperf3", "--version"], "nft": ["nft", "--version"], "iptables": ["iptables", "--version"],
    "busybox": ["busybox"],
}


def versions(nsrun_bin: str) -> dict[str, str]:
    out = {"nsrun": run([nsrun_bin, "version"]).stdout.strip() or "?"}
    for name, argv in _VERSION_ARGS.items():
        if shutil.which(argv[0]) is None:
            out[name] = "not installed"
            continue
        res = run(argv, timeout=20)
        text = (res.stdout or res.stderr).strip().splitlines()
        out[name] = text[0].strip() if text else f"? (exit {res.returncode})"
    return out


class Nsrun:
    """The nsrun under test: its binary, the private root, and which features it has (found, not assumed)."""

    def __init__(self, binary: str, root: str) -> None:
        self.bin = binary
        self.root = root
        self.plugins: dict[str, bool] = {}      # name -> selected by default
        self.plugins_error = ""
        res = run([binary, "--root", root, "plugins"])
        if res.returncode != 0:
            self.plugins_error = (res.stderr or res.stdout).strip()[-300:]
        for line in res.stdout.splitlines()[1:]:
            cols = line.split()
            if cols:
                self.plugins[cols[0]] = len(cols) > 1 and cols[1] == "yes"
        self._daemon: str | None = None

    def cmd(self, *args: str) -> list[str]:
        return [self.bin, "--root", self.root, *args]

    def has(self, plugin: str) -> bool:
        return plugin in self.plugins

    def why_no_net(self) -> str | None:
        if self.plugins_error:
            return f"`nsrun plugins` failed: {self.plugins_error}"
        if not self.has("net"):
            return "the `net` plugin is not installed (`nsrun plugins` does not list it)"
        return None

    def why_no_daemon(self) -> str | None:
        if self._daemon is None:
            res = run(self.cmd("daemon", "--help"), timeout=30)
            self._daemon = "" if res.returncode == 0 else (
                f"`nsrun daemon --help` exits {res.returncode}: "
                f"{((res.stderr or res.stdout).strip().splitlines() or [''])[-1][:200]}")
        return self._daemon or None

    def no_net_args(self) -> list[str]:
        """``--plugins`` for the default set without networking (pid, mnt, ipc, uts...): what section 1 times.
        Empty while no network plugin is selected by default, so the plain command is what is timed."""
        defaults = [n for n, d in self.plugins.items() if d]
        kept = [n for n in defaults if n not in NET_PLUGINS]
        return [] if kept == defaults else ["--plugins", ",".join(kept)]

    def plugin_args(self, *wanted: str, backend: str | None = None) -> list[str]:
        """``--plugins`` for the default set plus ``wanted`` (and exactly one firewall ``backend`` if given);
        nothing when the defaults already cover it, so the common path is what is timed."""
        defaults = [n for n, d in self.plugins.items() if d]
        names = [n for n in defaults if not (backend and n in ("nft", "iptables") and n != backend)]
        names += [n for n in (*wanted, backend) if n and n not in names]
        return [] if names == defaults else ["--plugins", ",".join(names)]


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
        except (OSError, ValueError, IndexError):
            pass
    return ports


def free_ports(count: int, start: int = 21000, stop: int = 29999) -> list[int]:
    """``count`` consecutive host ports that nothing listens on (checked, not assumed)."""
    busy = listening_ports()
    base = start
    while base + count <= stop:
        block = range(base, base + count)
        clash = [p for p in block if p in busy]
        if not clash:
            return list(block)
        base = clash[-1] + 1
    raise RuntimeError(f"no {count} free consecutive ports in {start}-{stop}")


def free_subnet(prefix: int = 24) -> str:
    """A /prefix inside 10.120.0.0/14 that overlaps no route on the host (other tests may use some)."""
    res = run(["ip", "-j", "route", "show", "table", "all"])
    used = []
    try:
        for r in json.loads(res.stdout or "[]"):
            dst = r.get("dst", "")
            if dst and dst != "default" and ":" not in dst:
                try:
                    used.append(ipaddress.ip_network(dst, strict=False))
                except ValueError:
                    pass
    except ValueError:
        pass
    # start from the top of the range: tests and helpers tend to count up from the bottom
    for net in reversed(list(BENCH_NET.subnets(new_prefix=prefix))):
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free subnet left in 10.120.0.0/14")
