"""The ``nsrun`` console entry point.

The commands whose start is their cost are parsed here without importing click when they run embedded (no
``-H``/``NSRUN_HOST``): ``nsrun [--root D] [--plugins L] [--debug] run [options] IMAGE CMD...`` — the command
that starts containers —, ``exec [options] NAME CMD...``, ``ps [options]``, ``inspect NAME...``, ``stats
[--no-stream] [NAME...]``, ``top NAME [ps OPTIONS]``, ``pull [options] REF`` and ``version``. click and the CLI's build are about a
fifth of a start's instructions, a third of an exec's, and most of a ``stats``'s own time. This parser and the
click CLI are built from the same option table (``_options``: the core's options and every plugin's
``OPTIONS``), so they cannot drift, and both run the same bodies (``_runcli``, ``_execclient``, ``_pscli``,
``stats.show``, ``_pullcli``). Anything this parser does not recognise (help, another command, an unknown or malformed
option, a missing argument) goes to the full click CLI, which also prints the errors.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the exec client's path
if TYPE_CHECKING:
    from typing import Any

from ._console import exit_now, protect

__all__ = ["main", "choose", "parse_run", "parse_exec", "parse_ps", "parse_inspect", "parse_stats", "parse_top",
           "parse_pull", "parse_version", "split_command", "schema"]


def schema(commands: tuple[str, ...] = ("run", "exec", "ps", "stats", "pull"), table: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """The parser's table (added to ``table``, one already made: its global options are kept): the global
    options and, of ``commands``, ``run``'s (the core's and the plugins':
    it reads the plugin index), ``exec``'s, ``ps``'s, ``stats``'s and ``pull``'s (``inspect``, ``top`` and
    ``version`` have no options)."""
    from ._options import EXEC_OPTIONS, GLOBAL_OPTIONS, PS_OPTIONS, PULL_OPTIONS, STATS_OPTIONS, parser_table, \
        run_options
    table = table if table is not None else {"globals": parser_table([o.to_dict() for o in GLOBAL_OPTIONS])}
    if "run" in commands:
        from ._discovery import plugin_options
        table["run"] = parser_table(run_options(plugin_options()))
    for command, options in (("exec", EXEC_OPTIONS), ("ps", PS_OPTIONS), ("stats", STATS_OPTIONS),
                             ("pull", PULL_OPTIONS)):
        if command in commands:
            table[command] = parser_table([o.to_dict() for o in options])
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
        if p.get("choices") and value not in p["choices"]:
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


def split_command(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], int] | None:
    """(global options, index of the command word) for ``[globals] COMMAND ...``; None = let click decide."""
    glob: dict[str, Any] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        nxt = _take(schema["globals"], argv, i, glob)
        if nxt is None:
            return None
        i = nxt
    return (glob, i) if i < len(argv) else None


def _command_at(argv: list[str], schema: dict[str, Any], command: str) -> tuple[dict[str, Any], int] | None:
    split = split_command(argv, schema)
    return split if split is not None and argv[split[1]] == command else None


def _defaults(params: list[dict[str, Any]], opts: dict[str, Any]) -> dict[str, Any]:
    """``opts`` with every option of ``params`` present, as click passes them (tuples for ``multiple``)."""
    for p in params:
        default: Any = () if p["multiple"] else (None if p["value"] else False)
        value = opts.get(p["dest"], default)
        opts[p["dest"]] = tuple(value) if p["multiple"] else value
    return opts


def parse_run(argv: list[str], schema: dict[str, Any], command: str = "run"
              ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, run options) for ``[globals] run [options] WORDS...``; None = let click decide."""
    split = _command_at(argv, schema, command)
    if split is None:
        return None
    glob, i = split
    opts: dict[str, Any] = {}
    i += 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        if argv[i] in ("--", "--help"):
            return None
        nxt = _take(schema[command], argv, i, opts)
        if nxt is None:
            return None
        i = nxt
    _defaults(schema[command], opts)
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


def _interspersed(argv: list[str], schema: dict[str, Any], command: str
                  ) -> tuple[dict[str, Any], dict[str, Any], list[str]] | None:
    """(global options, ``command``'s options, its words) for ``[globals] COMMAND ...`` where options and words
    come in any order and ``--`` ends the options (as click takes them); None = let click decide."""
    split = _command_at(argv, schema, command)
    if split is None:
        return None
    glob, i = split
    opts: dict[str, Any] = {}
    words: list[str] = []
    i += 1
    while i < len(argv):
        if argv[i] == "--":
            words.extend(argv[i + 1:])
            break
        if argv[i].startswith("-") and argv[i] != "-":
            nxt = _take(schema[command], argv, i, opts)
            if nxt is None:
                return None
            i = nxt
        else:
            words.append(argv[i])
            i += 1
    return glob, _defaults(schema[command], opts), words


def parse_stats(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, ``{"no_stream", "names"}``) for ``[globals] stats [--no-stream] [NAME...]`` (options
    and names in any order, ``--`` ends the options); None = let click decide."""
    parsed = _interspersed(argv, schema, "stats")
    if parsed is None:
        return None
    glob, opts, names = parsed
    opts["names"] = names
    return glob, opts


def parse_ps(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, ``{"show_all", "quiet", "fmt", "filters"}``) for ``[globals] ps [options]``; None = let
    click decide (it refuses any word that is not an option, and a ``--format`` it does not know)."""
    split = _command_at(argv, schema, "ps")
    if split is None:
        return None
    glob, i = split
    opts: dict[str, Any] = {}
    i += 1
    while i < len(argv):
        if not argv[i].startswith("-") or argv[i] in ("-", "--"):
            return None
        nxt = _take(schema["ps"], argv, i, opts)
        if nxt is None:
            return None
        i = nxt
    return glob, _defaults(schema["ps"], opts)


def parse_inspect(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, ``{"names"}``) for ``[globals] inspect NAME...``; None = let click decide (no NAME, or
    anything that looks like an option: ``inspect`` has none but ``--help``)."""
    split = _command_at(argv, schema, "inspect")
    if split is None:
        return None
    glob, i = split
    names = argv[i + 1:]
    if not names or any(n.startswith("-") for n in names):
        return None
    return glob, {"names": list(names)}


def parse_top(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, ``{"name", "ps_args"}``) for ``[globals] top NAME [ps OPTIONS...]`` (everything after
    NAME is ps's, ``--help`` too, as click hands it on); None = let click decide (an option before NAME, no
    NAME)."""
    split = _command_at(argv, schema, "top")
    if split is None or split[1] + 1 >= len(argv) or argv[split[1] + 1].startswith("-"):
        return None
    glob, i = split
    return glob, {"name": argv[i + 1], "ps_args": list(argv[i + 2:])}


def parse_pull(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, pull's options with ``ref``) for ``[globals] pull [options] REF`` (options before or
    after REF, ``--`` ends them); None = let click decide (help, an unknown or malformed option, no REF or more
    than one)."""
    parsed = _interspersed(argv, schema, "pull")
    if parsed is None or len(parsed[2]) != 1:
        return None
    glob, opts, (ref,) = parsed
    opts["ref"] = ref
    return glob, opts


def parse_version(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(global options, ``{}``) for ``[globals] version``; None = let click decide (it refuses extra words)."""
    split = _command_at(argv, schema, "version")
    return (split[0], {}) if split is not None and split[1] == len(argv) - 1 else None


_FAST = {"run": (parse_run, "_fast_run"), "exec": (parse_exec, "_fast_exec"), "ps": (parse_ps, "_fast_ps"),
         "inspect": (parse_inspect, "_fast_inspect"), "stats": (parse_stats, "_fast_stats"),
         "top": (parse_top, "_fast_top"), "pull": (parse_pull, "_fast_pull"),
         "version": (parse_version, "_fast_version")}


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["oci"]:  # ``nsrun oci ARGS`` is ``nsrun-oci ARGS`` (its own runc-style options follow)
        from .oci._entry import main as oci_main
        exit_now(oci_main(argv[1:]))
    chosen = choose(argv, os.environ)
    if chosen is not None:
        fast, glob, opts = chosen
        handler = globals()[fast]
        exit_now(protect(lambda: handler(glob, opts), bool(glob.get("debug"))))
    from .cli import main as click_main
    click_main()


def choose(argv: list[str], environ: Any) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """The click-free handler for ``argv`` (its name here) with its (global options, options), or None: the
    click CLI runs it (``NSRUN_NO_FASTPATH`` set; a daemon's ``-H``/``NSRUN_HOST``; anything the parsers leave)."""
    if environ.get("NSRUN_NO_FASTPATH") or environ.get("NSRUN_HOST"):
        return None
    table = schema(())
    split = split_command(argv, table)
    if split is None or argv[split[1]] not in _FAST or split[0].get("host"):
        return None
    command = argv[split[1]]
    parse, fast = _FAST[command]
    parsed = parse(argv, schema((command,), table))
    return None if parsed is None else (fast, *parsed)


def _root(glob: dict[str, Any]) -> str | None:
    """``--root``, else ``NSRUN_ROOT`` (click's envvar for it: an empty one is none)."""
    return glob.get("root") or os.environ.get("NSRUN_ROOT") or None


def _embedded_engine(glob: dict[str, Any]) -> Any:
    """The embedded Engine of the root, as cli.py's ``_State.engine`` makes it without ``-H``."""
    from . import _trace
    from ._context import Paths
    from ._engine import Engine
    if glob.get("debug"):
        _trace.enable()
    return Engine(Paths.from_root(_root(glob)))


def _fast_ps(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun ps`` without click: the body cli.py's ``ps`` runs."""
    from ._pscli import ps_command
    return ps_command(_embedded_engine(glob), opts["show_all"], opts["quiet"], opts["fmt"], opts["filters"])


def _fast_inspect(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun inspect`` without click: the body cli.py's ``inspect`` runs."""
    from ._pscli import inspect_command
    return inspect_command(_embedded_engine(glob), opts["names"])


def _fast_stats(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun stats`` without click: the body stats.cli's ``stats`` runs."""
    from .stats.show import show_stats
    return show_stats(_embedded_engine(glob), opts["names"], opts["no_stream"])


def _fast_top(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun top`` without click: the body stats.cli's ``top`` runs."""
    from .stats.show import show_top
    return show_top(_embedded_engine(glob), opts["name"], opts["ps_args"])


def _fast_pull(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun pull`` without click: the body _imagecli's ``pull`` runs."""
    from ._pullcli import pull_command
    return pull_command(_embedded_engine(glob), **opts)


def _fast_version(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    from ._console import version_line
    sys.stdout.write(version_line() + "\n")
    return 0


def _fast_exec(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    """``nsrun exec`` without click: the same call as cli.py's ``exec_``."""
    from ._execclient import run_exec
    return run_exec(_root(glob), opts["name"], opts["cmd"], tty=opts["tty"],
                    interactive=opts["interactive"], env=list(opts["env"]), workdir=opts["workdir"],
                    user=opts["user"])


def _fast_run(glob: dict[str, Any], opts: dict[str, Any]) -> int:
    from ._runcli import run_command
    plugins = glob.get("plugins")
    selected = [p.strip() for p in plugins.split(",") if p.strip()] if plugins is not None else None
    return run_command(_embedded_engine(glob), selected, **opts)
