"""[parent] Which cgroup file systems the container sees at /sys/fs/cgroup, decided from the host's tables.

Pure logic: text of /proc/self/mountinfo and /proc/self/cgroup in, a list of ``Mount`` out (applied in order
by the mnt plugin, inside the container's mount and cgroup namespaces). Docker's layout on the same host:

- pure cgroup v2 (cgroup2 mounted at /sys/fs/cgroup): cgroup2 read-only at /sys/fs/cgroup;
- v1 or hybrid (a tmpfs at /sys/fs/cgroup, one v1 hierarchy per directory, cgroup2 at /sys/fs/cgroup/unified):
  a tmpfs at /sys/fs/cgroup, each hierarchy read-only under the host's directory name (``cpu,cpuacct``),
  cgroup2 read-only at ``unified``, then the tmpfs remounted read-only. Docker adds symlinks ``cpu`` and
  ``cpuacct`` for a co-mounted ``cpu,cpuacct``; a ``Mount`` cannot make a symlink, so each such name is a
  second read-only mount of the same hierarchy (same superblock, same files).

With a private cgroup namespace (``--cgroupns private``) each hierarchy is mounted afresh, so its root is the
namespace's root: the cgroup nsrun runs in, never above it. With ``--cgroupns host`` there is no namespace to
root a fresh mount in (and a user namespace may not mount one), so the caller's own cgroup directory of each
hierarchy is bind-mounted read-only instead (runc's way without a cgroup namespace).
"""
from __future__ import annotations

from nsrun import Fields, Mount

__all__ = ["CgroupMount", "parse_mountinfo", "parse_proc_cgroup", "plan_mounts", "BASE"]

BASE = "/sys/fs/cgroup"
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND = 1, 2, 4, 8, 32, 4096
_SAFE = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
_TMPFS_DATA = "mode=755"


class CgroupMount(Fields):
    """One cgroup file system of the host: where it is mounted, its type (``cgroup``/``cgroup2``), the path
    inside the hierarchy that is its root, its superblock id (``major:minor``) and super options."""

    __slots__ = ("mountpoint", "fstype", "root", "dev", "options")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts of a /proc/PID/mountinfo text, in its order."""
    found = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append(CgroupMount(_unescape(fields[4]), tail[0], _unescape(fields[3]), fields[2],
                                 tuple(tail[2].split(","))))
    return found


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup -> ``{controllers: path}``: ``"memory"``, ``"cpu,cpuacct"``, ``"name=systemd"``
    for v1 hierarchies, ``""`` for cgroup2."""
    out = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out[parts[1]] = parts[2]
    return out


def _bind_source(m: CgroupMount, path: str) -> str:
    """The host directory of the cgroup ``path`` in hierarchy ``m`` (the mountpoint when ``path`` lies
    outside what that mount shows)."""
    root = m.root.rstrip("/")
    if path == m.root or path.startswith(root + "/"):
        rest = path[len(root):].strip("/")
        return f"{m.mountpoint}/{rest}" if rest else m.mountpoint
    return m.mountpoint


def _one(m: CgroupMount, target: str, controllers: str, path: str, host_ns: bool) -> Mount:
    if host_ns:
        return Mount(_bind_source(m, path), target, None, _MS_BIND, readonly=True)
    if m.fstype == "cgroup2":
        return Mount("cgroup2", target, "cgroup2", _MS_RDONLY | _SAFE)
    return Mount("cgroup", target, "cgroup", _MS_RDONLY | _SAFE, controllers)


def plan_mounts(mountinfo: str, proc_cgroup: str, host_ns: bool = False) -> tuple[list[Mount], list[str]]:
    """The mounts that give the container a read-only /sys/fs/cgroup like Docker's on this host, and notes
    (hierarchies left out, and why). ``host_ns``: the container shares the caller's cgroup namespace."""
    mounts, notes = parse_mountinfo(mountinfo), []
    own = parse_proc_cgroup(proc_cgroup)
    unified = next((m for m in mounts if m.fstype == "cgroup2" and m.mountpoint == BASE), None)
    if unified is not None:
        return [_one(unified, BASE, "", own.get("", "/"), host_ns)], notes
    plan: list[Mount] = []
    taken: set[str] = set()
    seen_dev: set[str] = set()
    for m in mounts:
        parent, _, name = m.mountpoint.rpartition("/")
        if parent != BASE or not name or name in taken or m.dev in seen_dev:
            continue
        # the hierarchy's line in /proc/self/cgroup: "" for cgroup2, else the one whose controllers it mounts
        controllers = "" if m.fstype == "cgroup2" else next(
            (c for c in own if c and set(c.split(",")) <= set(m.options)), None)
        if controllers is None or controllers not in own:
            notes.append(f"{m.mountpoint}: the caller is in no cgroup of this hierarchy; left out")
            continue
        seen_dev.add(m.dev)
        taken.add(name)
        plan.append(_one(m, f"{BASE}/{name}", controllers, own[controllers], host_ns))
        if m.fstype == "cgroup" and "," in name:
            for alias in name.split(","):
                if alias and alias not in taken and all(f"{BASE}/{alias}" != o.mountpoint for o in mounts):
                    taken.add(alias)
                    plan.append(_one(m, f"{BASE}/{alias}", controllers, own[controllers], host_ns))
    if not plan:
        return [], notes or [f"no cgroup file system is mounted under {BASE} on the host; nothing mounted"]
    return ([Mount("tmpfs", BASE, "tmpfs", _SAFE, _TMPFS_DATA)] + plan
            + [Mount("tmpfs", BASE, "tmpfs", _MS_REMOUNT | _MS_RDONLY | _SAFE, _TMPFS_DATA)]), notes
