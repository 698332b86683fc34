"""The ``nsrun`` console entry point.

``nsrun [--root D] [--plugins L] [--debug] run [options] IMAGE CMD...`` — the command that starts containers —
and ``nsrun ... exec [options] NAME CMD...`` are parsed here without importing click when they run embedded
(no ``-H``/``NSRUN_HOST``): click is about a fifth of a start's instructions, a third of an exec's. Both this parser and the click CLI are built from the same option table
(``_options``: the core's options and every plugin's ``OPTIONS``), so they cannot drift. Anything this parser
does not recognise (help, another command, an unknown or malformed option) goes to the full click CLI, which
also prints the errors.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the exec client's path
if TYPE_CHECKING:
    from typing import Any

from ._console import exit_now, protect

__all__ = ["main", "parse_run", "parse_exec", "schema"]


def schema(commands: tuple[str, ...] = ("run", "exec")) -> dict[str, Any]:
    """The parser's table: the global options and, of ``commands``, ``run``'s (the core's and the plugins':
    it reads the plugin index) and ``exec``'s."""
    from ._options import EXEC_OPTIONS, GLOBAL_OPTIONS, parser_table, run_options
    table = {"globals": parser_table([o.to_dict() for o in GLOBAL_OPTIONS])}
    if "run" in commands:
        from ._discovery import plugin_options
        table["run"] = parser_table(run_options(plugin_options()))
    if "exec" in commands:
        table["exec"] = parser_table([o.to_dict() for o in EXEC_OPTIONS])
    return table


def _take(params: list[dict[str, Any]], argv: list[str], i: int, out: dict[str, Any]) -> int | None:
    """Parse the option at argv[i] into ``out``; the next index, or None when it is not ours to judge."""
    token = argv[i]
    name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
    by_flag = {flag: p for p in params for flag in p["flags"]}
    if name in by_flag:
        p = by_flag[name]
        if not p["value"]:
            if eq:
                return None
            out[p["dest"]] = True
            return i + 1
        if eq:
            value, nxt = inline, i + 1
        elif i + 1 < len(argv):
            value, nxt = argv[i + 1], i + 2
        else:
            return None
        if p["multiple"]:
            out.setdefault(p["dest"], []).append(value)
        else:
            out[p["dest"]] = value
        return nxt
    if token.startswith("-") and not token.startswith("--") and len(token) > 2:  # -it, -dit
        flags = [by_flag.get(f"-{c}") for c in token[1:]]
        if all(p is not None and not p["value"] for p in flags):
            for p in flags:
                out[p["dest"]] = True  # type: ignore[index]
            return i + 1
    return None


def parse_run(argv: list[str], schema: dict[str, Any], command: str = "run"
              ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, run options) for ``[globals] run [options] WORDS...``; None = let click decide."""
    glob: dict[str, Any] = {}
    i = 0
    while i < len(argv) and argv[i] != command:
        if not argv[i].startswith("-"):
            return None
        nxt = _take(schema["globals"], argv, i, glob)
        if nxt is None:
            return None
        i = nxt
    if i >= len(argv):
        return None
    opts: dict[str, Any] = {}
    i += 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        if argv[i] in ("--", "--help"):
            return None
        nxt = _take(schema[command], argv, i, opts)
        if nxt is None:
            return None
        i = nxt
    for p in schema[command]:
        default: Any = () if p["multiple"] else (None if p["value"] else False)
        value = opts.get(p["dest"], default)
        opts[p["dest"]] = tuple(value) if p["multiple"] else value
    opts["image_and_cmd"] = tuple(argv[i:])
    return glob, opts


def parse_exec(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, exec options with ``name`` and ``cmd``) for ``[globals] exec [options] NAME CMD...``;
    None = let click decide (it also reports a missing NAME or CMD)."""
    parsed = parse_run(argv, schema, "exec")
    if parsed is None:
        return None
    glob, opts = parsed
    words = opts.pop("image_and_cmd")
    if len(words) < 2:
        return None
    opts["name"], opts["cmd"] = words[0], list(words[1:])
    return glob, opts


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["oci"]:  # ``nsrun oci ARGS`` is ``nsrun-oci ARGS`` (its own runc-style options follow)
        from .oci._entry import main as oci_main
        exit_now(oci_main(argv[1:]))
    for command, parse, fast in (("run", parse_run, "_fast_run"), ("exec", parse_exec, "_fast_exec")):
        if command in argv and not os.environ.get("NSRUN_NO_FASTPATH"):
            parsed = parse(argv, schema((command,)))
            if parsed is not None and not parsed[0].get("host") and not os.environ.get("NSRUN_HOST"):
                glob, opts = parsed
                handler = globals()[fast]
                exit_now(protect(lambda: handler(glob, opts), bool(glob.get("debug"))))
    from .cli import main as click_main
    click_main()


def _fast_exec(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun exec`` without click: the same call as cli.py's ``exec_``."""
    from ._execclient import run_exec
    return run_exec(glob.get("root") or os.environ.get("NSRUN_ROOT"), opts["name"], opts["cmd"], tty=opts["tty"],
                    interactive=opts["interactive"], env=list(opts["env"]), workdir=opts["workdir"],
                    user=opts["user"])


def _fast_run(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    from . import _trace
    from ._context import Paths
    from ._engine import Engine
    from ._runcli import run_command
    if glob.get("debug"):
        _trace.enable()
    root = glob.get("root") or os.environ.get("NSRUN_ROOT")
    plugins = glob.get("plugins")
    selected = [p.strip() for p in plugins.split(",") if p.strip()] if plugins is not None else None
    return run_command(Engine(Paths.from_root(root)), selected, **opts)
