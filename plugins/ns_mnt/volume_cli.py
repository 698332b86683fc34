"""``nsrun volume create|ls|inspect|rm|prune``: named volumes of the local driver (imported only when used)."""
from __future__ import annotations

import json

import click

from nsrun import ConfigError, Paths, filter_items, format_table

from .volstore import LIST_FILTERS, VolumeStore

__all__ = ["volume"]


def _store(ctx: click.Context) -> VolumeStore:
    root = ctx.find_root().obj.root if ctx.find_root().obj is not None else None
    return VolumeStore(Paths.from_root(root))


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key or (not eq and what == "--opt"):
            raise ConfigError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


@click.group()
def volume() -> None:
    """Manage volumes (the local driver)."""


@volume.command()
@click.option("-d", "--driver", default="local", help="Only 'local'")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Set metadata on the volume")
@click.option("-o", "--opt", "opts", multiple=True, metavar="K=V",
              help="Driver option: type=tmpfs,o=size=..  |  type=none,o=bind,device=/path")
@click.argument("name", required=False)
@click.pass_context
def create(ctx: click.Context, driver: str, labels: tuple[str, ...], opts: tuple[str, ...], name: str | None) -> None:
    """Create a volume (a random name when none is given)."""
    meta = _store(ctx).create(name, _pairs(labels, "--label"), _pairs(opts, "--opt"), driver)
    click.echo(meta["Name"])


@volume.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="Only names")
@click.option("-f", "--filter", "filters", multiple=True, metavar="label=K[=V]|name=N|driver=D|dangling=B")
@click.pass_context
def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List volumes."""
    rows = _store(ctx).matching(filter_items(filters, LIST_FILTERS))  # as GET /volumes filters
    if quiet:
        for m in rows:
            click.echo(m["Name"])
        return
    click.echo(format_table([("DRIVER", "VOLUME NAME")] + [("local", m["Name"]) for m in rows]))


@volume.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Show volumes as JSON."""
    store = _store(ctx)
    click.echo(json.dumps([store.view(store.get(n)) for n in names], indent=4))


@volume.command()
@click.option("-f", "--force", is_flag=True, help="Kept for Docker's muscle memory (a volume in use is still kept)")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, names: tuple[str, ...]) -> None:
    """Remove volumes (refused while a container uses one)."""
    store = _store(ctx)
    for name in names:
        store.remove(name)
        click.echo(name)


@volume.command()
@click.option("-f", "--force", is_flag=True, help="Do not ask (the default)")
@click.option("--filter", "filters", multiple=True, metavar="label=K[=V]")
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove every volume no container uses."""
    removed, reclaimed = _store(ctx).prune(filter_items(filters, ("label",)).get("label"))
    for name in removed:
        click.echo(name)
    click.echo(f"Total reclaimed space: {reclaimed}B")
