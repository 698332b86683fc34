"""The image commands: ``pull``, ``push``, ``login``, ``logout`` and the ``image`` group (import, ls, rm, tag,
inspect, prune). Registered on the CLI by ``cli.build_cli``; nothing here is on the ``run`` start path."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._console import each_name, echo_err, format_table
from ._pullcli import image_exists, local_images, refuse_registry_options_remote
from .errors import ConfigError, NsrunError

__all__ = ["COMMANDS"]


@click.group()
def image() -> None:
    """Manage images."""


@image.command(name="import")
@click.option("-c", "--change", "changes", multiple=True, metavar="INSTRUCTION",
              help="Apply a Dockerfile instruction to the image's config: CMD, ENTRYPOINT, ENV, WORKDIR, USER, "
                   "EXPOSE, LABEL, STOPSIGNAL, VOLUME (as `docker import --change`)")
@click.argument("tars", nargs=-1, required=True, metavar="TAR...")
@click.argument("name")
@click.pass_obj
def image_import(state: Any, changes: tuple[str, ...], tars: tuple[str, ...], name: str) -> None:
    """Import a root filesystem tarball (or several layer tars, bottom-most first) as an image."""
    from ._imageconfig import parse_changes
    config = parse_changes(changes)  # checked before anything is unpacked
    images = state.engine.images
    if len(tars) > 1 and not hasattr(images, "layers"):  # the daemon's API imports one root filesystem tar
        raise ConfigError("image import: several layer tars are not supported with -H (import them locally)")
    if getattr(state.engine, "remote", False):
        meta = images.import_tar(tars[0], name, config=config, changes=changes)
    else:
        meta = images.import_tar(tars[0] if len(tars) == 1 else list(tars), name, config=config)
    click.echo(meta["id"])


@image.command(name="save")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE...")
@click.pass_obj
def image_save(state: Any, output: str | None, names: tuple[str, ...]) -> None:
    """Save images to a tar archive (Docker's `docker save` format, readable as an OCI layout too)."""
    import os
    from .image.archive import save
    images = local_images(state.engine, "save")
    for name in names:
        images.get(name)  # an unknown name fails before anything is written
    if output is None:
        if sys.stdout.isatty():
            raise ConfigError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        sys.stdout.flush()
        save(state.engine.paths, images, list(names), sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    tmp = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            save(state.engine.paths, images, list(names), f)
        os.rename(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@image.command(name="load")
@click.option("-i", "--input", "input_", metavar="FILE", help="Read from FILE instead of stdin")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing")
@click.pass_obj
def image_load(state: Any, input_: str | None, quiet: bool) -> None:
    """Load images from a `docker save` archive or an OCI layout tar (plain or compressed)."""
    from .image.archive import load, loaded_lines
    images = local_images(state.engine, "load")
    if input_ is None:
        if sys.stdin.isatty():
            raise ConfigError("requested load from stdin, but stdin is empty")
        recs = load(state.engine.paths, images, sys.stdin.buffer)
    else:
        try:
            f = open(input_, "rb")
        except OSError as exc:
            raise ConfigError(f"open {input_}: {exc.strerror}") from None
        with f:
            recs = load(state.engine.paths, images, f)
    if not quiet:
        for line in loaded_lines(recs):
            click.echo(line)


@image.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("-a", "--all", "all_", is_flag=True, help="Show the builder's intermediate images too")
@click.pass_obj
def image_ls(state: Any, quiet: bool, digests: bool, all_: bool) -> None:
    """List images: one row per tag (an untagged image once, as <none>; the untagged steps of a build only
    with -a)."""
    head = ("REPOSITORY", "TAG", *(("DIGEST",) if digests else ()), "IMAGE ID", "CREATED", "SIZE")
    rows, seen = [head], set()
    for meta in state.engine.images.list():
        if not all_ and meta.get("build_key") and not meta.get("repo_tags"):
            continue
        if quiet:
            if meta["id"] not in seen:
                seen.add(meta["id"])
                click.echo(meta["id"][7:19])
            continue
        digest = (meta.get("repo_digests") or ["<none>"])[0].partition("@")[2] or "<none>"
        for tag in meta.get("repo_tags") or ["<none>:<none>"]:
            repo, tagname = _split_tag(tag)
            rows.append((repo, tagname, *((digest,) if digests else ()), meta["id"][7:19], _ago(meta["created"]),
                         _human(meta["size"])))
    if not quiet:
        click.echo(format_table(rows))


def _split_tag(name: str) -> tuple[str, str]:
    """``redis`` -> (redis, latest); ``host:5000/app:1`` -> (host:5000/app, 1)."""
    head, slash, last = name.rpartition("/")
    repo, colon, tag = last.partition(":")
    return head + slash + repo, tag if colon else "latest"


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g}{unit}"
    return f"{size}B"


def _ago(ts: float | None) -> str:
    from ._console import ago
    return ago(ts)


@image.command(name="rm")
@click.option("-f", "--force", is_flag=True, help="Remove the image even when other tags name it")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def image_rm(state: Any, force: bool, names: tuple[str, ...]) -> None:
    """Remove images (refused while a container uses one); prints what was untagged and deleted."""
    from .image.service import image_users
    from .image.view import docker_removed
    engine = state.engine
    remote = getattr(engine, "remote", False)

    def remove(name: str) -> list[str]:
        users = [] if remote else image_users(engine, name)  # with -H the daemon finds them itself
        return [f"{key}: {value}" for item in docker_removed(engine.images.remove(name, users, force=force) or [])
                for key, value in item.items()]
    each_name(names, remove)


@image.command(name="tag")
@click.argument("source")
@click.argument("target")
@click.pass_obj
def image_tag(state: Any, source: str, target: str) -> None:
    """Give the image SOURCE the name TARGET too."""
    state.engine.images.tag(source, target)


@image.command(name="inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def image_inspect(state: Any, names: tuple[str, ...]) -> None:
    """Show images in Docker's format (Id, RepoTags, RepoDigests, Config, RootFS, ...)."""
    from .image.view import docker_image
    out, failed = [], False
    images = state.engine.images
    for name in names:
        try:
            out.append(images.inspect(name) if getattr(state.engine, "remote", False)
                       else docker_image(images.get(name)))
        except NsrunError as exc:
            echo_err(exc.message)
            failed = True
    click.echo(json.dumps(out, indent=4))
    if failed:
        sys.exit(1)


@image.command(name="prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every image no container uses, not only dangling")
@click.option("-f", "--force", is_flag=True, help="Do not ask (nsrun never asks)")
@click.pass_obj
def image_prune(state: Any, all_: bool, force: bool) -> None:
    """Remove dangling images (untagged and unused), and with -a every unused one."""
    from .image.view import docker_removed
    engine = state.engine
    if getattr(engine, "remote", False):
        _print_removed(docker_removed(engine.images.prune(all_=all_)))
        return
    keep = {engine.images.get(r.spec.image)["id"] for r in engine.store.list() if r.spec.image
            and image_exists(engine, r.spec.image)}
    if all_:
        removed = []
        for meta in engine.images.list():
            if meta["id"] not in keep:
                removed += engine.images.remove(meta["id"], [], force=True) or []
    else:
        removed = engine.images.prune(keep=keep)
    _print_removed(docker_removed(removed))


def _print_removed(items: list[dict[str, str]]) -> None:
    for item in items:
        for key, value in item.items():
            click.echo(f"{key}: {value}")


@click.command()
@click.argument("ref")
@click.pass_obj
def pull(state: Any, ref: str, **options: Any) -> None:
    """Pull an image from a registry (layers in parallel, unpacked while they download), or from another
    transport: docker-archive:PATH[:REF], oci-archive:PATH[:NAME] (and what plugins add)."""
    from ._pullcli import pull_command
    pull_command(state.engine, ref, **options)  # the options: PULL_OPTIONS, added by cli.build_cli


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest")
@click.argument("ref")
@click.argument("dest", required=False, metavar="[TRANSPORT:LOCATION]")
@click.pass_obj
def push(state: Any, quiet: bool, insecure: tuple[str, ...], ca_file: str | None, ref: str,
         dest: str | None) -> None:
    """Push an image of the store to the registry its name points at, or to DEST (another reference, or a
    transport: docker-archive:PATH[:NAME], oci-archive:PATH[:NAME])."""
    from .image.progress import Display
    from .image.reference import parse
    from .image.service import RegistryOptions, manifest_size, push_image
    from .image.transports import REGISTRY, select
    from .image.view import push_footer, push_header, show
    transport, location = select(dest or ref)
    options = RegistryOptions(insecure, ca_file)
    if not callable(getattr(transport, "push", None)):
        raise ConfigError(f"transport {transport.name!r} cannot be pushed to")
    if transport.name != REGISTRY or (dest and location != ref):
        parsed_dest = transport.push(paths=state.engine.paths, images=local_images(state.engine, "push"), ref=ref,
                                     location=location, progress=None, options=options)
        click.echo(parsed_dest)
        return
    parsed = parse(ref)
    display = None if quiet else Display()
    if getattr(state.engine, "remote", False):  # the daemon streams the same messages
        refuse_registry_options_remote(insecure, ca_file)
        digest = state.engine.images.push(ref, display=display)
    else:
        if display:
            show(display, push_header(parsed.repository))
        digest = push_image(state.engine.paths, ref, progress=display, options=options, images=state.engine.images)
        if display:
            for msg in push_footer(parsed.tag or "latest", digest, manifest_size(state.engine.paths, digest)):
                show(display, msg)
    if quiet:
        click.echo(digest)


@click.command()
@click.option("-u", "--username", help="Username")
@click.option("-p", "--password", help="Password (prefer --password-stdin)")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin")
@click.option("--insecure-registry", "insecure", multiple=True, metavar="HOST",
              help="Allow plain HTTP or an unverified certificate for HOST")
@click.option("--ca-file", type=click.Path(), help="Trust this CA certificate too")
@click.argument("server")
def login(username: str | None, password: str | None, password_stdin: bool, insecure: tuple[str, ...],
          ca_file: str | None, server: str) -> None:
    """Log in to a registry; the credentials go to ~/.docker/config.json, as with docker login."""
    from .errors import ConfigError
    from .image.registry import login as registry_login
    if password_stdin:
        if password:
            raise ConfigError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    path = registry_login(_registry_host(server), username, password, insecure=insecure, ca_file=ca_file)
    click.echo(f"Credentials saved in {path}")
    click.echo("Login Succeeded")


@click.command()
@click.argument("server")
def logout(server: str) -> None:
    """Forget the credentials stored for a registry."""
    from .image.auth import remove_credentials
    host = _registry_host(server)
    click.echo(f"Removing login credentials for {host}" if remove_credentials(host)
               else f"Not logged in to {host}")


def _registry_host(server: str) -> str:
    from .image.auth import registry_host
    return registry_host(server)


COMMANDS = (image, pull, push, login, logout)
