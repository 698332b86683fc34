"""UTS namespace: the container's own hostname (``--hostname``, else the first 12 characters of its id).

``--domainname`` (``Config.Domainname``) sets the new namespace's NIS domain name; ``--uts host`` keeps the
host's namespace, ``container:NAME`` joins a running container's (``HostConfig.UTSMode``).
``--sysctl kernel.domainname=...`` and ``kernel.hostname=...`` (``HostConfig.Sysctls``) are this plugin's,
written inside the new namespace after the hostname.
"""
import os

from nsrun import CLONE_NEWUTS, ConfigError, Option, RunContext, hookimpl

from . import joined, sysctls

DEFAULT = True
ORDER = 20
SYSCTL_KEYS = ("kernel.domainname", "kernel.hostname")
OPTIONS = [Option(("-h", "--hostname"), "hostname", help="Container host name", metavar="NAME"),
           Option(("--sysctl",), "uts_sysctls", multiple=True, keys=SYSCTL_KEYS, metavar="KEY=VALUE",
                  help="Set a namespaced kernel parameter (uts: kernel.domainname, kernel.hostname)"),
           Option(("--uts",), "uts", help="UTS namespace: private (the default), host, container:NAME or ns:PATH (join that one)",
                  metavar="MODE"),
           Option(("--domainname",), "domainname", help="Container NIS domain name", metavar="NAME")]
JOIN_KEY = "uts.join"


def _sysctl_mine(key: str) -> bool:
    return key in SYSCTL_KEYS
_LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def _label(label: str) -> bool:
    return 0 < len(label) <= 63 and "-" not in (label[0], label[-1]) and _LABEL_CHARS.issuperset(label)


def valid_hostname(name: str) -> bool:
    """RFC 1123: dot-separated labels of letters, digits and inner hyphens; 63 per label, 253 in all (no
    regular expression: ``re`` is ~3 ms of a start that needs none)."""
    return 0 < len(name) <= 253 and all(_label(label) for label in name.split("."))


@hookimpl
def configure(ctx: RunContext) -> None:
    join = ctx.stash[JOIN_KEY] = joined.configured_path(ctx.options.get("uts"), "uts", ctx.paths)
    if join == joined.HOST:  # Docker's refusals: the host's names are not the container's to set
        if ctx.options.get("hostname"):
            raise ConfigError("conflicting options: hostname and the UTS mode")
        if ctx.options.get("domainname"):
            raise ConfigError("conflicting options: domainname and the UTS mode")
        if ctx.options.get("uts_sysctls"):
            raise ConfigError("--sysctl: kernel.domainname and kernel.hostname are not allowed in the host UTS "
                              "namespace")
        ctx.hostname = os.uname().nodename
        return
    name = ctx.options.get("hostname") or ctx.spec.id[:12]
    if not valid_hostname(name):
        raise ConfigError(f"invalid hostname {name!r}: use letters, digits, '-' and '.' (RFC 1123)")
    domain = ctx.options.get("domainname")
    if domain and (len(domain) > 64 or not valid_hostname(domain)):
        raise ConfigError(f"invalid domainname {domain!r}: use letters, digits, '-' and '.', at most 64")
    ctx.hostname = name
    sysctls.parse(ctx.options.get("uts_sysctls"))


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    return 0 if ctx.stash.get(JOIN_KEY) else CLONE_NEWUTS


@hookimpl
def docker_create(fields):
    hostname = fields.take("Hostname", str)
    out = sysctls.from_docker(fields, "uts_sysctls", _sysctl_mine)
    if domain := fields.take("Domainname", str):
        out["domainname"] = domain
    mode = fields.take("HostConfig.UTSMode", str)
    if mode and mode not in joined.PRIVATE:
        if mode != joined.HOST and not mode.startswith("container:"):
            raise ConfigError(f"HostConfig.UTSMode {mode!r}: nsrun supports host and container:NAME")
        out["uts"] = mode
    if not hostname:
        return out or None
    return {"hostname": hostname, **out}


@hookimpl
def docker_view(options, info, view) -> None:
    view["Config"]["Hostname"] = info.get("Hostname") or options.get("hostname") or view["Config"]["Hostname"]
    sysctls.into_view(options.get("uts_sysctls"), view)
    view["Config"]["Domainname"] = options.get("domainname") or ""
    view["HostConfig"]["UTSMode"] = options.get("uts") or ""


@hookimpl
def in_child(ctx: RunContext) -> None:
    from nsrun import syscalls
    path = ctx.stash.get(JOIN_KEY)
    if path == joined.HOST:  # the host's namespace: nothing of it is the container's to change
        return
    if path:  # a joined namespace keeps its name unless one is given (as runc)
        joined.join(path, CLONE_NEWUTS)
        if ctx.options.get("hostname"):
            syscalls.sethostname(ctx.options["hostname"])
    else:
        syscalls.sethostname(ctx.hostname or ctx.spec.id[:12])
    if ctx.options.get("domainname"):  # before the sysctls: kernel.domainname given there wins
        syscalls.write_sysctl("kernel.domainname", ctx.options["domainname"])
    sysctls.apply(ctx.options.get("uts_sysctls"))


@hookimpl
def oci_config(fields):
    out = joined.oci_path(fields, "uts") or {}
    hostname = fields.take("hostname", str)
    out.update(sysctls.from_docker(fields, "uts_sysctls", _sysctl_mine, "linux.sysctl"))
    return {**out, "hostname": hostname} if hostname else out or None

