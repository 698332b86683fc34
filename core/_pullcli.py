"""The body of ``nsrun pull``, without click: the click command (``_imagecli.pull``) and the console entry's
click-free parser (``_entry``: ``pull`` run embedded, with no ``-H``) both call ``pull_command``, so a pull
does not pay for building the CLI (an up-to-date pull: 70.7 -> 52.5 ms). Its options are
``_options.PULL_OPTIONS``, the table both parsers are built from.

Also the helpers the image commands share: ``local_images`` (the embedded store, refused with ``-H`` by
name) and ``image_exists``.
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the pull's start path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["pull_command", "local_images", "image_exists", "refuse_registry_options_remote"]


def local_images(engine: Any, what: str) -> Any:
    """The engine's own image store; ConfigError through a daemon (``-H``), which has no local one."""
    from .errors import ConfigError
    images = engine.images
    if not hasattr(images, "layers"):
        raise ConfigError(f"image {what}: not supported with -H (use docker {what} against the daemon)")
    return images


def image_exists(engine: Any, ref: str) -> bool:
    from .errors import NsrunError
    try:
        engine.images.get(ref)
        return True
    except NsrunError:
        return False


def refuse_registry_options_remote(insecure: tuple[str, ...], ca_file: str | None) -> None:
    """``--insecure-registry``/``--ca-file`` with ``-H``: refused by name (the daemon reaches registries)."""
    if insecure or ca_file:
        from .errors import ConfigError
        raise ConfigError("--insecure-registry and --ca-file are not available with -H: the daemon reaches "
                          "registries itself (loopback registries over plain HTTP)")


def _echo(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pull_command(engine: Any, ref: str, platform: str | None, quiet: bool, insecure: tuple[str, ...],
                 ca_file: str | None) -> int:
    """Pull ``ref`` (a registry reference, or ``TRANSPORT:LOCATION``) into ``engine``'s store, showing
    docker's progress unless ``quiet``; print the reference pulled (or the images loaded). Exit status 0."""
    from .image.progress import Display
    from .image.reference import parse
    from .image.service import RegistryOptions, pull_image
    from .image.transports import REGISTRY, select
    from .image.view import pull_footer, pull_header, show
    transport, location = select(ref)
    if transport.name != REGISTRY:
        from .image.archive import loaded_lines
        recs = transport.pull(paths=engine.paths, images=local_images(engine, "pull"), location=location,
                              progress=None, platform=platform, options=RegistryOptions(insecure, ca_file))
        for line in loaded_lines(recs):
            _echo(line.partition(": ")[2] if quiet else line)
        return 0
    ref = location
    parsed = parse(ref)
    display = None if quiet else Display()
    if getattr(engine, "remote", False):  # the daemon streams the same messages
        refuse_registry_options_remote(insecure, ca_file)
        engine.images.pull(ref, platform=platform, display=display)
        _echo(str(parsed))
        return 0
    old = image_exists(engine, str(parsed)) and engine.images.get(str(parsed))["id"]
    if display:
        show(display, pull_header(parsed.path, parsed.tag or parsed.digest, parsed.familiar()))
    meta = pull_image(engine.paths, ref, platform=platform, progress=display,
                      options=RegistryOptions(insecure, ca_file), images=engine.images)
    if display:
        digest = (meta.get("repo_digests") or [""])[0].partition("@")[2]
        for msg in pull_footer(parsed.familiar(), digest, meta["id"] != old):
            show(display, msg)
    _echo(str(parsed))
    return 0
