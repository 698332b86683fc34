"""Image references as Docker spells them, and platforms as OCI indexes name them.

``parse("redis")`` is ``docker.io/library/redis:latest``; ``user/app:1.2``, ``host:5000/ns/app``,
``name@sha256:<hex>`` and ``name:tag@sha256:<hex>`` parse too. The first path component is a registry host
when it contains ``.`` or ``:``, is ``localhost``, or has upper-case letters (Docker's ``splitDockerDomain``);
otherwise the image lives on Docker Hub. Anything else is refused with one ConfigError, ``invalid reference
format: ...``.
"""
from __future__ import annotations

import platform as _platform
import re

from .._fields import Fields
from ..errors import ConfigError

__all__ = ["Reference", "parse", "Platform", "parse_platform", "host_platform", "DOCKER_HUB",
           "DOCKER_HUB_ENDPOINT"]

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?"
                     r"|\[[0-9a-fA-F:.]+\](?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NAME_MAX = 255


class Reference(Fields):
    """A parsed, normalized reference: ``domain`` (``docker.io`` for Hub), ``path`` (``library/redis``), ``tag``
    (``latest`` when neither tag nor digest was given; else as given or None) and ``digest`` (``sha256:...``
    or None)."""

    __slots__ = ("domain", "path", "tag", "digest")
    _defaults = {"tag": None, "digest": None}

    @property
    def repository(self) -> str:
        """The full name without tag or digest: ``docker.io/library/redis``."""
        return f"{self.domain}/{self.path}"

    @property
    def registry(self) -> str:
        """The host[:port] to talk to (Hub's API lives at ``registry-1.docker.io``)."""
        return DOCKER_HUB_ENDPOINT if self.domain == DOCKER_HUB else self.domain

    @property
    def familiar_name(self) -> str:
        """The repository as Docker shows it: ``redis``, ``user/app``, ``host:5000/ns/app``."""
        if self.domain == DOCKER_HUB:
            return self.path[len("library/"):] if self.path.startswith("library/") else self.path
        return self.repository

    @property
    def manifest_ref(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def familiar(self) -> str:
        """The short form for display: ``redis:latest``, ``host:5000/app@sha256:...``."""
        return self.familiar_name + _suffix(self.tag, self.digest)

    def with_tag(self, tag: str) -> "Reference":
        if not _TAG.fullmatch(tag):
            raise ConfigError(f"invalid reference format: invalid tag {tag!r}")
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.domain, self.path, self.tag, digest)

    def __str__(self) -> str:
        return self.repository + _suffix(self.tag, self.digest)

    def __hash__(self) -> int:
        return hash(str(self))


def _suffix(tag: str | None, digest: str | None) -> str:
    return (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def parse(text: str, *, default_tag: str = "latest") -> Reference:
    """Parse and normalize a reference (see the module docstring). ``default_tag`` is used when the
    reference has neither tag nor digest."""
    def bad(why: str) -> ConfigError:
        return ConfigError(f"invalid reference format: {text!r}: {why}")
    if not isinstance(text, str) or not text:
        raise bad("empty")
    if re.fullmatch(r"[0-9a-f]{64}", text):
        raise bad("cannot specify 64-byte hexadecimal strings")
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise bad("digest must be sha256: and 64 lower-case hex digits")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise bad(f"invalid tag {tag!r}")
    domain, path = _split_domain(rest)
    if not _DOMAIN.fullmatch(domain):
        raise bad(f"invalid registry host {domain!r}")
    components = path.split("/")
    for comp in components:
        if not _COMPONENT.fullmatch(comp):
            if comp.lower() != comp and _COMPONENT.fullmatch(comp.lower()):
                raise bad("repository name must be lowercase")
            raise bad(f"invalid repository name component {comp!r}")
    if len(domain) + 1 + len(path) > _NAME_MAX:
        raise bad(f"repository name must not be more than {_NAME_MAX} characters")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, remainder = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DOCKER_HUB, name
    else:
        domain = first
    if domain in _HUB_ALIASES:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


# -- platforms ------------------------------------------------------------------------------------------------
class Platform(Fields):
    """``os/architecture[/variant]`` as in an OCI index's ``platform`` object (``linux/arm64/v8``)."""

    __slots__ = ("os", "architecture", "variant")
    _defaults = {"variant": ""}

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, other: "Platform") -> bool:
        """Whether ``other`` (an index entry's platform) can run as this one. A variant asked for must match
        (arm64's implicit variant is v8); when none is asked for, any variant of the architecture does."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return not self.variant or _variant(self.architecture, self.variant) == _variant(other.architecture,
                                                                                           other.variant)

    @classmethod
    def from_json(cls, data: dict) -> "Platform":
        """From an index entry's ``platform`` or an image config (the same keys); ``x86_64`` and the like are
        read as Go's names (``amd64``), as ``--platform`` is."""
        arch = str(data.get("architecture", ""))
        return cls(str(data.get("os", "")), _NORMAL_ARCH.get(arch, arch), str(data.get("variant", "") or ""))


def _variant(arch: str, variant: str) -> str:
    if arch == "arm64" and not variant:
        return "v8"
    return variant


_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "386", "i686": "386",
         "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
_NORMAL_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "armhf": "arm",
                "armel": "arm"}


def host_platform() -> Platform:
    """The platform this machine runs (``linux/amd64`` here)."""
    machine = _platform.machine()
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", _ARCH.get(machine, machine), variant)


def parse_platform(text: str | None) -> Platform:
    """``--platform``: ``os[/arch[/variant]]`` (``linux/arm64``, ``linux/arm/v7``); None or "" is the host's."""
    if not text:
        return host_platform()
    parts = text.strip().lower().split("/")
    if len(parts) > 3 or not all(re.fullmatch(r"[a-z0-9_.-]+", p) for p in parts):
        raise ConfigError(f"invalid platform {text!r}: expected os[/arch[/variant]], e.g. linux/arm64")
    if len(parts) == 1:
        return Platform(parts[0], host_platform().architecture, "")
    arch = _NORMAL_ARCH.get(parts[1], parts[1])
    return Platform(parts[0], arch, parts[2] if len(parts) == 3 else "")
