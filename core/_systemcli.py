"""``nsrun events``, ``nsrun system df`` and ``nsrun system prune``: Docker's commands of the same names, on
the embedded engine or (``-H``) through the daemon's Docker endpoints. Registered by ``cli.build_cli``; only
click is imported here at start, the rest when a command runs (nothing of it is on the ``run`` start path)."""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterator

import click

from ._console import format_table

__all__ = ["COMMANDS", "SYSTEM_COMMANDS"]


def _remote(state: Any) -> bool:
    return bool(getattr(state.engine, "remote", False))


def _installed() -> Any:
    from ._plugins import installed_manager
    return installed_manager()


# -- events ----------------------------------------------------------------------------------------------------
def _event_line(ev: dict[str, Any]) -> str:
    """The docker CLI's default line: time, type, action, actor, (attributes sorted by key)."""
    import datetime
    nano = int(ev.get("timeNano") or int(ev.get("time", 0)) * 1_000_000_000)
    stamp = datetime.datetime.fromtimestamp(nano // 1_000_000_000, datetime.timezone.utc)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nano % 1_000_000_000:09d}Z"
    attrs = ev["Actor"].get("Attributes") or {}
    text = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
    return f"{when} {ev['Type']} {ev['Action']} {ev['Actor']['ID']}" + (f" ({text})" if text else "")


def _remote_events(engine: Any, filters: dict[str, list[str]], since: float | None,
                   until: float | None) -> Iterator[dict[str, Any]]:
    query = {"filters": json.dumps(filters) if filters else None,
             "since": f"{since:.9f}" if since is not None else None,
             "until": f"{until:.9f}" if until is not None else None}
    resp = engine.request("GET", "/events", query=query, stream=True)
    while line := resp.readline():
        if line.strip():
            yield json.loads(line)


@click.command()
@click.option("--since", metavar="TIME", help="Show events since (unix seconds, RFC 3339, or a duration: 10m)")
@click.option("--until", metavar="TIME", help="Stop at (unix seconds, RFC 3339, or a duration: 0s is now)")
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="type, event, container, label, network, volume (repeatable)")
@click.option("--format", "fmt", metavar="json", help="json: one JSON object per line")
@click.pass_obj
def events(state: Any, since: str | None, until: str | None, filters: tuple[str, ...], fmt: str | None) -> None:
    """Show events: the past ones with --since (and --until), then live ones until --until."""
    from ._events import EVENT_FILTERS, follow
    from ._filters import filter_items
    from ._parse import parse_log_time
    from .errors import ConfigError
    if fmt not in (None, "json", "{{json .}}"):
        raise ConfigError(f"invalid --format {fmt!r}: only json is supported")
    now = time.time()
    lo = parse_log_time(since, now) if since else None
    hi = parse_log_time(until, now, "--until") if until else None
    if lo is not None and hi is not None and hi < lo:
        raise ConfigError(f"`since` time ({since}) cannot be after `until` time ({until})")
    wanted = filter_items(filters, EVENT_FILTERS)
    stream = (_remote_events(state.engine, wanted, lo, hi) if _remote(state)
              else follow(state.engine, _installed(), wanted, lo, hi))
    for ev in stream:
        click.echo(json.dumps(ev) if fmt else _event_line(ev))
        sys.stdout.flush()


# -- system df -------------------------------------------------------------------------------------------------
def _df(state: Any) -> dict[str, Any]:
    if _remote(state):
        return state.engine.request("GET", "/system/df")
    from ._diskusage import disk_usage
    from .daemon.convert import ps_item
    plugins = _installed()
    now = time.time()
    return disk_usage(state.engine, plugins,
                      lambda rec: ps_item(rec, now, plugins.subset("docker_view", rec.spec.plugins)))


@click.command(name="df")
@click.option("-v", "--verbose", is_flag=True, help="Show each image, container and volume")
@click.pass_obj
def system_df(state: Any, verbose: bool) -> None:
    """Show disk usage: images, containers, volumes, build cache (as `docker system df`)."""
    from ._console import ago
    from ._diskusage import df_rows, human_size
    df = _df(state)
    if not verbose:
        click.echo(format_table(df_rows(df)))
        return
    click.echo(f"Images space usage:\n")
    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS")]
    for img in df["Images"]:
        for tag in img.get("RepoTags") or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            rows.append((repo, t, img["Id"][7:19], ago(img.get("Created", 0)), human_size(img["Size"]),
                         human_size(img["SharedSize"]), human_size(img["Size"] - img["SharedSize"]),
                         str(img["Containers"])))
    click.echo(format_table(rows))
    click.echo("\nContainers space usage:\n")
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES")]
    for c in df["Containers"]:
        vols = sum(1 for m in c.get("Mounts") or () if m.get("Type") == "volume")
        rows.append((c["Id"][:12], c.get("Image", ""), json.dumps(c.get("Command", "")), str(vols),
                     human_size(c["SizeRw"]), ago(c.get("Created", 0)), c.get("Status", ""),
                     ",".join(n.lstrip("/") for n in c.get("Names") or ())))
    click.echo(format_table(rows))
    click.echo("\nLocal Volumes space usage:\n")
    rows = [("VOLUME NAME", "LINKS", "SIZE")]
    for v in df["Volumes"]:
        rows.append((v["Name"], str(v["UsageData"]["RefCount"]), human_size(v["UsageData"]["Size"])))
    click.echo(format_table(rows))
    click.echo("\nBuild cache usage: " + human_size(sum(b.get("Size", 0) for b in df["BuildCache"])) + "\n")
    rows = [("CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED")]
    for b in df["BuildCache"]:
        rows.append((b["ID"], b["Type"], human_size(b["Size"]), b["CreatedAt"], "", str(b["UsageCount"]),
                     str(b["Shared"]).lower()))
    click.echo(format_table(rows))


# -- system prune ----------------------------------------------------------------------------------------------
def _prune_all(state: Any, all_: bool, volumes: bool) -> list[tuple[str, list[str], int]]:
    """(what, names removed, bytes) per part, in `docker system prune`'s order."""
    dangling = json.dumps({"dangling": ["false" if all_ else "true"]})
    if _remote(state):
        ask = state.engine.request
        parts = [("Deleted Containers", ask("POST", "/containers/prune"), "ContainersDeleted"),
                 ("Deleted Networks", ask("POST", "/networks/prune"), "NetworksDeleted")]
        if volumes:
            parts.append(("Deleted Volumes", ask("POST", "/volumes/prune"), "VolumesDeleted"))
        parts += [("Deleted Images", ask("POST", "/images/prune", query={"filters": dangling}), "ImagesDeleted"),
                  ("Deleted build cache objects", ask("POST", "/build/prune"), "CachesDeleted")]
        return [(what, _names(body.get(key) if isinstance(body, dict) else None),
                 int((body or {}).get("SpaceReclaimed", 0) if isinstance(body, dict) else 0))
                for what, body, key in parts]
    from . import _prune
    plugins = _installed()
    engine = state.engine
    out = [("Deleted Containers", *_prune.containers(engine, plugins))]
    nets = _prune.plugin_prune(engine.paths, plugins, "/networks/prune") or {}
    out.append(("Deleted Networks", _names(nets.get("NetworksDeleted")), 0))
    if volumes:
        vols = _prune.plugin_prune(engine.paths, plugins, "/volumes/prune") or {}
        out.append(("Deleted Volumes", _names(vols.get("VolumesDeleted")), int(vols.get("SpaceReclaimed", 0))))
    removed, size = _prune.images(engine, all_)
    out.append(("Deleted Images", _names(removed), size))
    out.append(("Deleted build cache objects", *_prune.build_cache(engine)))
    return out


def _names(items: Any) -> list[str]:
    """Names as the docker CLI prints them (``deleted: sha256:...``, ``untagged: x:y`` for images)."""
    out: list[str] = []
    for item in items or ():
        if isinstance(item, dict):
            out.extend(f"{k.lower()}: {v}" for k, v in item.items())
        else:
            out.append(str(item))
    return out


@click.command(name="prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every image no container uses, not only dangling")
@click.option("--volumes", is_flag=True, help="Prune volumes too")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.pass_obj
def system_prune(state: Any, all_: bool, volumes: bool, force: bool) -> None:
    """Remove stopped containers, unused networks, dangling (-a: unused) images and build cache."""
    from ._diskusage import human_size
    if not force:
        what = ["all stopped containers", "all networks not used by at least one container"]
        if volumes:
            what.append("all anonymous volumes not used by at least one container")
        what += ["all images without at least one container associated to them" if all_ else
                 "all dangling images", "unused build cache"]
        click.echo("WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in what))
        if not click.confirm("Are you sure you want to continue?", default=False):
            return
    total = 0
    for what, names, size in _prune_all(state, all_, volumes):
        total += size
        if names:
            click.echo(f"{what}:\n" + "\n".join(names) + "\n")
    click.echo(f"Total reclaimed space: {human_size(total)}")


COMMANDS = [events]
SYSTEM_COMMANDS = [system_df, system_prune]
