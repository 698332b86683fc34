"""What nsrun left on the host, and which of it may stay: the leak check of every privileged test.

``snapshot(root)`` lists, object by object, what carries the root's tag (``Paths.tag``) on the host and what
lies under the root: links (with their kind), network namespaces, the root's nftables table (ip nsrun<tag>)
down to each chain, set, rule and set/map element, each iptables line of the root's chains and hooks (``iptables-save``
and ``iptables-legacy-save``), cgroup directories named with ``nsr`` and the tag, mounts under the root,
processes whose root or cwd is under it (and supervisors of it), container records, leases and volumes, and image
staging directories. Tests running at the same time under other roots never look like leaks.

``leaks(before, after, root)`` is what ``after`` has that ``before`` had not, minus an explicit allow-list,
``SHARED``: the objects a root may keep after its last container is gone, until ``system reset`` (as
docker0 outlives Docker's containers). Everything else a test left is a leak: a veth, a published port
(an element of the ``any_*``/``ip_*`` maps, an iptables DNAT rule), a container record, a lease, a mount,
a process, a netns, a cgroup, a staging directory.

A probe that cannot look (its tool is missing, or fails) raises ``ProbeError`` when ``strict`` (the default
under ``CI=true``): a check that cannot see must not count as clean.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess

TOOLS = ("ip", "nft", "iptables-save", "iptables-legacy-save", "ip6tables-save", "ip6tables-legacy-save")
IPTABLES_TOOLS = ("iptables-save", "iptables-legacy-save", "ip6tables-save", "ip6tables-legacy-save")
NFT_FAMILIES = ("ip", "ip6")  # ip6 nsrun<tag>: the IPv6 side of dual-stack networks
NETWORK_SETS = ("bridges", "subnets", "samebr")  # elements of a network; every other set/map: a container's

SHARED = """\
links     a bridge of the root's networks: nsr<tag>b0, nsr<tag>n<6 hex> (never a veth or any other link)
nft       the tables ip nsrun<tag> and ip6 nsrun<tag>, and in them the chains, sets, maps and rules of a freshly made table (the
          backend's skeleton, as the kernel lists it); rules naming one of the root's bridges (a network's);
          elements of the sets bridges, subnets, samebr naming the root's bridges and their subnets (never
          an element of the maps any_addr, any_port, ip_addr, ip_port: a published port)
iptables  (and ip6tables) the root's chains NSRUN<TAG>-{DNAT,POST,FWD,NETIN,NETOUT,INPUT}; the jumps to them from built-in
          chains; FWD's jumps to NETIN and NETOUT; rules of POST, NETIN, NETOUT and INPUT (the loopback guard)
          naming one of the root's bridges (a network's), never a DNAT rule
"""


class ProbeError(RuntimeError):
    """The leak check cannot see one kind of object (a tool is missing or failed)."""


def root_tag(root: str) -> str:
    return hashlib.sha1(os.path.abspath(root).encode()).hexdigest()[:4]


def _strict(strict: bool | None) -> bool:
    return os.environ.get("CI") == "true" if strict is None else strict


def _run(argv: list[str], strict: bool, input: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> str | None:
    """The tool's stdout; None when it cannot answer (then ``ProbeError`` if ``strict``)."""
    if shutil.which(argv[0]) is None:
        why = f"{argv[0]} is not installed"
    else:
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=60, input=input)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"`{' '.join(argv)}` failed: {exc}"
        else:
            if res.returncode in ok_codes:
                return res.stdout
            why = f"`{' '.join(argv)}` exited {res.returncode}: {res.stderr.strip()[:200]}"
    if strict:
        raise ProbeError(f"the leak check cannot look: {why}")
    return None


# -- probes ---------------------------------------------------------------------------------------------------
def links(tag: str, strict: bool | None = None) -> set[str]:
    """``KIND NAME`` of every link named ``nsr...`` with the tag; a bridge also lists its IPv4 subnets."""
    out = _run(["ip", "-j", "-d", "addr", "show"], _strict(strict))
    if out is None:  # not strict: names and bridges from sysfs, without subnets
        return {f"{'bridge' if os.path.isdir(f'/sys/class/net/{n}/bridge') else 'link'} {n}"
                for n in os.listdir("/sys/class/net") if n.lower().startswith("nsr") and tag in n.lower()}
    found = set()
    for link in json.loads(out or "[]"):
        name = link.get("ifname", "")
        if not (name.lower().startswith("nsr") and tag in name.lower()):
            continue
        kind = link.get("linkinfo", {}).get("info_kind") or "link"
        item = f"{kind} {name}"
        if kind == "bridge":
            nets = sorted(str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network)
                          for a in link.get("addr_info", []) if a.get("family") == "inet"
                          or (a.get("family") == "inet6" and a.get("scope") == "global"))
            item = " ".join([item, *nets])
        found.add(item)
    return found


def netns(tag: str) -> set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if n.lower().startswith("nsr") and tag in n.lower()}
    except FileNotFoundError:
        return set()


def _nft_items(listing: dict) -> dict[str, set[str]]:
    """``nft -j list table`` output as items per table (``FAMILY NAME``), handles left out."""
    tables: dict[str, set[str]] = {}

    def strip(d: dict, *keys: str) -> dict:
        return {k: v for k, v in d.items() if k not in ("family", "table", "handle", *keys)}
    for obj in listing.get("nftables", []):
        kind, body = next(iter(obj.items()))
        if kind == "metainfo":
            continue
        table = f"{body['family']} {body['table'] if kind != 'table' else body['name']}"
        items = tables.setdefault(table, set())
        if kind == "table":
            items.add("table")
        elif kind == "chain":
            items.add(f"chain {body['name']} {json.dumps(strip(body, 'name'), sort_keys=True)}")
        elif kind in ("set", "map"):
            items.add(f"{kind} {body['name']} {json.dumps(strip(body, 'name', 'elem'), sort_keys=True)}")
            items |= {f"element {body['name']} {json.dumps(e, sort_keys=True)}" for e in body.get("elem", [])}
        elif kind == "rule":
            items.add(f"rule {body['chain']} {json.dumps(strip(body, 'chain'), sort_keys=True)}")
        else:
            items.add(f"{kind} {json.dumps(strip(body), sort_keys=True)}")
    return tables


def nft(tag: str, strict: bool | None = None) -> set[str]:
    """``ip nsrun<tag>: ITEM`` for the root's table and everything in it (the only table nsrun makes; listing
    just it costs ~10 ms where ``nft list tables`` fetches every table on the host: 0.3-1.5 s here)."""
    table = f"nsrun{tag}"
    if shutil.which("nft") is None:
        _run(["nft"], _strict(strict))  # raises when strict
        return set()
    found: set[str] = set()
    for family in NFT_FAMILIES:
        try:
            res = subprocess.run(["nft", "-j", "list", "table", family, table], capture_output=True, text=True,
                                 timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            if _strict(strict):
                raise ProbeError(f"the leak check cannot look: `nft -j list table {family} {table}` failed: {exc}")
            continue
        if res.returncode != 0:
            if "No such file or directory" in res.stderr:
                continue  # no table: nothing of the root's in this family
            if _strict(strict):
                raise ProbeError(f"the leak check cannot look: `nft -j list table {family} {table}` exited "
                                 f"{res.returncode}: {res.stderr.strip()[:200]}")
            continue
        found |= {f"{t}: {i}" for t, items in _nft_items(json.loads(res.stdout)).items() for i in items}
    return found


def iptables(tag: str, strict: bool | None = None) -> set[str]:
    """``TOOL TABLE: LINE`` for each chain of the root's and each rule in one or jumping to one."""
    own = re.compile(rf"\bNSRUN{re.escape(tag.upper())}-")
    found = set()
    for tool in IPTABLES_TOOLS:
        out = _run([tool], _strict(strict)) or ""
        table = ""
        for line in out.splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
            elif line.startswith(":") and own.match(line[1:]):
                found.add(f"{tool} {table}: {line.split()[0]}")  # without policy and counters
            elif line.startswith("-A ") and own.search(line):
                found.add(f"{tool} {table}: {line.strip()}")
    return found


def cgroups(tag: str) -> set[str]:
    """Directories anywhere under /sys/fs/cgroup named with ``nsr`` + the tag (``nsr<tag>...``, ``nsrun<tag>``,
    ``nsrun-<tag>``), as a cgroup plugin must name a container's cgroup, like every host object of a root.
    (Just ``nsr`` is not enough: the benchmark's anchors run as ``nsrbench-*`` cgroups at the same time.)"""
    mine = re.compile(rf"nsr(un)?[-_]?{re.escape(tag)}", re.IGNORECASE)
    found = set()
    for dirpath, dirs, _ in os.walk("/sys/fs/cgroup"):
        found |= {os.path.join(dirpath, d) for d in dirs if mine.search(d)}
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
    """Container records, leases (addresses and host ports) and named volumes left under the test's own root."""
    found = set()
    cdir = os.path.join(root, "containers")
    if os.path.isdir(cdir):
        found |= {f"container {d[:12]}" for d in os.listdir(cdir) if re.fullmatch(r"[0-9a-f]{64}", d)}
    vdir = os.path.join(root, "volumes")
    found |= {f"volume {n}" for n in _listdir(vdir) if not n.startswith(".")}
    ndir = os.path.join(root, "networks")
    if os.path.isdir(ndir):
        for dirpath, _, files in os.walk(ndir):
            found |= {f"lease {os.path.join(dirpath, f)}" for f in files if f.endswith(".lease")}
    return found


def staging(root: str) -> set[str]:
    """Image and layer directories being made (``images/*.tmp*``, ``images/sha256/*.tmp*``, ``layers/*.tmp*``,
    ``layers/HEX/diff-UID-GID.tmp*``) and partial blobs (``content/ingest/*``)."""
    found = set()
    for top in (os.path.join(root, "images"), os.path.join(root, "layers")):
        for pattern_dir in (top, *[os.path.join(top, d) for d in _listdir(top)]):
            found |= {os.path.join(pattern_dir, n) for n in _listdir(pattern_dir) if ".tmp" in n}
    ingest = os.path.join(root, "content", "ingest")  # a blob being written (a pull's partial download)
    found |= {os.path.join(ingest, n) for n in _listdir(ingest)}
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path) if os.path.isdir(path) else []
    except OSError:
        return []


def snapshot(root: str, strict: bool | None = None) -> dict[str, set[str]]:
    """Every object of ``root`` on the host, by kind. ``strict`` (default: ``CI=true``): a probe that cannot
    look raises ``ProbeError`` instead of seeing nothing."""
    tag = root_tag(root)
    return {"links": links(tag, strict), "netns": netns(tag), "nft": nft(tag, strict),
            "iptables": iptables(tag, strict), "cgroups": cgroups(tag), "mounts": mounts(root),
            "processes": processes(root) | supervisors(root), "state": state(root), "staging": staging(root)}


def diff(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, set[str]]:
    """Everything new in ``after``, allowed or not."""
    return {k: after[k] - before.get(k, set()) for k in after if after[k] - before.get(k, set())}


# -- the allow-list -------------------------------------------------------------------------------------------
def _bridges(tag: str, after_links: set[str]) -> dict[str, list[str]]:
    """The root's bridges in a snapshot, with their subnets."""
    pattern = re.compile(rf"nsr{re.escape(tag)}(b0|n[0-9a-f]{{6}})")
    out = {}
    for item in after_links:
        kind, name, *nets = item.split()
        if kind == "bridge" and pattern.fullmatch(name):
            out[name] = nets
    return out


@functools.lru_cache(maxsize=2)
def fixed_nft(family: str = "ip") -> frozenset[str]:
    """The items of a table the nft backend just made (its skeleton), as the kernel lists them: built by the
    backend's own rule builder and loaded in a private network namespace, so the host's firewall is never
    touched and a change to the skeleton never reads as a leak."""
    from nsrun_ns_net import nft_rules
    scratch = "nsrunleakcheck"
    cmds = json.dumps({"nftables": nft_rules.skeleton(scratch, family)})
    out = _run(["unshare", "--net", "sh", "-c", f"nft -j -f - && nft -j list table {family} {scratch}"], True,
               input=cmds)
    return frozenset(_nft_items(json.loads(out or "{}")).get(f"{family} {scratch}", set()))


def _element_names(elem: object) -> list[str]:
    if isinstance(elem, str):
        return [elem]
    if isinstance(elem, dict) and "concat" in elem:
        return [e for e in elem["concat"] if isinstance(e, str)]
    return []


def _shared_nft(item: str, tag: str, bridges: dict[str, list[str]]) -> bool:
    table, _, what = item.partition(": ")
    family = table.split()[0]
    if table not in {f"{f} nsrun{tag}" for f in NFT_FAMILIES}:
        return False
    if what == "table" or what in fixed_nft(family):
        return True
    kind, name, body = (what.split(" ", 2) + ["", ""])[:3]
    if kind == "element" and name in ("bridges", "samebr"):
        names = _element_names(json.loads(body))
        return bool(names) and all(n in bridges for n in names)
    if kind == "element" and name == "subnets":
        prefix = json.loads(body).get("prefix", {})
        return f"{prefix.get('addr')}/{prefix.get('len')}" in {n for nets in bridges.values() for n in nets}
    if kind == "rule":
        return "dnat" not in body and any(f'"{b}"' in body for b in bridges)
    return False


def _shared_iptables(item: str, tag: str, bridges: dict[str, list[str]]) -> bool:
    line = item.partition(": ")[2]
    p = f"NSRUN{tag.upper()}-"
    chains = {f"{p}{c}" for c in ("DNAT", "POST", "FWD", "NETIN", "NETOUT", "INPUT")}
    if line.startswith(":"):
        return line[1:] in chains
    words = line.split()
    chain, target = words[1], words[words.index("-j") + 1] if "-j" in words else ""
    if target == "DNAT" or chain == f"{p}DNAT":
        return False
    if chain in ("PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD", "INPUT"):
        return target in chains  # a hook
    if chain == f"{p}FWD":
        return words[2:] in (["-j", f"{p}NETIN"], ["-j", f"{p}NETOUT"])
    if chain in chains:  # POST, NETIN, NETOUT, INPUT: a network's rules name its bridge
        return any(w in bridges for w in words)
    return False


def shared(kind: str, item: str, tag: str, after: dict[str, set[str]]) -> bool:
    """Whether ``item`` (of ``kind``, seen in the snapshot ``after``) is on the allow-list ``SHARED``."""
    bridges = _bridges(tag, after.get("links", set()))
    if kind == "links":
        return item.split()[1] in bridges and item.split()[0] == "bridge"
    if kind == "nft":
        return _shared_nft(item, tag, bridges)
    if kind == "iptables":
        return _shared_iptables(item, tag, bridges)
    return False


def leaks(before: dict[str, set[str]], after: dict[str, set[str]], root: str,
          allow_shared: bool = True) -> dict[str, set[str]]:
    """What ``after`` has that ``before`` had not and ``SHARED`` does not allow (with ``allow_shared``)."""
    tag = root_tag(root)
    out = {}
    for kind, new in diff(before, after).items():
        bad = {i for i in new if not (allow_shared and shared(kind, i, tag, after))}
        if bad:
            out[kind] = bad
    return out


def owns_anything(before: dict[str, set[str]], after: dict[str, set[str]], root: str) -> bool:
    """Whether the root holds anything ``system reset`` should remove (shared objects included)."""
    return bool(diff(before, after)) or os.path.isdir(os.path.join(root, "networks"))
