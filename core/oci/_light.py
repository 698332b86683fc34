"""The verbs of nsrun-oci that need no plugin — ``state``, ``start``, ``kill``, ``list`` and the checks of
``delete`` — on a record read with os calls and ``_jsonlite`` only: engines call them around every container, and
each call is a Python start, so what they import is most of what they cost (the interpreter alone is ~9 ms here;
``json``'s ``re``, ``typing`` and ``argparse`` were three times that). ``Runtime`` (``runtime.py``) uses these very
functions; nothing here may import pluggy, ``typing``, ``json``, ``_state`` or ``_context``.

A container is ``<root>/containers/<id>/`` named by its OCI id (``.names/ID -> <id>``), as ``_state.Store`` keeps
it. Its status is read from the kernel every time —

=========  ====================================================================================
creating   ``create`` is still running (its pid is the record's owner)
created    the container's process is alive and parked on the exec fifo (the fifo exists)
running    alive, the fifo is gone (``start`` released it)
paused     running, and the cgroup plugin recorded it paused
stopped    the process is gone (or a zombie its parent has not reaped yet); ``pid`` is 0
=========  ====================================================================================
"""
from __future__ import annotations

import os
import time

from .._jsonlite import dumps, loads
from .._proc import alive
from .._resolve import _owner_of, valid_name
from .._statefile import read_state, update_state
from ..errors import ConflictError, NotFoundError, NsrunError, SetupError
from ._where import DEFAULT_ROOT, containers_of

__all__ = ["DEFAULT_ROOT", "OCI_VERSION", "FIFO", "Entry", "containers_of", "find", "get", "status", "state",
           "entries", "start", "after", "kill", "stop_for_delete", "print_list", "namespace_pids", "rfc3339"]

OCI_VERSION = "1.0.2"
FIFO = "exec.fifo"


def rfc3339(ts: float) -> str:
    """``2026-12-01T14:36:20.048813491Z`` (nanoseconds, as runc prints ``created``)."""
    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1e9):09d}Z"


class Entry:
    """One record as the light verbs see it: its directory, OCI id (the record's name), state and plugins."""

    __slots__ = ("id", "dir", "name", "state", "plugins")

    def __init__(self, cid: str, cdir: str, name: str, state: dict, plugins: list) -> None:
        self.id, self.dir, self.name, self.state, self.plugins = cid, cdir, name, state, plugins


def find(containers: str, name: str) -> Entry | None:
    """The record named ``name``, or None (no such name, or a record whose config.json cannot be read, which
    ``Store.load`` does not count either)."""
    if not valid_name(name or ""):
        return None
    cid = _owner_of(containers, name)
    if cid is None:
        return None
    return _load(containers, cid)


def _load(containers: str, cid: str) -> Entry | None:
    cdir = os.path.join(containers, cid)
    try:
        with open(os.path.join(cdir, "config.json")) as f:
            spec = loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(spec, dict):
        return None
    return Entry(cid, cdir, spec.get("name") or "", read_state(cdir), list(spec.get("plugins") or ()))


def get(containers: str, name: str) -> Entry:
    entry = find(containers, name)
    if entry is None:
        raise NotFoundError(f"container {name} does not exist")
    return entry


def entries(containers: str) -> list[Entry]:
    """Every record of the root, oldest first."""
    try:
        ids = [d for d in os.listdir(containers) if len(d) == 64]
    except FileNotFoundError:
        ids = []
    found = [e for cid in ids if (e := _load(containers, cid)) is not None]
    found.sort(key=lambda e: e.state.get("created", 0))
    return found


def status(cdir: str, st: dict) -> str:
    if st.get("status") == "creating":
        return "creating" if alive(st.get("owner_pid"), st.get("owner_start")) else "stopped"
    if st.get("status") not in ("created", "running") or not alive(st.get("pid"), st.get("pid_start")):
        return "stopped"
    if os.path.lexists(os.path.join(cdir, FIFO)):
        return "created"
    if ((st.get("info") or {}).get("State") or {}).get("Paused"):
        return "paused"
    return "running"


def state(name: str, cdir: str, st: dict) -> dict:
    """The runtime-spec state runc prints (plus runc's ``rootfs``, ``created``, ``owner``)."""
    current = status(cdir, st)
    oci = st.get("oci") or {}
    return {"ociVersion": OCI_VERSION, "id": name, "pid": st.get("pid") or 0 if current != "stopped" else 0,
            "status": current, "bundle": oci.get("bundle", ""), "rootfs": oci.get("rootfs", ""),
            "created": rfc3339(st.get("created") or 0), "owner": "", "annotations": oci.get("annotations") or {}}


# -- start -------------------------------------------------------------------------------------------------------
def not_startable(current: str) -> str:
    return "cannot start a container that has stopped" if current == "stopped" else \
        f"cannot start an already {current} container"


def start(entry: Entry) -> dict:
    """Release the parked process: it execs the command. Raises when the exec failed (``exec failed: ...``,
    the phrases the engines map to 126/127); returns the state as it was written (``running``)."""
    current = status(entry.dir, entry.state)
    if current != "created":
        raise ConflictError(not_startable(current))
    fifo = os.path.join(entry.dir, FIFO)
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:  # another start took it
        raise ConflictError(not_startable(status(entry.dir, read_state(entry.dir)))) from None
    try:
        import fcntl
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # one start per fifo
        except BlockingIOError:
            raise ConflictError(not_startable("running")) from None
        os.unlink(fifo)  # from now on the container is ``running``
        entry.state = update_state(entry.dir, {"status": "running", "started": time.time()})
        _release(fd, entry.state.get("pid"), entry.state.get("pid_start"))
    finally:
        os.close(fd)
    return entry.state


def _release(fd: int, pid: int | None, start: int | None) -> None:
    """Read the exec fifo: ``0`` once the parked process opened it (it goes on), then EOF when its command is
    exec'd (the fifo's write end is close-on-exec) or the stub's failure report before that."""
    import select
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = b""
    while True:
        if not poller.poll(50):
            if not data and not alive(pid, start):
                raise SetupError("the container process is gone: it was killed before start", phase="start")
            continue
        try:
            chunk = os.read(fd, 64)
        except BlockingIOError:
            continue
        if not chunk:
            if data:
                break
            if not alive(pid, start):
                raise SetupError("the container process is gone: it was killed before start", phase="start")
            time.sleep(0.001)  # no writer yet (it opens the fifo right after ``create`` returned)
            continue
        data += chunk
    from .._execstub import decode_failure
    err = decode_failure(data[1:]) if len(data) > 1 else None
    if err is not None:
        import errno
        what = "no such file or directory" if err == errno.ENOENT else os.strerror(err).lower()
        raise NsrunError(f"exec failed: {what}", errno=err)


def after(name: str, cdir: str, st: dict, point: str, current: str) -> list:
    """Run the ``point`` hooks (poststart, poststop) of the record; their failures are warnings (lines to log)."""
    hooks = (st.get("oci") or {}).get("hooks") or {}
    if not hooks.get(point):
        return []
    from .hooks import run_hooks
    try:
        run_hooks(hooks, (point,), {**state(name, cdir, st), "status": current})
    except NsrunError as exc:
        return [exc.message]
    return []


# -- signals and the end -------------------------------------------------------------------------------------
def kill(entry: Entry, sig: int, all_processes: bool = False) -> None:
    if status(entry.dir, entry.state) not in ("created", "running", "paused"):
        raise ConflictError("container not running")
    pid = entry.state["pid"]
    for target in namespace_pids(pid) if all_processes else [pid]:
        try:
            os.kill(target, sig)
        except ProcessLookupError:
            pass


def stop_for_delete(entry: Entry | None, name: str, force: bool) -> bool:
    """``delete``'s part before the plugins: refuse what runc refuses, kill what is left (SIGKILL, then wait
    for it to be gone). False when there is nothing to delete (a missing container with ``force``)."""
    if entry is None:
        if force:
            return False
        raise NotFoundError(f"container {name} does not exist")
    current = status(entry.dir, entry.state)
    if current in ("running", "paused") and not force:
        raise ConflictError(f"cannot delete container {name} that is not stopped: {current}")
    if current == "creating" and not force:
        raise ConflictError(f"cannot delete container {name} that is being created")
    pid, start = entry.state.get("pid"), entry.state.get("pid_start")
    if alive(pid, start):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.005)
    return True


def print_list(states: list, quiet: bool, fmt: str) -> None:
    """``list``: the ids (``-q``), the states as JSON, or runc's table."""
    if quiet:
        for st in states:
            print(st["id"])
    elif fmt == "json":
        print(dumps(states))
    else:
        from .._console import format_table
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(st["id"], st["pid"], st["status"], st["bundle"], st["created"], st["owner"] or "root")
                 for st in states]
        print(format_table(rows))


def namespace_pids(pid: int) -> list[int]:
    """Every process in the PID namespace of ``pid`` (``kill --all``), ``pid`` first."""
    try:
        ns = os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return [pid]
    out = [pid]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != pid:
            try:
                if os.stat(f"/proc/{name}/ns/pid").st_ino == ns:
                    out.append(int(name))
            except OSError:
                pass
    return out
