"""[parent] A container's cgroups: found, made, joined, frozen, read and removed. The only module that writes
cgroup files.

``hierarchies(mountinfo, proc_cgroup)`` says where each hierarchy is mounted and which of its cgroups the
caller is in; ``Cgroup.plan`` names the container's directory in each, **beneath the caller's own cgroup**
(``--cgroup-parent`` is relative to it: nothing is ever made or joined outside that subtree). v1 (and the v1
side of the hybrid layout: memory, cpu, cpuacct, cpuset, pids, blkio, freezer, devices — each its own
hierarchy or co-mounted) carries the limits; the hybrid's cgroup2 at ``/sys/fs/cgroup/unified`` gets a
directory too (membership, no controllers). Pure v2 (cgroup2 at ``/sys/fs/cgroup``): one directory, the
needed controllers enabled in ``cgroup.subtree_control`` from the caller's cgroup down.

Every file access goes through ``Fs`` (``os`` itself), so the v2 path is unit-tested against a fake tree.
"""
from __future__ import annotations

import errno
import os
import _signal as signal
import time

TYPE_CHECKING = False  # no typing import at run time (it imports re): nsrun-oci delete imports this
if TYPE_CHECKING:
    from typing import Any

from nsrun import ConfigError, NsrunError, SetupError

from .layout import BASE, parse_mountinfo, parse_proc_cgroup

__all__ = ["Fs", "Hierarchy", "Cgroup", "hierarchies", "cgroup_name", "own_cgroups"]

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer", "devices")
V2_CONTROLLERS = ("memory", "cpu", "io", "pids", "cpuset")


class Fs:
    """The file operations on cgroup trees (``os``); a test substitutes a faithful fake."""

    def mkdir(self, path: str) -> None:
        os.mkdir(path, 0o755)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read(self, path: str) -> str:
        with open(path) as f:
            return f.read()

    def write(self, path: str, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)


class Hierarchy:
    """One mounted hierarchy: ``controllers`` (the /proc/self/cgroup key: ``memory``, ``cpu,cpuacct``,
    ``""`` for cgroup2), ``version``, and ``own``: the host directory of the caller's cgroup in it."""

    __slots__ = ("controllers", "version", "own")

    def __init__(self, controllers: str, version: int, own: str) -> None:
        self.controllers, self.version, self.own = controllers, version, own

    def __repr__(self) -> str:
        return f"Hierarchy({self.controllers!r}, v{self.version}, {self.own!r})"


def hierarchies(mountinfo: str, proc_cgroup: str) -> list[Hierarchy]:
    """The hierarchies a container's cgroup is made in: pure v2 -> [the one cgroup2]; v1/hybrid -> each v1
    hierarchy of ``V1_CONTROLLERS`` (once per superblock) and the hybrid's cgroup2 (``unified``)."""
    mounts, own = parse_mountinfo(mountinfo), parse_proc_cgroup(proc_cgroup)

    def own_dir(m: Any, key: str) -> str | None:
        path = own.get(key)
        if path is None:
            return None
        root = m.root.rstrip("/")
        if not (path == m.root or path.startswith(root + "/")):
            return None          # the caller's cgroup is not visible through this mount
        rest = path[len(root):].strip("/")
        return f"{m.mountpoint}/{rest}" if rest else m.mountpoint
    pure = next((m for m in mounts if m.fstype == "cgroup2" and m.mountpoint == BASE), None)
    if pure is not None:
        d = own_dir(pure, "")
        return [Hierarchy("", 2, d)] if d else []
    out, seen = [], set()
    for m in mounts:
        parent, _, name = m.mountpoint.rpartition("/")
        if parent != BASE or m.dev in seen:
            continue
        if m.fstype == "cgroup2":
            key = ""
        else:
            ctls = [c for c in m.options if c in V1_CONTROLLERS]
            if not ctls:
                continue
            key = next((k for k in own if k and set(k.split(",")) == set(ctls)), ",".join(ctls))
        d = own_dir(m, key)
        if d is None:
            continue
        seen.add(m.dev)
        out.append(Hierarchy(key, 2 if m.fstype == "cgroup2" else 1, d))
    return out


def own_cgroups() -> list[Hierarchy]:
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open("/proc/self/cgroup") as f:
        return hierarchies(mountinfo, f.read())


def cgroup_name(tag: str, cid: str) -> str:
    """The container's directory name: ``nsr<tag>-<id>``, like every host object of a root (gc, leak check)."""
    return f"nsr{tag}-{cid}"


def _check_parent(parent: str) -> str:
    parent = (parent or "").strip("/")
    if any(part in ("", ".", "..") for part in parent.split("/")) and parent:
        raise ConfigError(f"invalid --cgroup-parent {parent!r}: a relative path without '.' or '..'")
    return parent


class Cgroup:
    """A container's cgroup in every hierarchy: ``dirs`` {hierarchy key: directory}, ``version`` (1 when
    the limits go to v1 files, 2 on a pure v2 host)."""

    def __init__(self, dirs: dict[str, str], version: int, fs: Fs | None = None) -> None:
        self.dirs, self.version, self.fs = dirs, version, fs or Fs()

    @classmethod
    def plan(cls, hiers: list[Hierarchy], name: str, parent: str = "", fs: Fs | None = None) -> "Cgroup":
        parent = _check_parent(parent)
        if not hiers:
            raise SetupError("no cgroup hierarchy of the caller is mounted under /sys/fs/cgroup", phase="cgroup")
        version = 2 if all(h.version == 2 for h in hiers) else 1
        dirs = {h.controllers: "/".join(p for p in (h.own, parent, name) if p) for h in hiers}
        return cls(dirs, version, fs)

    @classmethod
    def from_info(cls, info: dict[str, Any], fs: Fs | None = None) -> "Cgroup":
        cg = info.get("Cgroup") or {}
        return cls(dict(cg.get("dirs") or {}), int(cg.get("version") or 1), fs)

    # -- what other commands read: ctx.info["Cgroup"] ----------------------------------------------------
    def info(self) -> dict[str, Any]:
        """``{"version", "paths": {controller: dir}, "dirs": {hierarchy key: dir}}``: ``paths`` has one
        entry per controller (``memory``, ``cpu``, ``cpuacct`` ...; ``unified`` for a cgroup2 directory)."""
        paths: dict[str, str] = {}
        for key, d in self.dirs.items():
            if key == "":
                paths["unified"] = d
                if self.version == 2:
                    paths.update({c: d for c in V2_CONTROLLERS})
            else:
                paths.update({c: d for c in key.split(",")})
        return {"version": self.version, "paths": paths, "dirs": dict(self.dirs)}

    def dir_of(self, controller: str) -> str | None:
        """The directory whose files set ``controller`` (the one v2 directory on a pure v2 host)."""
        if self.version == 2:
            return self.dirs.get("")
        return next((d for k, d in self.dirs.items() if k and controller in k.split(",")), None)

    # -- making -----------------------------------------------------------------------------------------
    def create(self, made: list[str]) -> None:
        """Make every directory (missing ``--cgroup-parent`` levels too), appending each to ``made`` as it
        exists (teardown removes them, deepest first). v1 cpuset: cpus and mems copied from the parent, as
        a task cannot join an empty cpuset. v2: the controllers enabled down to the container's parent."""
        fs = self.fs
        for key, d in self.dirs.items():
            missing = []
            up = os.path.dirname(d)
            while not fs.exists(up):
                missing.append(up)
                up = os.path.dirname(up)
            for path in [*reversed(missing), d]:
                if self.version == 2 and key == "":
                    self._enable_controllers(os.path.dirname(path))
                fs.mkdir(path)
                made.append(path)
                if key and "cpuset" in key.split(","):
                    for f in ("cpuset.cpus", "cpuset.mems"):
                        fs.write(f"{path}/{f}", fs.read(f"{os.path.dirname(path)}/{f}").strip() or "\n")

    def _enable_controllers(self, parent: str) -> None:
        fs = self.fs
        available = fs.read(f"{parent}/cgroup.controllers").split()
        enabled = fs.read(f"{parent}/cgroup.subtree_control").split()
        want = [c for c in V2_CONTROLLERS if c in available and c not in enabled]
        if not want:
            return
        try:
            fs.write(f"{parent}/cgroup.subtree_control", " ".join(f"+{c}" for c in want))
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise SetupError(f"cgroup v2: cannot delegate {' '.join(want)} below {parent}: processes live "
                                 f"there (run nsrun in a cgroup of its own, e.g. systemd-run --scope -p "
                                 f"Delegate=yes)", phase="cgroup", errno=exc.errno) from exc
            raise

    def apply(self, writes: list[tuple[str, str, str]]) -> None:
        """Write ``(controller, file, value)`` limits; a file the kernel lacks is one clear line."""
        for controller, name, value in writes:
            d = self.dir_of(controller)
            if d is None:
                raise ConfigError(f"the {controller} cgroup controller is not available to nsrun here "
                                  f"(needed for {name})")
            try:
                self.fs.write(f"{d}/{name}", value)
            except FileNotFoundError:
                raise ConfigError(f"this kernel has no {name} (the {controller} controller lacks it)") from None
            except OSError as exc:
                raise ConfigError(f"cannot set {name} to {value}: {exc.strerror}") from None

    def update(self, writes: list[tuple[str, str, str]]) -> None:
        """Live change: like ``apply``, but a v1 memory limit raised above the swap limit goes after it."""
        mem = [w for w in writes if w[1] in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")]
        rest = [w for w in writes if w not in mem]
        if len(mem) == 2:
            try:
                self.apply(mem)
            except ConfigError:
                self.apply(mem[::-1])     # raising: memsw must grow first
        else:
            self.apply(mem)
        self.apply(rest)

    def enter(self, pid: int) -> None:
        """Put ``pid`` (parked, before anything of the container runs) into every directory."""
        for d in self.dirs.values():
            self.fs.write(f"{d}/cgroup.procs", str(pid))

    # -- looking ----------------------------------------------------------------------------------------
    def oom_killed(self) -> bool:
        """Whether the OOM killer killed anything in it (v1 ``memory.oom_control`` ``oom_kill``; v2
        ``memory.events``), or a v1 limit was hit with the OOM killer disabled (``under_oom``)."""
        d = self.dir_of("memory")
        if d is None:
            return False
        try:
            text = self.fs.read(f"{d}/memory.oom_control" if self.version == 1 else f"{d}/memory.events")
        except OSError:
            return False
        fields = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(fields.get("oom_kill", 0)) > 0 or int(fields.get("under_oom", 0)) > 0

    def procs(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            try:
                found.update(int(p) for p in self.fs.read(f"{d}/cgroup.procs").split())
            except OSError:
                pass
        return found

    # -- pausing ----------------------------------------------------------------------------------------
    def freeze(self, frozen: bool) -> None:
        """v1 freezer ``FROZEN``/``THAWED`` (waits until the state is reached); v2 ``cgroup.freeze``."""
        if self.version == 2 or "freezer" not in ",".join(self.dirs):
            d = self.dirs.get("")
            if d is None:
                raise ConfigError("no freezer: neither a v1 freezer hierarchy nor cgroup v2 is available")
            self.fs.write(f"{d}/cgroup.freeze", "1" if frozen else "0")
            return
        d = self.dir_of("freezer")
        want = "FROZEN" if frozen else "THAWED"
        for _ in range(1000):
            self.fs.write(f"{d}/freezer.state", want)
            if self.fs.read(f"{d}/freezer.state").strip() == want:
                return
            time.sleep(0.001)
        raise SetupError(f"the freezer of {d} did not reach {want}", phase="freeze")

    def is_frozen(self) -> bool:
        try:
            if self.version == 2 or "freezer" not in ",".join(self.dirs):
                d = self.dirs.get("")
                return d is not None and "frozen 1" in self.fs.read(f"{d}/cgroup.events")
            return self.fs.read(f"{self.dir_of('freezer')}/freezer.state").strip() != "THAWED"
        except OSError:
            return False

    # -- removing ---------------------------------------------------------------------------------------
    def remove(self, made: list[str] | None = None, timeout: float = 5.0) -> None:
        """Kill whatever is left in it (thawed first: a frozen task cannot die), then remove every
        directory, deepest first; ``made``: exactly those (default: the container's own). Gone is fine;
        a parent still in use (EBUSY, ENOTEMPTY) stays."""
        fs = self.fs
        targets = list(made) if made is not None else list(self.dirs.values())
        own = set(self.dirs.values())
        if self.is_frozen():
            try:
                self.freeze(False)
            except (OSError, NsrunError):
                pass
        deadline = time.monotonic() + timeout
        while (pids := self.procs()):
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise SetupError(f"processes {sorted(pids)} stay in the container's cgroup", phase="cgroup")
            time.sleep(0.002)
        for path in sorted(targets, key=lambda p: p.count("/"), reverse=True):
            for attempt in range(500):
                try:
                    fs.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if path not in own:
                        break                      # a --cgroup-parent level someone else uses
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.002)              # the last task is still exiting

