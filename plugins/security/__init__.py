"""Docker's security defaults: its default capability set (every other capability leaves the bounding set;
the inheritable and ambient sets are emptied),
``no_new_privs``, and its masked and read-only /proc and /sys paths (applied by mnt once /proc exists).

Selected by default; leave it out of ``--plugins`` to run a container with the full capability set.
"""
from nsrun import RunContext, hookimpl, syscalls

DEFAULT = True
ORDER = 90

# CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD
# AUDIT_WRITE SETFCAP -- moby's oci/caps/defaults.go
DEFAULT_CAPS = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31})
CAP_NAMES = {0: "CHOWN", 1: "DAC_OVERRIDE", 3: "FOWNER", 4: "FSETID", 5: "KILL", 6: "SETGID", 7: "SETUID",
             8: "SETPCAP", 10: "NET_BIND_SERVICE", 13: "NET_RAW", 18: "SYS_CHROOT", 27: "MKNOD", 29: "AUDIT_WRITE",
             31: "SETFCAP"}
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def _publish_caps(ctx: RunContext) -> None:
    ctx.capabilities = frozenset(f"CAP_{CAP_NAMES[c]}" for c in DEFAULT_CAPS)


@hookimpl
def configure(ctx: RunContext) -> None:
    _publish_caps(ctx)


@hookimpl
def pre_join(ctx: RunContext) -> None:
    _publish_caps(ctx)


@hookimpl
def pre_clone(ctx: RunContext) -> None:
    ctx.masked_paths.extend(MASKED_PATHS)
    ctx.readonly_paths.extend(READONLY_PATHS)


@hookimpl
def before_exec(ctx: RunContext) -> None:
    syscalls.drop_bounding_caps(set(DEFAULT_CAPS))
    syscalls.set_no_new_privs()
    syscalls.set_caps(set(DEFAULT_CAPS))  # inheritable: none
    syscalls.clear_ambient_caps()
