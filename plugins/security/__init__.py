"""Docker's security defaults and the options that loosen them: its default capability set (every other
capability leaves the bounding set; the inheritable and ambient sets are emptied), ``no_new_privs``, and its
masked and read-only /proc and /sys paths (applied by mnt once /proc exists).

Options (CLI and Docker API ``HostConfig``): ``--cap-add``/``--cap-drop`` (``CapAdd``/``CapDrop``: names with or
without ``CAP_``, any case, or ``ALL``; applied to Docker's default set with Docker's rules: an add of ALL keeps
every capability but the dropped ones, a drop of ALL keeps only the added ones, else drops first, then adds),
``--privileged`` (``Privileged``: every capability nsrun itself holds, no masked or read-only paths, and
``ctx.privileged`` set, so that the other plugins drop their confinement too: seccomp loads no filter, mnt binds
every host device and leaves /sys writable), ``--security-opt no-new-privileges[=true|false]`` (``SecurityOpt``;
the ``seccomp=`` items belong to the seccomp plugin).

``no_new_privs`` is **on by default**, unlike Docker (whose default is off): a setuid binary in an image
cannot gain privileges. ``no-new-privileges=false`` turns it off. The bounding set is cut in ``before_exec``;
the command's effective and permitted sets only in ``wrap_exec``, after the core's user switch and after
seccomp's filter (loaded while CAP_SYS_ADMIN is still held, which it needs without no_new_privs, as in runc).

Selected by default; leave it out of ``--plugins`` to run a container with the full capability set.
"""
from __future__ import annotations


from nsrun import ConfigError, Option, RunContext, hookimpl, syscalls

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

DEFAULT = True
ORDER = 90
OPTIONS = [
    Option(("--cap-add",), "cap_add", multiple=True, metavar="CAP", help="Add a Linux capability (or ALL)"),
    Option(("--cap-drop",), "cap_drop", multiple=True, metavar="CAP", help="Drop a Linux capability (or ALL)"),
    Option(("--privileged",), "privileged", is_flag=True,
           help="Every capability and host device, no seccomp filter, no masked paths, /sys writable"),
    Option(("--security-opt",), "no_new_privileges", multiple=True, keys=("no-new-privileges",),
           metavar="no-new-privileges[=true|false]", help="no-new-privileges[=true|false] (default true)"),
    Option(("--mask-path",), "masked_paths", multiple=True, metavar="PATH",
           help="Also mask PATH (besides Docker's default masked paths)"),
    Option(("--readonly-path",), "readonly_paths", multiple=True, metavar="PATH",
           help="Also make PATH read-only (besides Docker's default read-only paths)"),
]

# Every capability by number (linux/capability.h), as Docker names them without CAP_.
CAP_NAMES = {
    0: "CHOWN", 1: "DAC_OVERRIDE", 2: "DAC_READ_SEARCH", 3: "FOWNER", 4: "FSETID", 5: "KILL", 6: "SETGID",
    7: "SETUID", 8: "SETPCAP", 9: "LINUX_IMMUTABLE", 10: "NET_BIND_SERVICE", 11: "NET_BROADCAST", 12: "NET_ADMIN",
    13: "NET_RAW", 14: "IPC_LOCK", 15: "IPC_OWNER", 16: "SYS_MODULE", 17: "SYS_RAWIO", 18: "SYS_CHROOT",
    19: "SYS_PTRACE", 20: "SYS_PACCT", 21: "SYS_ADMIN", 22: "SYS_BOOT", 23: "SYS_NICE", 24: "SYS_RESOURCE",
    25: "SYS_TIME", 26: "SYS_TTY_CONFIG", 27: "MKNOD", 28: "LEASE", 29: "AUDIT_WRITE", 30: "AUDIT_CONTROL",
    31: "SETFCAP", 32: "MAC_OVERRIDE", 33: "MAC_ADMIN", 34: "SYSLOG", 35: "WAKE_ALARM", 36: "BLOCK_SUSPEND",
    37: "AUDIT_READ", 38: "PERFMON", 39: "BPF", 40: "CHECKPOINT_RESTORE"}
CAP_NUMBERS = {name: number for number, name in CAP_NAMES.items()}
ALL = frozenset(number for number in CAP_NAMES if number <= syscalls.CAP_LAST_CAP)
# CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD
# AUDIT_WRITE SETFCAP -- moby's oci/caps/defaults.go
DEFAULT_CAPS = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31})
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def cap_number(text: str, flag: str) -> int | None:
    """A capability name (``net_admin``, ``CAP_NET_ADMIN``) -> its number; ``ALL`` -> None."""
    name = text.strip().upper()
    if name == "ALL":
        return None
    number = CAP_NUMBERS.get(name[4:] if name.startswith("CAP_") else name)
    if number is None or number not in ALL:
        raise ConfigError(f"invalid {flag} {text!r}: unknown capability (a name such as NET_ADMIN, or ALL)")
    return number


def capability_set(add: list[str] | tuple[str, ...], drop: list[str] | tuple[str, ...],
                   privileged: bool = False) -> frozenset[int]:
    """The capabilities the command holds, by Docker's rules (moby's ``TweakCapabilities``)."""
    adds = [cap_number(t, "--cap-add") for t in add]
    drops = [cap_number(t, "--cap-drop") for t in drop]
    if privileged:
        return ALL
    if None in adds:
        return ALL - {d for d in drops if d is not None}
    if None in drops:
        return frozenset(adds)  # type: ignore[arg-type]
    return (DEFAULT_CAPS - set(drops)) | set(adds)  # type: ignore[operator]


def no_new_privs(values: list[str] | tuple[str, ...]) -> bool:
    """``no-new-privileges``, ``no-new-privileges=true|false`` (or Docker's old ``:`` spelling); the last
    one counts; none: True (nsrun's default)."""
    chosen = True
    for item in values:
        key, sep, value = item.replace(":", "=", 1).partition("=")
        if key != "no-new-privileges":
            raise ConfigError(f"invalid --security-opt {item!r}")
        if not sep:
            chosen = True
        elif value.lower() in ("true", "false"):
            chosen = value.lower() == "true"
        else:
            raise ConfigError(f"invalid --security-opt {item!r}: no-new-privileges takes true or false")
    return chosen


def _caps(ctx: RunContext) -> frozenset[int]:
    o = ctx.options
    return capability_set(o.get("cap_add") or (), o.get("cap_drop") or (), bool(o.get("privileged")))


def _publish(ctx: RunContext) -> None:
    ctx.privileged = bool(ctx.options.get("privileged"))
    ctx.capabilities = frozenset(f"CAP_{CAP_NAMES[c]}" for c in _caps(ctx))
    no_new_privs(ctx.options.get("no_new_privileges") or ())


@hookimpl
def configure(ctx: RunContext) -> None:
    _publish(ctx)


@hookimpl
def pre_join(ctx: RunContext) -> None:
    _publish(ctx)


@hookimpl
def pre_clone(ctx: RunContext) -> None:
    if not ctx.privileged:
        ctx.masked_paths.extend(MASKED_PATHS)
        ctx.readonly_paths.extend(READONLY_PATHS)
    for dest, paths in (("masked_paths", ctx.masked_paths), ("readonly_paths", ctx.readonly_paths)):
        paths.extend(p for p in ctx.options.get(dest) or () if p not in paths)


@hookimpl
def oci_config(fields: Any) -> dict[str, Any] | None:
    """``process.capabilities`` (one set: bounding = effective = permitted; inheritable and ambient empty, or
    for a root process within bounding — runc's default spec repeats the set there; absent: Docker's default
    set), ``process.noNewPrivileges`` (absent or false: nsrun's default, on),
    ``linux.maskedPaths``/``linux.readonlyPaths`` (on top of Docker's defaults, which always hold)."""
    out: dict[str, Any] = {}
    caps = fields.take("process.capabilities", dict)
    if caps is not None:
        sets = {name: caps.get(name) or [] for name in ("bounding", "effective", "permitted", "inheritable", "ambient")}
        if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in sets.values()):
            raise ConfigError("config.json: process.capabilities: each set is a list of names")
        if unknown := set(caps) - set(sets):
            raise ConfigError(f"config.json: process.capabilities.{sorted(unknown)[0]} is not a capability set")
        bounding = {c.upper() for c in sets["bounding"]}
        root = not (fields.data.get("process") or {}).get("user", {}).get("uid")
        extra = {c.upper() for c in sets["inheritable"] + sets["ambient"]}
        if extra and not (root and extra <= bounding):  # root's command holds the bounding set anyway
            raise ConfigError("config.json: process.capabilities: inheritable and ambient capabilities are not "
                              "supported (nsrun empties both; for a root process they may only repeat bounding)")
        if {c.upper() for c in sets["effective"]} != bounding or {c.upper() for c in sets["permitted"]} != bounding:
            raise ConfigError("config.json: process.capabilities: nsrun gives the command one set: effective and "
                              "permitted must equal bounding")
        for cap in sorted(bounding):
            cap_number(cap, "process.capabilities")
        out["cap_drop"] = ["ALL"]
        if bounding:
            out["cap_add"] = sorted(bounding)
    fields.take("process.noNewPrivileges", bool)  # true is nsrun's default; false cannot turn it off here
    for path, dest in (("linux.maskedPaths", "masked_paths"), ("linux.readonlyPaths", "readonly_paths")):
        if values := fields.take_strings(path):
            out[dest] = values
    return out or None


@hookimpl
def docker_create(fields: Any) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for name, dest in (("CapAdd", "cap_add"), ("CapDrop", "cap_drop")):
        if values := fields.take_strings(f"HostConfig.{name}"):
            out[dest] = values
    if fields.take("HostConfig.Privileged", bool):
        out["privileged"] = True
    if items := fields.take_items("HostConfig.SecurityOpt", "no-new-privileges"):
        out["no_new_privileges"] = items
    return out or None


@hookimpl
def docker_view(options: dict[str, Any], view: dict[str, Any]) -> None:
    host = view["HostConfig"]
    host["CapAdd"] = list(options.get("cap_add") or ()) or None
    host["CapDrop"] = list(options.get("cap_drop") or ()) or None
    host["Privileged"] = bool(options.get("privileged"))
    if nnp := list(options.get("no_new_privileges") or ()):
        host["SecurityOpt"] = [*(host.get("SecurityOpt") or ()), *nnp]


def _permitted() -> set[int]:
    """The capabilities this process may keep (its permitted set): ``ALL`` can only be what nsrun holds."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapPrm:"):
                mask = int(line.split()[1], 16)
                return {c for c in range(mask.bit_length()) if mask >> c & 1}
    return set(DEFAULT_CAPS)


@hookimpl
def before_exec(ctx: RunContext) -> None:
    """The bounding set, the ambient set and no_new_privs now; the command's own sets in ``wrap_exec``, after
    the core's user switch (setgroups and setresuid need CAP_SETGID/CAP_SETUID, which ``--cap-drop`` may take,
    and a seccomp filter loaded without no_new_privs needs CAP_SYS_ADMIN: both come between, as in runc)."""
    syscalls.drop_bounding_caps(set(_caps(ctx)))
    syscalls.clear_ambient_caps()
    if no_new_privs(ctx.options.get("no_new_privileges") or ()):
        syscalls.set_no_new_privs()


@hookimpl(tryfirst=True)  # before any wrap_exec forks (pid's --init): every process of the container is held
def wrap_exec(ctx: RunContext) -> None:
    if ctx.spec.user[0] != 0:
        return  # setresuid to a non-root uid already emptied the permitted and effective sets
    keep = set(_caps(ctx))
    if not keep <= DEFAULT_CAPS:
        keep &= _permitted()
    syscalls.set_caps(keep)  # inheritable: none
