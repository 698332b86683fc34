"""``delete`` once the container's processes are gone (``_light.stop_for_delete``): what its plugins made for
it (``_collect``: the plan kept in its record at ``create``, so no plugin manager is loaded), its record, then
its ``poststop`` hooks. ``_entry`` runs it without importing ``runtime``; ``Runtime.delete`` runs it too.
"""
from __future__ import annotations

import os

from . import _light

__all__ = ["remove"]


def remove(root: str | None, entry: _light.Entry) -> list[str]:
    """Collect and remove the container of ``entry``; the lines to log as warnings (a plugin's failure, a
    failed ``poststop`` hook)."""
    from .._collect import plan_of, run
    from .._context import Paths
    from ._where import root_of
    paths = Paths.from_root(root_of(root))
    st = entry.state
    steps = st.get("collect")
    if not isinstance(steps, list):  # created by a create cut short before it planned (or an older nsrun)
        steps = plan_of(entry.plugins)
    _removed, failures = run(steps, paths, entry.id, st.get("info") or {}, lambda: _live(paths.containers, entry.id))
    from .._state import Store
    from .._statefile import lock_dir
    fd = lock_dir(entry.dir)
    try:
        Store(paths).remove(entry.id)
    finally:
        os.close(fd)
    return failures + _light.after(entry.name, entry.dir, {**st, "pid": 0}, "poststop", "stopped")


def _live(containers: str, cid: str) -> set:
    """Every other container of the root that is not stopped (a fallback ``gc`` leaves them alone)."""
    return {e.id for e in _light.entries(containers) if e.id != cid and _light.status(e.dir, e.state) != "stopped"}
