"""``nsrun gc`` and ``nsrun system reset``: reconcile what is on disk and in the kernel with what is alive.

A container whose owner (nsrun or its supervisor) is gone — ``kill -9`` at any point — is finished here:
its processes are killed, every installed plugin's ``gc`` hook removes what it owns for containers that are
not alive, and the record is marked exited (or removed, for ``--rm`` containers). Half-created directories
are removed; an event journal over its bound is rotated. ``reset`` does the same to every container, running or
not, and removes them all, and the event journal with them.
"""
from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from ._plugins import InstalledPlugins, installed_manager
from ._state import alive

if TYPE_CHECKING:
    from ._context import Paths
    from ._engine import Engine

__all__ = ["collect", "plugin_gc"]


def plugin_gc(paths: Paths, live: set[str], reset: bool = False, only: list[str] | None = None,
              failures: list[str] | None = None) -> list[str]:
    """Call the ``gc`` hook of every installed plugin (selected or not; conflicts do not matter here), in
    pipeline order, each implementation on its own through pluggy: a failure is a line naming its plugin,
    and the others still run. A plugin that cannot even be loaded is named too (what it made stays).
    ``only``: of those, the plugins named there that implement ``gc`` (one container's own: ``nsrun-oci
    delete`` imports three plugins instead of every installed one). ``failures``: where the failure lines go
    instead (the caller tells them from what was removed)."""
    loaded = installed_manager() if only is None else InstalledPlugins(only=only, hooks=("gc",))
    lines: list[str] = []
    failed = lines if failures is None else failures
    failed.extend(f"{name}: not collected: {why}" for name, why in loaded.broken.items())
    for name, thunk in loaded.each("gc", paths=paths, live=frozenset(live), reset=reset):
        try:
            lines.extend(thunk() or [])
        except Exception as exc:  # noqa: BLE001 - one plugin's failure must not stop the others
            failed.append(f"{name}: gc failed: {exc}")
    return lines


def _kill(pid: int | None, start: int | None) -> bool:
    if pid and alive(pid, start):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        for _ in range(200):
            if not alive(pid, start):
                break
            time.sleep(0.01)
        return True
    return False


def collect(engine: Engine, only: str | None = None, reset: bool = False) -> list[str]:
    """Processes first, then every plugin's ``gc`` (it may have to unmount something inside a container's
    directory), then the records: removing a directory that still holds a mount would leave it behind."""
    lines: list[str] = []
    store = engine.store
    records = {cid: store.load(cid) for cid in store.ids() if not only or cid == only}
    for cid, rec in records.items():
        if rec is None:
            continue
        if rec.status == "running" and reset:
            _kill(rec.state.get("pid"), rec.state.get("pid_start"))
            engine.wait_exit(rec, 10)
            records[cid] = rec = store.load(cid)
        elif rec.status == "created" and reset and not rec.state.get("owner_pid"):
            _kill(rec.state.get("pid"), rec.state.get("pid_start"))  # nsrun-oci's: nobody records its exit
        if rec is not None and rec.status == "dead" and _kill(rec.state.get("pid"), rec.state.get("pid_start")):
            lines.append(f"killed the orphaned process of {rec.name}")
    live = {r.id for r in store.list() if r.running}
    lines.extend(plugin_gc(engine.paths, live, reset))
    for cid, rec in records.items():
        if rec is None:  # a directory without a readable config: creation was interrupted
            store.remove(cid)
            lines.append(f"removed incomplete container directory {cid[:12]}")
            continue
        if rec.status == "dead":
            rec.update(status="exited", exit_code=255, finished=time.time(), pid=None,
                       error="its owner died (collected by gc)")
            lines.append(f"marked {rec.name} ({cid[:12]}) exited")
        if reset or (rec.spec.remove and rec.status == "exited"):
            store.remove(cid)
            lines.append(f"removed container {rec.name} ({cid[:12]})")
    lines.extend(engine.images.collect_staging())  # an image being made when its maker was killed
    from .image.content import Content
    lines.extend(f"removed partial blob {n}" for n in Content(engine.paths.root).collect_ingest())
    lines.extend(engine.images.collect_blobs())  # what a failed or killed pull fetched, no image needs
    names = os.path.join(engine.paths.containers, ".names")
    for name in (os.listdir(names) if os.path.isdir(names) else []):
        link = os.path.join(names, name)
        if not os.path.isdir(engine.paths.container_dir(os.readlink(link))):
            os.unlink(link)  # its container is gone (a crash between creating or removing and the link)
    from ._journal import collect as collect_journal
    lines.extend(collect_journal(engine.paths.root, reset=reset))  # last: the removals above append to it
    return lines
