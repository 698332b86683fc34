"""[parent] What this host's cgroups offer, checked before anything is made; the helper that places a
container's process in its cgroups while it sets up (``Placer``); and ``gc``'s sweep of dead containers'
cgroups.
"""
from __future__ import annotations

import os

from nsrun import ConfigError

from .limits import parse, writes
from .tree import Cgroup, Hierarchy, cgroup_name, own_cgroups

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["checked_limits", "host_cpus", "write_files", "Placer", "placer", "joiner", "wait_placed", "collect"]


def host_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def _host_mems() -> set[int]:
    from .limits import parse_cpuset
    try:
        with open("/sys/devices/system/node/online") as f:
            return parse_cpuset(f.read().strip(), "--cpuset-mems")
    except OSError:
        return {0}


def checked_limits(options: dict[str, Any]) -> dict[str, Any]:
    """The options' limits (Docker's rules), checked against this host: CPUs, memory nodes, and a blkio
    weight only where the kernel has a weight file. Creates nothing."""
    lim = parse(options, cpus=host_cpus(), mems=_host_mems() if options.get("cpuset_mems") else None)
    parent = options.get("cgroup_parent") or ""
    if parent:
        from .tree import _check_parent
        _check_parent(parent)
    if lim.get("BlkioWeight"):
        hiers = own_cgroups()
        probe = Cgroup.plan(hiers, "", "")
        if not _weight_file(probe):
            raise ConfigError("--blkio-weight: this kernel has no block I/O weight (no blkio.weight, "
                              "blkio.bfq.weight, io.weight or io.bfq.weight: the BFQ scheduler is not in use)")
    return lim


def _weight_file(cg: Cgroup) -> str | None:
    d = cg.dir_of("blkio" if cg.version == 1 else "io")
    if d is None:
        return None
    names = ("blkio.weight", "blkio.bfq.weight") if cg.version == 1 else ("io.weight", "io.bfq.weight")
    parent = d.rstrip("/")
    return next((n for n in names if os.path.exists(f"{parent}/{n}") or os.path.exists(
        f"{os.path.dirname(parent)}/{n}")), None)


def write_files(cg: Cgroup, lim: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The writes for ``lim`` in the files this kernel has (``memory.memsw.*`` only with swap accounting)."""
    if not lim:
        return []
    mem_dir = cg.dir_of("memory")
    memsw = bool(mem_dir) and cg.version == 1 and cg.fs.exists(f"{mem_dir}/memory.memsw.limit_in_bytes")
    return writes(lim, cg.version, blkio_file=_weight_file(cg) or "blkio.weight", memsw=memsw)


class Placer:
    """Puts a container's process into its cgroups from a helper process, so nsrun never waits for it.

    The first migration after an idle gap waits for an RCU grace period (6-15 ms here: rcu_sync of the
    cgroup threadgroup lock; it goes idle again one grace period after its last writer). ``start`` (in
    ``pre_clone``/``pre_join``, once the cgroups exist) forks a helper that writes its own pid into its own
    cgroup (it moves nothing, takes the same lock: the wait starts now) every 2 ms; ``place(pid)`` (in
    ``post_start``/``post_join``) hands it the container's process and returns at once. The helper writes that
    pid into every ``cgroup.procs`` and reports on a pipe the child inherited: the child waits for it in
    ``before_exec`` (``wait_placed``), so the command never runs outside its cgroups, while the grace period
    passes during the child's own setup instead of in front of it. A process, not a thread: nsrun's parent
    stays single-threaded up to the container's fork. Bounded: the helper gives up after 5 s."""

    def __init__(self, warm: str, procs: list[str]) -> None:
        self.warm, self.procs = warm, procs
        self.pid, self.to_helper, self.placed = 0, -1, -1

    def start(self) -> "Placer":
        """Fork the helper; ``self.placed`` is the read end the child inherits (close-on-exec)."""
        import time
        placed_r, placed_w = os.pipe2(os.O_CLOEXEC)
        pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the helper: only os calls from here on, then _exit
            code = 1
            try:
                os.close(placed_r)
                os.close(pid_w)
                code = _place(self.warm, self.procs, pid_r, placed_w, time.monotonic() + 5.0)
            finally:
                os._exit(code)
        os.close(placed_w)
        os.close(pid_r)
        self.pid, self.to_helper, self.placed = pid, pid_w, placed_r
        return self

    def place(self, pid: int) -> None:
        """Hand the helper the process to place (the child waits for the result, not us)."""
        try:
            os.write(self.to_helper, b"%d\n" % pid)
        finally:
            os.close(self.to_helper)
            self.to_helper = -1

    def stop(self) -> None:
        """Close our ends and reap the helper (killed if it still runs: the start failed before ``place``)."""
        import signal
        for fd in (self.to_helper, self.placed):
            if fd >= 0:
                os.close(fd)
        self.to_helper = self.placed = -1
        if self.pid:
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0


def _place(warm: str, procs: list[str], pid_r: int, placed_w: int, deadline: float) -> int:
    """The helper's loop (see ``Placer``): warm the lock until a pid arrives, place it, report
    ``b"ok"`` or the failure (``path: strerror``) on ``placed_w``. Its exit status: 0 once placed."""
    import select
    import time
    try:
        wfd = os.open(warm, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        wfd = -1
    me = str(os.getpid()).encode()
    data = b""
    while time.monotonic() < deadline:
        if wfd >= 0:
            try:
                os.write(wfd, me)
            except OSError:
                os.close(wfd)
                wfd = -1
        ready, _, _ = select.select([pid_r], [], [], 0.002)
        if ready:
            chunk = os.read(pid_r, 32)
            data += chunk
            if not chunk or data.endswith(b"\n"):
                break
    if not data.endswith(b"\n"):
        return 1  # nsrun gave up before the child was placed (or took too long): the child sees EOF
    target = data.strip()
    for path in procs:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, target)
            finally:
                os.close(fd)
        except OSError as exc:
            os.write(placed_w, f"{path}: {exc.strerror}".encode())
            return 1
    os.write(placed_w, b"ok")
    return 0


def wait_placed(placer: Placer) -> None:
    """[child, on its forked copy of the ``Placer``] Block until the helper reported; raise OSError (its
    message) unless it placed us. (Its copy of the parent's end of the pid pipe was closed with everything
    else the child inherited: only ``placed`` is in ``ctx.pass_fds``.)"""
    fd = placer.placed
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    if data != b"ok":
        raise OSError(0, "could not join the container's cgroups: "
                         + (data.decode(errors="replace") or "the placing helper ended (nsrun gave up or timed out)"))


def placer(hiers: list[Hierarchy], cg: Cgroup) -> Placer:
    """A started ``Placer`` warming on the caller's own cgroup of the first hierarchy, for ``cg``."""
    return Placer(f"{hiers[0].own}/cgroup.procs", [f"{d}/cgroup.procs" for d in cg.dirs.values()]).start()


def joiner(dirs: list[str]) -> Placer:
    """A started ``Placer`` for an exec's process into ``dirs`` (a container's cgroups), warming on the
    caller's own cgroup of the first v1/v2 hierarchy it finds."""
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open("/proc/self/cgroup") as f:
        own = f.read()
    from .tree import hierarchies
    hiers = hierarchies(mountinfo, own)
    warm = f"{hiers[0].own}/cgroup.procs" if hiers else f"{dirs[0]}/cgroup.procs"
    return Placer(warm, [f"{d}/cgroup.procs" for d in dirs]).start()


def collect(paths: Any, live: frozenset, only: str | None = None) -> list[str]:
    """Remove the cgroups of this root's containers (``nsr<tag>-<id>``) that are not in ``live``, in every
    hierarchy, anywhere beneath the caller's own cgroup (``--cgroup-parent`` levels included); ``only``:
    those of that one container."""
    import re
    ids = re.escape(only) if only else "[0-9a-f]{64}"
    mine = re.compile(rf"^{re.escape(cgroup_name(paths.tag, ''))}({ids})$")
    found: dict[str, dict[str, str]] = {}
    hiers = own_cgroups()
    for h in hiers:
        for dirpath, dirs, _ in os.walk(h.own):
            if dirpath.count("/") - h.own.count("/") >= 6:
                dirs[:] = []
                continue
            for d in list(dirs):
                m = mine.match(d)
                if m:
                    dirs.remove(d)
                    if m.group(1) not in live:
                        found.setdefault(m.group(1), {})[h.controllers] = os.path.join(dirpath, d)
    lines = []
    version = 2 if hiers and all(h.version == 2 for h in hiers) else 1
    for cid, dirs in found.items():
        Cgroup(dirs, version).remove()
        lines.append(f"removed the cgroups of container {cid[:12]}")
    return lines
