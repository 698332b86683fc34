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


def _pairs(items: tuple[str, ...], what: str, from_env: bool) -> dict[str, str]:
    import os
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise ConfigError(f"invalid {what} {item!r}: KEY=VALUE expected")
        if not eq:
            if not from_env:
                raise ConfigError(f"invalid {what} {item!r}: KEY=VALUE expected")
            if key not in os.environ:
                continue  # docker: --build-arg NAME with NAME unset is left out
            value = os.environ[key]
        out[key] = value
    return out


def _read_dockerfile(context: str, path: str | None) -> str:
    import os
    if path == "-":
        return sys.stdin.read()
    path = path or os.path.join(context, "Dockerfile")
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat "
                          f"{os.path.abspath(path)}: no such file or directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the Dockerfile {path}: {exc.strerror}") from None


class _JsonOut:
    """Docker's build stream (``{"stream": TEXT}`` per chunk), one JSON object per line: ``--json-stream``,
    what the daemon's ``POST /build`` passes on as it is."""

    def __init__(self) -> None:
        self.out = sys.stdout

    def __call__(self, text: str) -> None:
        if text:
            self.send({"stream": text})

    def send(self, msg: dict[str, Any]) -> None:
        self.out.write(json.dumps(msg) + "\n")
        self.out.flush()


@click.command()
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME[:TAG]", help="Name the image (repeatable)")
@click.option("-f", "--file", "dockerfile", metavar="PATH", help="The Dockerfile (default: CONTEXT/Dockerfile; - "
              "for stdin)")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="Set a build-time variable")
@click.option("--target", metavar="STAGE", help="Build up to this stage")
@click.option("--no-cache", is_flag=True, help="Do not use the layer cache")
@click.option("--pull", is_flag=True, help="Always pull the base images")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Add a label to the image")
@click.option("--iidfile", metavar="FILE", help="Write the image id to FILE")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image id")
@click.option("--json-stream", is_flag=True, hidden=True, help="Docker's JSON build stream (for the daemon)")
@click.argument("context")
@click.pass_obj
def build(state: Any, tags: tuple[str, ...], dockerfile: str | None, build_args: tuple[str, ...],
          target: str | None, no_cache: bool, pull: bool, labels: tuple[str, ...], iidfile: str | None,
          quiet: bool, json_stream: bool, context: str) -> None:
    """Build an image from a Dockerfile and a context directory (docker's classic builder; with -H the
    daemon builds it)."""
    import signal
    from .errors import NsrunError
    jout = _JsonOut() if json_stream else None

    def stop(signum: int, _frame: Any) -> None:  # the daemon's client went away: clean up, then leave
        raise NsrunError(f"the build was stopped (signal {signum})")
    signal.signal(signal.SIGTERM, stop)
    try:
        image_id = _build(state, tags, dockerfile, build_args, target, no_cache, pull, labels, quiet, jout,
                          context)
    except NsrunError as exc:
        if jout is None:
            raise
        jout.send({"errorDetail": {"message": exc.message}, "error": exc.message})
        sys.exit(1)
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(image_id)
    if quiet:
        if jout:
            jout(image_id + "\n")
        else:
            click.echo(image_id)


def _build(state: Any, tags: tuple[str, ...], dockerfile: str | None, build_args: tuple[str, ...],
           target: str | None, no_cache: bool, pull: bool, labels: tuple[str, ...], quiet: bool, jout: Any,
           context: str) -> str:
    from .build.builder import BuildOptions, Builder
    from .image.reference import parse
    text = _read_dockerfile(context, dockerfile)
    args, label_map = _pairs(build_args, "--build-arg", True), _pairs(labels, "--label", False)

    def emit(text: str) -> None:
        if quiet:
            return
        if jout:
            jout(text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    if getattr(state.engine, "remote", False):  # -H: the daemon builds (and prints the Successfully lines)
        return state.engine.images.build(context, text, tags=tags, build_args=args, target=target,
                                         no_cache=no_cache, pull=pull, labels=label_map, quiet=quiet, emit=emit)
    options = BuildOptions(dockerfile=text, tags=tags, build_args=args, target=target, no_cache=no_cache,
                           labels=label_map, plugins=state.plugins, pull=pull)
    image_id = Builder(state.engine, context, options, emit).build()
    if jout and not quiet:
        jout.send({"aux": {"ID": image_id}})
    emit(f"Successfully built {image_id[7:19]}\n")
    for tag in tags:
        emit(f"Successfully tagged {parse(tag, default_tag='latest').familiar()}\n")
    return image_id


COMMANDS = (commit, diff, build)
