"""UTS namespace: the container's own hostname (``--hostname``, else the first 12 characters of its id)."""
import re

from nsrun import CLONE_NEWUTS, ConfigError, Option, RunContext, hookimpl

DEFAULT = True
ORDER = 20
OPTIONS = [Option(("-h", "--hostname"), "hostname", help="Container host name", metavar="NAME")]
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def valid_hostname(name: str) -> bool:
    """RFC 1123: dot-separated labels of letters, digits and inner hyphens; 63 per label, 253 in all."""
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


@hookimpl
def configure(ctx: RunContext) -> None:
    name = ctx.options.get("hostname") or ctx.spec.id[:12]
    if not valid_hostname(name):
        raise ConfigError(f"invalid hostname {name!r}: use letters, digits, '-' and '.' (RFC 1123)")
    ctx.hostname = name


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    return CLONE_NEWUTS


@hookimpl
def docker_create(fields):
    hostname = fields.take("Hostname", str)
    return {"hostname": hostname} if hostname else None


@hookimpl
def docker_view(options, info, view) -> None:
    view["Config"]["Hostname"] = info.get("Hostname") or options.get("hostname") or view["Config"]["Hostname"]


@hookimpl
def in_child(ctx: RunContext) -> None:
    from nsrun.syscalls import sethostname
    sethostname(ctx.hostname or ctx.spec.id[:12])


@hookimpl
def oci_config(fields):
    for ns in fields.take_items("linux.namespaces", "uts", by="type"):
        if ns.get("path"):
            raise ConfigError("config.json: joining an existing uts namespace (path) is not supported")
    hostname = fields.take("hostname", str)
    return {"hostname": hostname} if hostname else None
