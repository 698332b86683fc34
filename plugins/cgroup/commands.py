"""``nsrun pause|unpause NAME...`` and ``nsrun update [--memory ...] NAME...`` (imported only when used)."""
from __future__ import annotations

import click

from nsrun import Paths

__all__ = ["pause", "unpause", "update"]


def _paths(ctx: click.Context) -> Paths:
    obj = ctx.find_root().obj
    return Paths.from_root(obj.root if obj is not None else None)


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def pause(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Pause every process of containers (cgroup freezer)."""
    from .ops import pause as do
    for name in names:
        click.echo(do(_paths(ctx), name, True))


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def unpause(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Resume every process of paused containers."""
    from .ops import pause as do
    for name in names:
        click.echo(do(_paths(ctx), name, False))


@click.command()
@click.option("-m", "--memory", help="Memory limit (e.g. 64m)")
@click.option("--memory-swap", help="Memory plus swap limit; -1 unlimited")
@click.option("--memory-reservation", help="Memory soft limit")
@click.option("--cpus", help="Number of CPUs")
@click.option("-c", "--cpu-shares", help="CPU shares (relative weight)")
@click.option("--cpu-period", help="CFS period (µs)")
@click.option("--cpu-quota", help="CFS quota (µs)")
@click.option("--cpuset-cpus", help="CPUs to run on")
@click.option("--cpuset-mems", help="Memory nodes to allocate from")
@click.option("--pids-limit", help="Process limit (-1 unlimited)")
@click.option("--blkio-weight", help="Block I/O weight (10-1000)")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def update(ctx: click.Context, names: tuple[str, ...], **changes: str | None) -> None:
    """Change the resource limits of running containers."""
    from nsrun import ConfigError
    from .ops import update as do
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise ConfigError("you must provide one or more flags when using this command")
    for name in names:
        click.echo(do(_paths(ctx), name, changes))
