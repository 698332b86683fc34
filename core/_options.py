"""The command-line options as data: one table from which both the click CLI (``cli.py``) and the click-free
``run``/``exec``/``ps``/``stats``/``pull`` parser of the console entry (``_entry``) are built, so the two can never disagree.

``Option`` is also what plugins declare in ``OPTIONS``; their options join ``run``'s. Every flag of an
Option is a positive alias of the same option (``-d``/``--detach``); there are no ``--no-x`` negations.

One flag, several owners: a ``multiple`` option whose values are ``KEY=VALUE`` items (``--security-opt``,
``--sysctl``) may be declared by several plugins, each with ``keys``: the item keys it owns (a trailing ``*``
matches a prefix: ``net.*``). The parsers see one option (its dest is the flag's name: ``security_opt``);
``route_items`` then hands each item to the dest of the plugin owning its key, and refuses an item nobody
owns by name.
"""
from __future__ import annotations

TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the exec client's path
if TYPE_CHECKING:
    from typing import Any

from ._fields import Fields

__all__ = ["Option", "GLOBAL_OPTIONS", "RUN_OPTIONS", "EXEC_OPTIONS", "PS_OPTIONS", "STATS_OPTIONS", "PULL_OPTIONS",
           "REGISTRY_OPTIONS",
           "parser_table", "shared_dest", "item_key", "key_matches", "route_items"]


class Option(Fields):
    """A command-line option as plain data (the CLI and the daemon both read it):
    ``Option(flags, dest, help="", multiple=False, is_flag=False, metavar=None, envvar=None, keys=(),
    choices=())``; ``keys``: the item keys this owner takes of a flag that several plugins share (see the
    module's doc); ``choices``: the only values it takes (anything else is click's usage error)."""

    __slots__ = ("flags", "dest", "help", "multiple", "is_flag", "metavar", "envvar", "keys", "choices")
    _defaults = {"help": "", "multiple": False, "is_flag": False, "metavar": None, "envvar": None, "keys": (),
                 "choices": ()}


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
    Option(("--group-add",), "group_add", multiple=True, metavar="GROUP",
           help="Add a supplementary group (a name from the image's /etc/group, or a number)"),
    Option(("-i", "--interactive"), "interactive", is_flag=True, help="Keep stdin open"),
    Option(("-t", "--tty"), "tty", is_flag=True, help="Allocate a pseudo-terminal"),
    Option(("--rootfs",), "rootfs", help="Use this directory as the root instead of an image"),
    Option(("--entrypoint",), "entrypoint", metavar="CMD",
           help="Overwrite the image's ENTRYPOINT (\"\" clears it; the image's CMD is then not used)"),
    Option(("--stop-signal",), "stop_signal", metavar="SIGNAL",
           help="Signal that stops the container (default: the image's STOPSIGNAL, else SIGTERM)"),
    Option(("--stop-timeout",), "stop_timeout", metavar="SECONDS",
           help="Seconds stop and restart wait before SIGKILL by default (-1: forever; default 10)"),
    Option(("--restart",), "restart", metavar="POLICY",
           help="Restart policy: no (default), always, unless-stopped, on-failure[:MAX-RETRIES]"),
    Option(("--log-opt",), "log_opt", multiple=True, metavar="K=V",
           help="json-file log driver option: max-size=SIZE (10m, 1k), max-file=N (files kept, with max-size)"),
    Option(("--health-cmd",), "health_cmd", metavar="CMD", help="Command run to check health (in a shell)"),
    Option(("--health-interval",), "health_interval", metavar="DURATION", help="Time between checks (default 30s)"),
    Option(("--health-timeout",), "health_timeout", metavar="DURATION", help="A check's time limit (default 30s)"),
    Option(("--health-retries",), "health_retries", metavar="N", help="Failures in a row before unhealthy (default 3)"),
    Option(("--health-start-period",), "health_start_period", metavar="DURATION",
           help="Failures during this start time do not count (default 0s)"),
    Option(("--no-healthcheck",), "no_healthcheck", is_flag=True, help="Disable the image's HEALTHCHECK"),
    Option(("-l", "--label"), "label", multiple=True, metavar="K=V", help="Set metadata on the container"),
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

PS_OPTIONS = [
    Option(("-a", "--all"), "show_all", is_flag=True, help="Show all containers (default shows running)"),
    Option(("-q", "--quiet"), "quiet", is_flag=True, help="Only show ids"),
    Option(("--format",), "fmt", choices=("table", "json"), help="table (the default) or json: one object a line"),
    Option(("-f", "--filter"), "filters", multiple=True, metavar="KEY=VALUE",
           help="Filter: id, name, label, status, ancestor, network, volume, exited (as docker ps)"),
]

REGISTRY_OPTIONS = [  # pull's and push's
    Option(("--insecure-registry",), "insecure", multiple=True, metavar="HOST",
           help="Allow plain HTTP or an unverified certificate for HOST (loopback always may)"),
    Option(("--ca-file",), "ca_file", metavar="PATH", help="Trust this CA certificate too"),
]

PULL_OPTIONS = [
    Option(("--platform",), "platform", metavar="OS/ARCH[/VARIANT]", help="The platform to pull (default: this host's)"),
    Option(("-q", "--quiet"), "quiet", is_flag=True, help="Print only the image's reference"),
    *REGISTRY_OPTIONS,
]

STATS_OPTIONS = [
    Option(("--no-stream",), "no_stream", is_flag=True, help="Print one table and exit (after one interval)"),
]


def run_options(plugin_options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``run``'s options: the core's, then each plugin option whose dest is not taken yet (with ``plugin``)."""
    out = [{**o.to_dict(), "plugin": None} for o in RUN_OPTIONS]
    seen = {o["dest"] for o in out}
    for opt in plugin_options:
        if opt.get("keys"):  # a shared flag: one row for the parsers, its items routed later (route_items)
            dest = shared_dest(opt["flags"])
            row = next((o for o in out if o["dest"] == dest), None)
            if row is None:
                seen.add(dest)
                out.append({**opt, "dest": dest, "multiple": True, "plugin": opt["plugin"]})
            elif row.get("keys"):
                row["plugin"] = ", ".join(dict.fromkeys(f"{row['plugin']}, {opt['plugin']}".split(", ")))
                row["metavar"] = f"{row['metavar']}|{opt['metavar']}" if opt.get("metavar") else row["metavar"]
                row["help"] = f"{row['help']}; {opt['help']}" if opt.get("help") else row["help"]
        elif opt["dest"] not in seen:
            seen.add(opt["dest"])
            out.append(opt)
    return out


def parser_table(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the click-free parser needs of each option: flags, dest, whether it takes a value, multiple, the
    values it may take (none: any)."""
    return [{"flags": list(o["flags"]), "dest": o["dest"], "value": not o["is_flag"], "multiple": o["multiple"],
             "choices": list(o.get("choices") or ())} for o in options]


def shared_dest(flags: tuple[str, ...] | list[str]) -> str:
    """The parsers' dest of a flag several plugins share: its long name (``--security-opt`` -> ``security_opt``)."""
    return max(flags, key=len).lstrip("-").replace("-", "_")


def item_key(item: str) -> str:
    """The key of a ``KEY=VALUE`` (or ``KEY:VALUE``) item: what ``keys`` are matched against."""
    for sep in ("=", ":"):
        if sep in item:
            return item.split(sep, 1)[0]
    return item


def key_matches(pattern: str, key: str) -> bool:
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def route_items(options: dict[str, Any], plugin_options: list[dict[str, Any]], selected: list[str]
                ) -> dict[str, Any]:
    """``options`` with each shared flag's items moved to the dest of the plugin owning the item's key.
    An item nobody owns, or whose owner is not selected, is refused (ConfigError/PluginError, by name)."""
    from .errors import ConfigError, PluginError
    shared: dict[str, list[dict[str, Any]]] = {}
    for opt in plugin_options:
        if opt.get("keys"):
            shared.setdefault(shared_dest(opt["flags"]), []).append(opt)
    if not shared or not any(dest in options for dest in shared):
        return options
    out = dict(options)
    for dest, owners in shared.items():
        items = out.pop(dest, None)
        if not items:
            continue
        flag = max(owners[0]["flags"], key=len)
        routed: dict[str, list[str]] = {}
        for item in items:
            key = item_key(item)
            owner = next((o for o in owners if any(key_matches(p, key) for p in o["keys"])), None)
            if owner is None:
                known = ", ".join(p for o in owners for p in o["keys"])
                raise ConfigError(f"invalid {flag} {item!r}: {key!r} is not supported here (supported: {known})")
            if owner["plugin"] not in selected:
                raise PluginError(f"{flag} {key} needs the {owner['plugin']!r} plugin, which is not selected "
                                  f"(--plugins {','.join(list(selected) + [owner['plugin']])})")
            routed.setdefault(owner["dest"], []).append(item)
        for owner_dest, values in routed.items():
            out[owner_dest] = [*(out.get(owner_dest) or ()), *values]
    return out
