"""The ``nsrun-oci`` console script: the verbs engines call around every container, on a minimal import set.

podman, dockerd and containerd call ``create``, ``start`` and ``delete`` (containerd's shim: ``delete`` twice,
the second ``--force`` of a container that is gone) per ``run --rm``, and ``state``/``kill`` around them; each
call is a Python start. This parser takes runc's command line as ``cli`` does (Go's single-dash long options,
``--opt=value``) for ``state``, ``start``, ``kill``, ``delete``, ``list``, ``create`` and ``--version``, and
runs them without argparse; ``state``, ``start``, ``kill``, ``list`` and a ``delete`` with nothing to collect
import no more than ``_light`` (os calls, ``_jsonlite``), and ``delete --force`` of a name no record holds
(the shim's second delete) no more than ``_where`` and ``_resolve``. ``delete`` calls the container's own plugins'
``collect`` from the plan its record keeps (``_remove``, ``_collect``: no plugin manager); ``create`` runs ``Runtime.create`` as ``cli`` does. Anything else — another command,
``--help``, ``--debug``, an option or value this parser does not know, a malformed line — goes to ``cli.main``
unchanged, which also prints every usage error, so both paths answer alike.
"""
from __future__ import annotations

import sys

from ._argv import normalise

__all__ = ["entry", "main", "parse"]

# global options: those that take a value (with the values the light path takes) and the flags
_GLOBAL_VALUES = {"--root": None, "--log": None, "--log-format": ("text", "json"), "--rootless": ("auto", "false"),
                  "--cgroup-manager": ("cgroupfs", "disabled")}
# per command: its value options (short and long spelling -> dest), its flags, how many positionals (min, max)
_COMMANDS = {
    "state": ({}, {}, (1, 1)),
    "start": ({}, {}, (1, 1)),
    "kill": ({}, {"-a": "all", "--all": "all"}, (1, 2)),
    "delete": ({}, {"-f": "force", "--force": "force"}, (1, 1)),
    "list": ({"-f": "format", "--format": "format"}, {"-q": "quiet", "--quiet": "quiet"}, (0, 0)),
    "create": ({"-b": "bundle", "--bundle": "bundle", "--pid-file": "pid_file",
                "--console-socket": "console_socket"},
               {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}, (1, 1)),
}
_CHOICES = {"format": ("table", "json")}


def parse(argv: list[str]) -> tuple[dict, str, dict, list[str]] | None:
    """(global options, command, its options, its positionals) of a line the light path runs; None for
    every other line (``cli`` takes it)."""
    args = normalise(argv)
    glob: dict = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name in ("--version", "-v") and not eq and len(args) == 1:
            return glob, "version", {}, []
        if name not in _GLOBAL_VALUES:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            i, value = i + 1, args[i + 1]
        if value.startswith("-") or (_GLOBAL_VALUES[name] and value not in _GLOBAL_VALUES[name]):
            return None
        glob[name[2:].replace("-", "_")] = value
        i += 1
    if i >= len(args) or args[i] not in _COMMANDS:
        return None
    command = args[i]
    values, flags, (least, most) = _COMMANDS[command]
    opts: dict = {}
    words: list[str] = []
    i += 1
    while i < len(args):
        token = args[i]
        if token.startswith("-") and token != "-":
            name, eq, value = token.partition("=")
            if name in flags and not eq:
                opts[flags[name]] = True
            elif name in values:
                if not eq:
                    if i + 1 >= len(args):
                        return None
                    i, value = i + 1, args[i + 1]
                if value.startswith("-") or value not in _CHOICES.get(values[name], (value,)):
                    return None
                opts[values[name]] = value
            else:
                return None
        else:
            words.append(token)
        i += 1
    if not least <= len(words) <= most:
        return None
    return glob, command, opts, words


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parsed = parse(argv)
    if parsed is None:
        from .cli import main as full
        return full(argv)
    glob, command, opts, words = parsed
    if command == "delete" and opts.get("force"):
        from .._resolve import _owner_of, valid_name
        from ._where import containers_of
        if not valid_name(words[0]) or _owner_of(containers_of(glob.get("root")), words[0]) is None:
            return 0  # what _light.find calls missing: the shim's second delete, with nothing more imported
    from ._report import Log, fail, message_of
    log = Log(glob.get("log"), glob.get("log_format", "text"))
    try:
        return _run(glob.get("root"), command, opts, words, log)
    except Exception as exc:  # noqa: BLE001 - every error is one line, as cli's
        return fail(log, message_of(exc), False)
    except KeyboardInterrupt:
        return 130


def _run(root: str | None, command: str, opts: dict, words: list[str], log: object) -> int:
    if command == "version":
        from .. import __version__
        from ._light import OCI_VERSION
        print(f"nsrun-oci version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if command == "create":
        from .runtime import Runtime
        Runtime(root).create(words[0], opts.get("bundle"), opts.get("pid_file"), opts.get("console_socket"))
        return 0
    from . import _light
    containers = _light.containers_of(root)
    if command == "list":
        states = [_light.state(e.name, e.dir, e.state) for e in _light.entries(containers)]
        _light.print_list(states, bool(opts.get("quiet")), opts.get("format", "table"))
        return 0
    cid = words[0]
    if command == "delete":
        if _light.stop_for_delete(_light.find(containers, cid), cid, bool(opts.get("force"))):
            entry = _light.find(containers, cid)  # as it is now its processes are gone
            if entry is not None:
                from ._remove import remove
                for line in remove(root, entry):
                    log.write("warning", line)  # type: ignore[attr-defined]
        return 0
    signal = 0
    if command == "kill":  # the signal first, as cli parses it before it looks for the container
        from .._parse import parse_signal
        signal = parse_signal(words[1] if len(words) > 1 else "SIGTERM")
    entry = _light.get(containers, cid)
    if command == "state":
        from .._jsonlite import dumps
        print(dumps(_light.state(entry.name, entry.dir, entry.state), indent=2))
    elif command == "start":
        _light.start(entry)
        for line in _light.after(entry.name, entry.dir, entry.state, "poststart", "running"):
            log.write("warning", line)  # type: ignore[attr-defined]
    elif command == "kill":
        _light.kill(entry, signal, bool(opts.get("all")))
    return 0


def entry() -> None:
    """The console script: exit without the interpreter's teardown (as ``nsrun`` does)."""
    from .._console import exit_now
    exit_now(main())
