"""The bodies of ``nsrun ps`` and ``nsrun inspect``, shared by the click commands (``cli``) and the console
entry's click-free path (``_entry``), so both print the same bytes.

They take plain values and an engine (the embedded ``Engine`` or, with ``-H``, the daemon's ``RemoteEngine``),
write to stdout and return the exit status. JSON goes through ``_jsonlite`` (byte for byte ``json.dumps``,
without importing ``re``); nothing here imports click, typing or the plugins (but ``ps --filter``, which tests
each container's Docker view as its plugins fill it).
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False  # no typing import at run time (~8 ms with what it imports): on the ps fast path
if TYPE_CHECKING:
    from typing import Any

from ._console import ago, echo_err, format_table

__all__ = ["ps_command", "inspect_command"]

_HEADER = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def ps_command(engine: Any, show_all: bool, quiet: bool, fmt: str | None, filters: tuple[str, ...] | list[str]
               ) -> int:
    """``docker ps``: the running containers (``show_all``: every one) that pass ``filters``, as a table, ids
    (``quiet``) or one JSON object a line (``fmt == "json"``)."""
    from ._engine import describe
    from ._jsonlite import dumps
    wanted = None
    if filters:
        from ._filters import filter_items
        wanted = filter_items(list(filters))
        show_all = show_all or bool(wanted.get("status") or wanted.get("exited"))
    records = engine.list(show_all)
    if wanted:
        records = [rec for rec in records if _passes(rec, wanted)]
    if quiet:
        for rec in records:
            _out(rec.id[:12])
        return 0
    if fmt == "json":
        for rec in records:
            _out(dumps(_ps_row(rec, describe(rec))))
        return 0
    rows = [_ps_row(rec, describe(rec)) for rec in records]
    _out(format_table([_HEADER, *((r["ID"], r["Image"], r["Command"], r["CreatedAt"], r["Status"], r["Ports"],
                                   r["Names"]) for r in rows)]))
    return 0


def _passes(rec: Any, wanted: dict[str, list[str]]) -> bool:
    """``ps --filter``: tested on the container's Docker view, filled by its plugins as the daemon fills it."""
    from ._filters import container_matches
    from ._plugins import installed_manager
    from .daemon.convert import container_json
    return container_matches(container_json(rec, installed_manager().subset("docker_view", rec.spec.plugins)),
                             wanted)


def _ps_row(rec: Any, info: dict[str, Any]) -> dict[str, Any]:
    from ._jsonlite import quoted
    st = info["State"]
    if st["Status"] in ("running", "paused"):
        status = f"Up {ago(st['StartedAt']).replace(' ago', '')}" + (" (Paused)" if st["Paused"] else "")
    elif st["Status"] == "exited":
        status = f"Exited ({st['ExitCode']}) {ago(st['FinishedAt'])}"
    else:
        status = st["Status"].capitalize()
    command = " ".join(rec.spec.argv)
    shown = command if len(command) <= 20 else command[:19] + "…"
    return {"ID": rec.id[:12], "Image": rec.spec.image or rec.spec.rootfs,
            "Command": quoted(shown),
            "CreatedAt": ago(info["Created"]), "Status": status, "State": st["Status"],
            "Ports": info["Info"].get("Ports", ""), "Names": rec.name}


def inspect_command(engine: Any, names: tuple[str, ...] | list[str]) -> int:
    """``docker inspect`` of containers: a JSON array of those found (indented 4); each name not found is one
    line on stderr, and the status is then 1."""
    from ._jsonlite import dumps
    from .errors import NsrunError
    out, failed = [], False
    for name in names:
        try:
            out.append(engine.inspect(name))
        except NsrunError as exc:
            echo_err(exc.message)
            failed = True
    _out(dumps(out, indent=4))
    return 1 if failed else 0
