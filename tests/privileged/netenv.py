"""Helpers for network tests: peer namespaces the test wires to the host, and busybox clients.

Every name carries ``nsr`` and the test root's tag (so the leak check sees them) plus a per-test token, and
every address lies in 10.103.0.0/16 (inside the 10.100.0.0/14 this suite may use). Traffic goes only to
loopback and to addresses inside namespaces and bridges the test made.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys

import pytest

from leakcheck import root_tag

NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")


def sh(*argv: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{argv} -> {res.returncode}: {res.stderr.strip()}")
    return res


@dataclasses.dataclass
class Peer:
    """A network namespace joined to the host by a veth pair: host side ``host_ip``, inside ``ip``."""

    netns: str
    host_link: str
    host_ip: str
    ip: str

    def run(self, *argv: str, timeout: float = 20, check: bool = False) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.netns, *argv, timeout=timeout, check=check)

    def fetch(self, url: str, timeout: int = 3) -> str:
        """HTTP GET with curl from inside this namespace; '' on failure."""
        res = self.run("curl", "-s", "-m", str(timeout), url, timeout=timeout + 5)
        return res.stdout if res.returncode == 0 else ""


def make_peer(root: str, kind: str, unique: str, index: int) -> Peer:
    """``kind`` is one letter (c = client, u = upstream); ``index`` picks the /30 inside 10.103.0.0/16."""
    tag = root_tag(root)
    netns, host_link = f"nsr{tag}{kind}{unique}", f"nsr{tag}{kind}{unique}"[:15]
    block = (int(unique, 16) * 4 + index * 4) % 65536
    base = (10 << 24) | (103 << 16) | (block & 0xFFFC)
    host_ip = ".".join(str((base + 1) >> s & 255) for s in (24, 16, 8, 0))
    ip = ".".join(str((base + 2) >> s & 255) for s in (24, 16, 8, 0))
    sh("ip", "netns", "add", netns)
    try:
        sh("ip", "link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_link)
        sh("ip", "link", "set", host_link, "up")
        sh("ip", "netns", "exec", netns, "ip", "addr", "add", f"{ip}/30", "dev", "eth0")
        sh("ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
    except BaseException:
        remove_peer(netns)
        raise
    return Peer(netns, host_link, host_ip, ip)


def remove_peer(netns: str) -> None:
    sh("ip", "netns", "del", netns, check=False)  # takes its veth pair with it


@contextlib.contextmanager
def peer(root: str, kind: str, unique: str, index: int):
    p = make_peer(root, kind, unique, index)
    try:
        yield p
    finally:
        remove_peer(p.netns)


BACKENDS = ["nft", "iptables", "iptables-legacy"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict:
    """``{"plugins", "env", "name"}`` selecting one firewall backend (the legacy variant of iptables too).
    (Fixtures live here, not in a conftest.py, whose module name would shadow tests/conftest.py.)"""
    name = request.param
    env = {}
    if name == "iptables-legacy":
        if shutil.which("iptables-legacy-restore") is None:
            pytest.fail("iptables-legacy is not installed (make setup installs iptables)")
        env["NSRUN_IPTABLES"] = "iptables-legacy"
        name = "iptables"
    return {"plugins": f"ipc,uts,pid,net,{name},mnt,sec", "env": env, "name": request.param}


@pytest.fixture
def net_nsrun(nsrun, backend):
    """The ``nsrun`` runner with the backend selected. No reset here: the leak check looks first (networks,
    bridges and tables are shared objects it allows), then resets the root."""
    def run(*args: str, **kwargs):
        kwargs.setdefault("env", backend["env"])
        return nsrun("--plugins", backend["plugins"], *args, **kwargs)
    run.plain = nsrun
    run.backend = backend
    return run
