"""The command-line options as data: one table from which both the click CLI (``cli.py``) and the click-free
``run``/``exec`` parser of the console entry (``_entry``) are built, so the two can never disagree.

``Option`` is also what plugins declare in ``OPTIONS``; their options join ``run``'s. Every flag of an
Option is a positive alias of the same option (``-d``/``--detach``); there are no ``--no-x`` negations.
"""
from __future__ import annotations

from typing import Any

from ._fields import Fields

__all__ = ["Option", "GLOBAL_OPTIONS", "RUN_OPTIONS", "EXEC_OPTIONS", "parser_table"]


class Option(Fields):
    """A command-line option as plain data (the CLI and the daemon both read it):
    ``Option(flags, dest, help="", multiple=False, is_flag=False, metavar=None, envvar=None)``."""

    __slots__ = ("flags", "dest", "help", "multiple", "is_flag", "metavar", "envvar")
    _defaults = {"help": "", "multiple": False, "is_flag": False, "metavar": None, "envvar": None}


GLOBAL_OPTIONS = [
    Option(("--root",), "root", envvar="NSRUN_ROOT", metavar="DIR",
           help="State directory (default /var/lib/nsrun, runtime state /run/nsrun)"),
    Option(("--plugins",), "plugins", metavar="LIST", help="Comma-separated plugins for this run (see `nsrun plugins`)"),
    Option(("--debug",), "debug", is_flag=True, help="Show tracebacks and the per-phase timing"),
    Option(("-H", "--host"), "host", envvar="NSRUN_HOST", metavar="URL",
           help="Run the command through an nsrun daemon (unix:///PATH or tcp://IP:PORT)"),
]

RUN_OPTIONS = [
    Option(("--rm",), "remove", is_flag=True, help="Remove the container when it exits"),
    Option(("-d", "--detach"), "detach", is_flag=True, help="Run in the background and print the container id"),
    Option(("--name",), "name", help="Name the container"),
    Option(("-e", "--env"), "env", multiple=True, metavar="K=V", help="Set an environment variable"),
    Option(("-w", "--workdir"), "workdir", metavar="DIR", help="Working directory inside the container"),
    Option(("-u", "--user"), "user", metavar="UID[:GID]", help="User (and group) to run the command as"),
    Option(("-i", "--interactive"), "interactive", is_flag=True, help="Keep stdin open"),
    Option(("-t", "--tty"), "tty", is_flag=True, help="Allocate a pseudo-terminal"),
    Option(("--rootfs",), "rootfs", help="Use this directory as the root instead of an image"),
    Option(("--entrypoint",), "entrypoint", metavar="CMD",
           help="Overwrite the image's ENTRYPOINT (\"\" clears it; the image's CMD is then not used)"),
    Option(("--stop-signal",), "stop_signal", metavar="SIGNAL",
           help="Signal that stops the container (default: the image's STOPSIGNAL, else SIGTERM)"),
    Option(("--pull",), "pull", metavar="missing|always|never",
           help="Pull the image before running: when it is missing (default), always, or never"),
]


EXEC_OPTIONS = [
    Option(("-i", "--interactive"), "interactive", is_flag=True, help="Keep stdin open"),
    Option(("-t", "--tty"), "tty", is_flag=True, help="Allocate a pseudo-terminal"),
    Option(("-e", "--env"), "env", multiple=True, metavar="K=V", help="Set an environment variable"),
    Option(("-w", "--workdir"), "workdir", metavar="DIR", help="Working directory inside the container"),
    Option(("-u", "--user"), "user", metavar="UID[:GID]", help="User (and group) to run the command as"),
]


def run_options(plugin_options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``run``'s options: the core's, then each plugin option whose dest is not taken yet (with ``plugin``)."""
    out = [{**o.to_dict(), "plugin": None} for o in RUN_OPTIONS]
    seen = {o["dest"] for o in out}
    for opt in plugin_options:
        if opt["dest"] not in seen:
            seen.add(opt["dest"])
            out.append(opt)
    return out


def parser_table(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the click-free parser needs of each option: flags, dest, whether it takes a value, multiple."""
    return [{"flags": list(o["flags"]), "dest": o["dest"], "value": not o["is_flag"], "multiple": o["multiple"]}
            for o in options]
