"""``nsrun-oci`` (and ``nsrun oci``): runc's command line, as podman/conmon, containerd's shim and dockerd
call it.

``nsrun-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] COMMAND ...``.
Options are accepted with one or two dashes and as ``--opt=value`` (Go's flag package, which runc uses).
Errors: one line ``nsrun-oci: MESSAGE`` on stderr and, with ``--log``, one line in the log file (``--log-format
json``: ``{"level": "error", "msg": ..., "time": ...}``, which containerd shows its users); exit status 1,
as runc. ``run`` exits with the container's status.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

from ._argv import UPDATE_FLAGS as _UPDATE_FLAGS, normalise as _normalise
from ._report import PROG, Log, fail as _fail, message_of

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Usage(message)


class _Usage(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, add_help=True, allow_abbrev=False,
                description="nsrun's OCI runtime: runc's command line over nsrun's plugins")
    p.add_argument("--root", help="state directory (default $NSRUN_OCI_ROOT or /run/nsrun-oci)")
    p.add_argument("--log", help="log file (errors are also printed on stderr)")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true", help="tracebacks and debug lines in the log")
    p.add_argument("--systemd-cgroup", action="store_true", help="refused: nsrun-oci uses cgroupfs beneath its own cgroup")
    p.add_argument("--rootless", default="auto", help="accepted as auto|false (nsrun-oci runs as root)")
    p.add_argument("--cgroup-manager", default="cgroupfs", choices=("cgroupfs", "disabled", "systemd"),
                   help="crun's spelling (podman sends disabled with cgroups=disabled): cgroupfs or disabled")
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, allow_abbrev=False)

    for name in ("create", "run"):
        c = cmd(name, "create a container from a bundle" + (", start it and wait" if name == "run" else ""))
        c.add_argument("-b", "--bundle", help="the bundle directory (default: the current one)")
        c.add_argument("--pid-file")
        c.add_argument("--console-socket")
        c.add_argument("--no-pivot", action="store_true", help="accepted; nsrun always uses pivot_root")
        c.add_argument("--no-new-keyring", action="store_true",
                       help="accepted; the container always gets a fresh session keyring")
        c.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            c.add_argument("-d", "--detach", action="store_true")
        c.add_argument("id")
    e = cmd("exec", "run a process in a running container (--process FILE or CMD...)")
    e.add_argument("-p", "--process", help="a runtime-spec process object (JSON file)")
    e.add_argument("-d", "--detach", action="store_true")
    e.add_argument("--pid-file")
    e.add_argument("-t", "--tty", action="store_true")
    e.add_argument("--console-socket")
    e.add_argument("--cwd")
    e.add_argument("-e", "--env", action="append", default=[])
    e.add_argument("-u", "--user", help="UID[:GID]")
    e.add_argument("--additional-gids", "-g", action="append", default=[])
    e.add_argument("--no-new-privs", action="store_true", help="accepted: nsrun's default")
    e.add_argument("id")
    e.add_argument("cmd", nargs=argparse.REMAINDER)
    for name, text in (("start", "start a created container"), ("state", "print a container's state as JSON"),
                       ("pause", "freeze every process of the container"), ("resume", "thaw a paused container")):
        cmd(name, text).add_argument("id")
    ps = cmd("ps", "the container's processes")
    ps.add_argument("-f", "--format", default="table", choices=("table", "json"))
    ps.add_argument("id")
    ps.add_argument("ps_args", nargs=argparse.REMAINDER)
    u = cmd("update", "change the container's resource limits (--resources FILE|- or the flags)")
    u.add_argument("-r", "--resources", help="a runtime-spec LinuxResources object (JSON; - for stdin)")
    for flag, _path in _UPDATE_FLAGS:
        u.add_argument(flag)
    u.add_argument("id")
    k = cmd("kill", "send a signal to the container's process (default SIGTERM)")
    k.add_argument("-a", "--all", action="store_true", help="every process in the container's PID namespace")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = cmd("delete", "delete a stopped container (--force: any)")
    d.add_argument("-f", "--force", action="store_true")
    d.add_argument("id")
    ls = cmd("list", "list the containers of this root")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("-f", "--format", default="table", choices=("table", "json"))
    s = cmd("spec", "write a default config.json")
    s.add_argument("-b", "--bundle")
    s.add_argument("--rootless", action="store_true")
    cmd("features", "what this runtime supports, as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = _normalise(list(sys.argv[1:] if argv is None else argv))
    log = Log(None, "text")
    debug = "--debug" in args_list
    try:
        args = _parser().parse_args(args_list)
        log = Log(args.log, args.log_format)
        return _dispatch(args, log)
    except _Usage as exc:
        return _fail(log, f"{exc}", debug)
    except Exception as exc:  # noqa: BLE001 - every error is one line; --debug shows the traceback
        return _fail(log, message_of(exc), debug)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, log: Log) -> int:
    if args.version:
        from .. import __version__
        from .runtime import OCI_VERSION
        print(f"{PROG} version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if not args.command:
        raise _Usage("a command is required (create, start, state, kill, delete, run, list, spec, features)")
    if args.command == "spec":
        return _spec(args)
    if args.command == "features":
        from .features import features
        print(json.dumps(features(), indent=2))
        return 0
    from ..errors import ConfigError
    if args.systemd_cgroup:
        raise ConfigError("--systemd-cgroup is not supported: nsrun-oci makes cgroups with cgroupfs beneath its own "
                          "cgroup" + ("" if os.path.isdir("/run/systemd/system") else " (and no systemd runs here)"))
    if args.cgroup_manager == "systemd":
        raise ConfigError("--cgroup-manager systemd is not supported: nsrun-oci makes cgroups with cgroupfs")
    if args.rootless not in ("auto", "false"):
        raise ConfigError(f"--rootless {args.rootless}: nsrun-oci runs as root (auto or false)")
    if getattr(args, "preserve_fds", 0):
        raise ConfigError("--preserve-fds is not supported")
    from .runtime import Runtime
    rt = Runtime(args.root)
    if args.debug:
        log.write("debug", f"{args.command} {getattr(args, 'id', '')}".strip())
    if args.command == "create":
        rt.create(args.id, args.bundle, args.pid_file, args.console_socket)
    elif args.command == "run":
        return rt.run(args.id, args.bundle, args.pid_file, args.console_socket, args.detach)
    elif args.command == "exec":
        return rt.exec(args.id, _process(args), args.detach, args.pid_file, args.console_socket)
    elif args.command == "start":
        for line in rt.start(args.id):
            log.write("warning", line)
    elif args.command == "state":
        print(json.dumps(rt.state(args.id), indent=2))
    elif args.command == "kill":
        from .._parse import parse_signal
        rt.kill(args.id, parse_signal(args.signal), args.all)
    elif args.command == "delete":
        for line in rt.delete(args.id, args.force):
            log.write("warning", line)
    elif args.command == "list":
        _list(rt, args)
    elif args.command in ("pause", "resume"):
        rt.pause(args.id, args.command == "pause")
    elif args.command == "update":
        rt.update(args.id, _resources(args))
    elif args.command == "ps":
        _ps(rt, args)
    return 0


def _process(args: argparse.Namespace) -> dict[str, Any]:
    """The exec's process object: ``--process FILE`` as it is, or one made of CMD and the flags."""
    from ..errors import ConfigError
    if args.process:
        if args.cmd:
            raise ConfigError("exec: give --process or a command, not both")
        try:
            with open(args.process) as f:
                process = json.load(f)
        except OSError as exc:
            raise ConfigError(f"--process {args.process}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"--process {args.process}: malformed JSON: {exc}") from None
        if not isinstance(process, dict):
            raise ConfigError(f"--process {args.process}: must be a JSON object")
        return process
    if not args.cmd:
        raise ConfigError("exec: a command (or --process) is required")
    process: dict[str, Any] = {"args": list(args.cmd), "cwd": args.cwd or "/", "terminal": args.tty,
                               "env": list(args.env) or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    if args.user:
        uid, _, gid = args.user.partition(":")
        if not uid.isdigit() or gid and not gid.isdigit():
            raise ConfigError(f"exec --user {args.user}: UID[:GID] as numbers")
        process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if args.additional_gids:
        process.setdefault("user", {"uid": 0, "gid": 0})["additionalGids"] = [int(g) for g in args.additional_gids]
    return process


def _resources(args: argparse.Namespace) -> dict[str, Any]:
    """``update``'s LinuxResources: ``--resources FILE`` (``-``: stdin) or the flags; not both."""
    from ..errors import ConfigError
    flags = {path: getattr(args, flag[2:].replace("-", "_")) for flag, path in _UPDATE_FLAGS}
    flags = {path: value for path, value in flags.items() if value is not None}
    if args.resources:
        if flags:
            raise ConfigError("update: give --resources or the limit flags, not both")
        try:
            text = sys.stdin.read() if args.resources == "-" else open(args.resources).read()
            resources = json.loads(text)
        except OSError as exc:
            raise ConfigError(f"--resources {args.resources}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"--resources {args.resources}: malformed JSON: {exc}") from None
        if not isinstance(resources, dict):
            raise ConfigError("--resources: a JSON object is required")
        return resources
    if not flags:
        raise ConfigError("update: a limit (--memory, --pids-limit, ...) or --resources is required")
    resources: dict[str, Any] = {}
    for path, value in flags.items():
        section, key = path.split(".")
        if not value.lstrip("-").isdigit() and key not in ("cpus", "mems"):
            raise ConfigError(f"update --{path}: {value!r} is not a number")
        resources.setdefault(section, {})[key] = value if key in ("cpus", "mems") else int(value)
    return resources


def _ps(rt: Any, args: argparse.Namespace) -> None:
    pids = rt.processes(args.id)
    if args.format == "json":
        print(json.dumps(pids))
        return
    import subprocess
    out = subprocess.run(["ps", *(args.ps_args or ["-ef"])], capture_output=True, text=True).stdout.splitlines()
    if not out:
        return
    header = out[0].split()
    column = header.index("PID") if "PID" in header else 1
    print(out[0])
    for line in out[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            print(line)


def _spec(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    if args.rootless:
        raise ConfigError("spec --rootless is not supported (nsrun maps ids through its user plugin)")
    from .spec import default_spec
    path = os.path.join(args.bundle or ".", "config.json")
    if os.path.exists(path):
        raise ConfigError("File config.json exists. Remove it first")
    with open(path, "x") as f:
        json.dump(default_spec(), f, indent="\t")
    return 0


def _list(rt: Any, args: argparse.Namespace) -> None:
    from ._light import print_list
    print_list(rt.list(), args.quiet, args.format)


def entry() -> None:
    """``nsrun-oci`` without the light path (``_entry.entry`` is the console script)."""
    from .._console import exit_now
    exit_now(main())
