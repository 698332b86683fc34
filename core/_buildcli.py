"""The commands that make images from containers and Dockerfiles: ``commit``, ``diff``, ``build`` (and
``image history``, added to the ``image`` group). Registered by ``cli.build_cli``; the work is in
``nsrun.image.commit`` and ``nsrun.build``, imported only when a command runs."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from .errors import ConfigError

__all__ = ["COMMANDS", "history"]


def _local(state: Any, what: str) -> Any:
    if getattr(state.engine, "remote", False):
        raise ConfigError(f"{what}: not supported with -H (use docker {what} against the daemon)")
    return state.engine


@click.command()
@click.option("-c", "--change", "changes", multiple=True, metavar="INSTRUCTION",
              help="Apply a Dockerfile instruction to the image's config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, "
                   "EXPOSE, LABEL, STOPSIGNAL)")
@click.option("-m", "--message", help="Commit message")
@click.option("-a", "--author", help='Author (e.g. "Jane <jane@example.com>")')
@click.option("-p", "--pause/--no-pause", default=True, help="Accepted for docker's sake: nsrun does not pause")
@click.argument("container")
@click.argument("repo", required=False, metavar="[REPO[:TAG]]")
@click.pass_obj
def commit(state: Any, changes: tuple[str, ...], message: str | None, author: str | None, pause: bool,
           container: str, repo: str | None) -> None:
    """Create a new image from a container's changes."""
    from ._imageconfig import parse_changes
    from .image.commit import commit_container
    parse_changes(changes)  # a bad --change fails before anything is written
    rec = commit_container(_local(state, "commit"), container, repo, changes=changes, message=message,
                           author=author)
    click.echo(rec["id"])


@click.command()
@click.argument("container")
@click.pass_obj
def diff(state: Any, container: str) -> None:
    """Show a container's file system changes (A added, C changed, D deleted)."""
    from .image.changes import list_changes
    from .image.commit import container_changes
    engine = _local(state, "diff")
    rec = engine.find(container)
    found = container_changes(engine, rec)
    for kind, path in list_changes(found["upper"], list(rec.spec.layers or []), found.get("skip") or ()):
        click.echo(f"{kind} {path}")


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--format", "format_", metavar="json", help="json: Docker's API objects")
@click.argument("image")
@click.pass_obj
def history(state: Any, quiet: bool, no_trunc: bool, format_: str | None, image: str) -> None:
    """Show the history of an image (newest first)."""
    from ._console import ago, format_table
    from .image.view import docker_history
    images = _local(state, "history").images
    meta = images.get(image)
    entries = docker_history(meta, [images.layers.meta(c).get("size", 0) for c in meta["layers"]])
    if format_ == "json":
        click.echo(json.dumps(entries, indent=4))
        return
    if format_:
        raise ConfigError(f"--format {format_!r}: only json is supported")
    if quiet:
        for e in entries:
            click.echo(e["Id"] if no_trunc or e["Id"] == "<missing>" else e["Id"][7:19])
        return
    from ._imagecli import _human
    rows = [("IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT")]
    for e in entries:
        by = e["CreatedBy"] if no_trunc or len(e["CreatedBy"]) <= 45 else e["CreatedBy"][:44] + "…"
        ident = e["Id"] if no_trunc or e["Id"] == "<missing>" else e["Id"][7:19]
        rows.append((ident, ago(e["Created"]), by, _human(e["Size"]), e["Comment"]))
    click.echo(format_table(rows))


COMMANDS = (commit, diff)
