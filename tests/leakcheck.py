"""What nsrun could leave on the host, as sets of names, so a test can be checked for leaks.

Names nsrun gives its host-wide objects carry ``nsr`` and the root's tag (``Paths.tag``): links, nft tables,
iptables chains, network namespaces. The check looks only at objects with the test root's tag, so tests
running at the same time under other roots never look like leaks. Mounts are those under the root;
processes, those whose root or cwd lies under it (or supervisors of it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess


def _run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def links() -> set[str]:
    return {name for name in os.listdir("/sys/class/net") if name.lower().startswith("nsr")}


def netns() -> set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if n.lower().startswith("nsr")}
    except FileNotFoundError:
        return set()


def nft_tables() -> set[str]:
    out = _run(["nft", "-j", "list", "tables"])
    try:
        items = json.loads(out).get("nftables", []) if out else []
    except ValueError:
        return set()
    return {f"{i['table']['family']} {i['table']['name']}" for i in items
            if "table" in i and "nsr" in i["table"]["name"].lower()}


def iptables_chains() -> set[str]:
    found = set()
    for tool in ("iptables-save", "iptables-legacy-save", "ip6tables-save"):
        for line in _run([tool]).splitlines():
            if line.startswith(":") and "nsr" in line.lower():
                found.add(f"{tool}: {line.split()[0][1:]}")
            elif "-j NSR" in line.upper() and line.startswith("-A"):
                found.add(f"{tool}: {line.strip()}")
    return found


def mounts(root: str | None = None) -> set[str]:
    found = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4]
            if root and target.startswith(root):
                found.add(target)
    return found


def processes(root: str) -> set[str]:
    """Processes whose root or cwd lies under ``root`` (a container of this test still running)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("root", "cwd"):
            try:
                target = os.readlink(f"/proc/{pid}/{what}")
            except OSError:
                continue
            if target.startswith(root):
                found.add(f"pid {pid} ({what} {target})")
                break
    return found


def supervisors(root: str) -> set[str]:
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        # Supervisors forked by the daemon's fork server carry the fork server's command line.
        if (b"nsrun._supervisor" in cmd or b"nsrun._forkserver" in cmd) and root.encode() in cmd:
            found.add(f"supervisor pid {pid}")
    return found


def state(root: str) -> set[str]:
    """Container records and leases left under the test's own root."""
    found = set()
    cdir = os.path.join(root, "containers")
    if os.path.isdir(cdir):
        found |= {f"container {d[:12]}" for d in os.listdir(cdir) if re.fullmatch(r"[0-9a-f]{64}", d)}
    ndir = os.path.join(root, "networks")
    if os.path.isdir(ndir):
        for dirpath, _, files in os.walk(ndir):
            found |= {f"lease {os.path.join(dirpath, f)}" for f in files if f.endswith(".lease")}
    return found


def root_tag(root: str) -> str:
    import hashlib
    return hashlib.sha1(os.path.abspath(root).encode()).hexdigest()[:4]


def snapshot(root: str) -> dict[str, set[str]]:
    tag = root_tag(root)

    def mine(names: set[str]) -> set[str]:
        return {n for n in names if tag in n.lower()}
    return {"links": mine(links()), "netns": mine(netns()), "nft": mine(nft_tables()),
            "iptables": mine(iptables_chains()), "mounts": mounts(root),
            "processes": processes(root) | supervisors(root), "state": state(root)}


def diff(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, set[str]]:
    return {k: after[k] - before.get(k, set()) for k in after if after[k] - before.get(k, set())}
