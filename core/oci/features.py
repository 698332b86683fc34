"""``nsrun-oci features``: what this runtime supports, in the runtime-spec's features format (runc 1.1's
``features`` subcommand), so an engine can ask before it sends a config."""
from __future__ import annotations

from typing import Any

__all__ = ["features"]


def features() -> dict[str, Any]:
    from .runtime import OCI_VERSION
    return {
        "ociVersionMin": "1.0.0", "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "noexec", "nodev", "rprivate", "private"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": _capabilities(),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                                                    "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                                      "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                        "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]},
            "apparmor": {"enabled": False}, "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "nsrun-oci"},
    }


# linux/capability.h, numbers 0..40: the kernel's names (whether a config may use one is the sec plugin's call)
_CAPS = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
         "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT "
         "SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE "
         "AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ "
         "PERFMON BPF CHECKPOINT_RESTORE").split()


def _capabilities() -> list[str]:
    from ..syscalls import CAP_LAST_CAP
    return [f"CAP_{name}" for number, name in enumerate(_CAPS) if number <= CAP_LAST_CAP]
