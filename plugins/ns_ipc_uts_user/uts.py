"""UTS namespace: the container's own hostname (``--hostname``, else the first 12 characters of its id).

``--sysctl kernel.domainname=...`` and ``kernel.hostname=...`` (``HostConfig.Sysctls``) are this plugin's,
written inside the new namespace after the hostname.
"""
import re

from nsrun import CLONE_NEWUTS, ConfigError, Option, RunContext, hookimpl

from . import joined, sysctls

DEFAULT = True
ORDER = 20
SYSCTL_KEYS = ("kernel.domainname", "kernel.hostname")
OPTIONS = [Option(("-h", "--hostname"), "hostname", help="Container host name", metavar="NAME"),
           Option(("--sysctl",), "uts_sysctls", multiple=True, keys=SYSCTL_KEYS, metavar="KEY=VALUE",
                  help="Set a namespaced kernel parameter (uts: kernel.domainname, kernel.hostname)"),
           Option(("--uts",), "uts", help="UTS namespace: private (the default) or ns:PATH (join that one)",
                  metavar="MODE")]
JOIN_KEY = "uts.join"


def _sysctl_mine(key: str) -> bool:
    return key in SYSCTL_KEYS
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def valid_hostname(name: str) -> bool:
    """RFC 1123: dot-separated labels of letters, digits and inner hyphens; 63 per label, 253 in all."""
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


@hookimpl
def configure(ctx: RunContext) -> None:
    ctx.stash[JOIN_KEY] = joined.configured_path(ctx.options.get("uts"), "uts")
    name = ctx.options.get("hostname") or ctx.spec.id[:12]
    if not valid_hostname(name):
        raise ConfigError(f"invalid hostname {name!r}: use letters, digits, '-' and '.' (RFC 1123)")
    ctx.hostname = name
    sysctls.parse(ctx.options.get("uts_sysctls"))


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    return 0 if ctx.stash.get(JOIN_KEY) else CLONE_NEWUTS


@hookimpl
def docker_create(fields):
    hostname = fields.take("Hostname", str)
    out = sysctls.from_docker(fields, "uts_sysctls", _sysctl_mine)
    if not hostname:
        return out or None
    return {"hostname": hostname, **out}


@hookimpl
def docker_view(options, info, view) -> None:
    view["Config"]["Hostname"] = info.get("Hostname") or options.get("hostname") or view["Config"]["Hostname"]
    sysctls.into_view(options.get("uts_sysctls"), view)


@hookimpl
def in_child(ctx: RunContext) -> None:
    from nsrun import syscalls
    if path := ctx.stash.get(JOIN_KEY):  # a joined namespace keeps its name unless one is given (as runc)
        joined.join(path, CLONE_NEWUTS)
        if ctx.options.get("hostname"):
            syscalls.sethostname(ctx.options["hostname"])
    else:
        syscalls.sethostname(ctx.hostname or ctx.spec.id[:12])
    sysctls.apply(ctx.options.get("uts_sysctls"))


@hookimpl
def oci_config(fields):
    out = joined.oci_path(fields, "uts") or {}
    hostname = fields.take("hostname", str)
    out.update(sysctls.from_docker(fields, "uts_sysctls", _sysctl_mine, "linux.sysctl"))
    return {**out, "hostname": hostname} if hostname else out or None

