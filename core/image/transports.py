"""Image transports: where images come from and go to, behind the ``image_transports`` hook.

``select(text)`` splits ``NAME:LOCATION`` when ``NAME`` is an installed transport's name (``docker-archive:/x.tar``,
``oci-archive:/x.tar:v1``, ``docker://redis``) and gives the registry transport (``docker``) with the whole text
otherwise, as skopeo and podman read references. The transports are asked of every installed plugin
(``nsrun.installed_hooks()``); the core names none but ``docker``, the meaning of a plain reference.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError

__all__ = ["available", "select", "split_path", "REGISTRY"]

REGISTRY = "docker"


def available(hook: Any = None) -> dict[str, Any]:
    """Transport name -> transport, the first of each name in pipeline order."""
    if hook is None:
        from .. import installed_hooks
        hook = installed_hooks("image_transports")
    found: dict[str, Any] = {}
    for group in hook.image_transports():
        for transport in group or ():
            name = getattr(transport, "name", None)
            if not isinstance(name, str) or not callable(getattr(transport, "pull", None)):
                from ..errors import PluginError
                raise PluginError(f"image_transports must return objects with a name and pull(), not {transport!r}")
            found.setdefault(name, transport)
    return found


def select(text: str, hook: Any = None) -> tuple[Any, str]:
    """(transport, location) for ``text``; ConfigError when the registry transport is missing."""
    found = available(hook)
    prefix, colon, rest = text.partition(":")
    if colon and prefix in found and "/" not in prefix and "." not in prefix:
        location = rest[2:] if rest.startswith("//") else rest
        return found[prefix], location
    if REGISTRY not in found:
        raise ConfigError(f"no transport for {text!r}: installed: {', '.join(sorted(found)) or 'none'}")
    return found[REGISTRY], text


def split_path(location: str) -> tuple[str, str | None]:
    """``PATH[:REF]`` -> (PATH, REF or None): the longest prefix that names an existing file is the path (a
    path may hold colons, and so may a reference)."""
    if os.path.exists(location):
        return location, None
    pos = len(location)
    while (pos := location.rfind(":", 0, pos)) > 0:
        if os.path.exists(location[:pos]):
            return location[:pos], location[pos + 1:] or None
    path = location.split(":", 1)[0]
    raise ConfigError(f"no such file: {path}")
