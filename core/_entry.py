"""The ``nsrun`` console entry point.

``nsrun [--root D] [--plugins L] [--debug] run [options] IMAGE CMD...`` — the command that starts containers —
and ``nsrun ... exec [options] NAME CMD...`` are parsed here without importing click when they run embedded
(no ``-H``/``NSRUN_HOST``) (click is about a fifth of a start's instructions, a third of an exec's). The parser is
driven by a schema that ``cli.py`` derives from its own click commands and caches beside the plugin cache,
keyed by the same fingerprint and by cli.py's mtime, so the two parsers cannot drift. Anything the fast
path does not recognise (help, another command, an unknown or malformed option, no cache yet) goes to the
full click CLI, which also prints the errors.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

__all__ = ["main", "protect", "save_schema", "parse_run", "parse_exec", "exit_now"]

_CLI_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli.py")


def _schema_path() -> str:
    from ._discovery import _cache_path
    return _cache_path().replace("plugins-", "cli-")


def _schema_key() -> list[Any]:
    from ._discovery import _fingerprint
    try:
        mtime = os.stat(_CLI_FILE).st_mtime_ns
    except OSError:
        mtime = 0
    return [_fingerprint(), mtime]


def save_schema(schema: dict[str, Any]) -> None:
    path = _schema_path()
    data = {"key": _schema_key(), "schema": schema}
    try:
        with open(path) as f:
            if json.load(f) == data:
                return
    except (OSError, ValueError):
        pass
    from ._discovery import write_cache
    write_cache(path, data)


def _load_schema() -> dict[str, Any] | None:
    try:
        with open(_schema_path()) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data["schema"] if data.get("key") == _schema_key() else None


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
    if command not in schema:
        return None
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


def protect(fn: Callable[[], int], debug: bool) -> int:
    """Run ``fn``; turn nsrun's errors into one line on stderr and their exit code."""
    from . import _trace
    from .errors import NsrunError
    try:
        return fn()
    except NsrunError as exc:
        if debug:
            import traceback
            traceback.print_exc()
        print(f"nsrun: {exc.message}", file=sys.stderr)
        _trace.report()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a system call failed outside any more specific handling: still one line
        if debug:
            raise
        print(f"nsrun: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", file=sys.stderr)
        return 125


def exit_now(code: int) -> None:
    """Flush and leave without the interpreter's shutdown (module teardown, GC of every object): it costs
    10-15 ms a start and nothing needs it — files are closed and state is written by then."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    from ._deferred import hand_over
    hand_over()
    os._exit(code)


def main() -> None:
    argv = sys.argv[1:]
    for command, parse, fast in (("run", parse_run, "_fast_run"), ("exec", parse_exec, "_fast_exec")):
        if command in argv and not os.environ.get("NSRUN_NO_FASTPATH"):
            schema = _load_schema()
            parsed = parse(argv, schema) if schema else None
            if parsed is not None and not parsed[0].get("host") and not os.environ.get("NSRUN_HOST"):
                glob, opts = parsed
                handler = globals()[fast]
                exit_now(protect(lambda: handler(glob, opts), bool(glob.get("debug"))))
    from .cli import main as click_main
    click_main()


def _engine(glob: dict[str, Any]) -> Any:
    from ._context import Paths
    from ._engine import Engine
    return Engine(Paths.from_root(glob.get("root") or os.environ.get("NSRUN_ROOT")))


def _fast_exec(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun exec`` without click: the same call as cli.py's ``exec_``."""
    from ._engine import parse_env
    return _engine(glob).exec(opts["name"], opts["cmd"], tty=opts["tty"], interactive=opts["interactive"],
                              env=parse_env(opts["env"]), workdir=opts["workdir"], user=opts["user"])


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
