"""A ``Plan`` -> the BPF program the kernel loads, through libseccomp (Debian's ``python3-seccomp``).

Imported only when the cache has no program for a profile (see ``cache``): ``import seccomp`` and building
the filter cost milliseconds that a start with a cached program never pays.

Syscall names are checked against libseccomp's table: a name it does not know is refused (a typo in a
profile must not silently leave a syscall unfiltered), except the few syscalls newer than this libseccomp
that Docker's current profile allows (``NEWER``): an ALLOW rule for one of them is left out, so the call
gets the default action, the safe side; any other action on them is refused, since it cannot be enforced.

The x32 ABI: Docker's profile lists ``SCMP_ARCH_X32``, which makes libseccomp emit a third copy of the rules
(~370 of ~1250 instructions; loading the program costs the child time in ``seccomp()``). Where the kernel
has no x32 ABI (``CONFIG_X86_X32_ABI`` off, as on Debian's and this machine's kernels) every x32 syscall
fails with ENOSYS whatever a filter says, so that copy is left out and x32 numbers get ENOSYS from the
filter itself (libseccomp's bad-arch action), which is what the kernel would answer.
"""
from __future__ import annotations

import errno
import os
from typing import Any

from .profile import Plan, ProfileError

__all__ = ["compile_bpf", "library_version", "library_file", "NEWER"]

# Linux syscalls Docker's profile allows that libseccomp 2.5.4 (Debian 12) cannot name.
NEWER = frozenset({"futex_wait", "futex_wake", "futex_requeue", "statmount", "listmount", "lsm_get_self_attr",
                   "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat",
                   "removexattrat", "uretprobe", "riscv_hwprobe", "open_tree_attr", "file_getattr",
                   "file_setattr"})


def _seccomp() -> Any:
    try:
        import seccomp
    except ImportError as exc:
        raise ProfileError(f"libseccomp's Python binding is missing (Debian: python3-seccomp): {exc}") from None
    return seccomp


X32_SYSCALL_BIT = 0x40000000
_X32_GETPID = X32_SYSCALL_BIT | 39


def kernel_has_x32() -> bool:
    """Does this kernel run x32 syscalls? Asked by making one (x32 getpid): ENOSYS means no x32 ABI."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(ctypes.c_long(_X32_GETPID)) == os.getpid()


def library_version() -> str:
    """libseccomp's version, e.g. ``"2.5.4"``, as the library inside the binding reports it."""
    import ctypes
    lib = ctypes.CDLL(library_file())

    class _Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def library_file() -> str:
    """The file that holds the libseccomp this process compiles with: Debian's binding links it in
    statically, so that is the binding's own shared object (its real path, beside its package's files)."""
    return os.path.realpath(_seccomp().__file__)


def _action(seccomp: Any, action: str, errno: int | None) -> Any:
    if action == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if action == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno)
    if action == "SCMP_ACT_TRACE":
        return seccomp.TRACE(errno)
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return seccomp.KILL
    if action == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    if action == "SCMP_ACT_TRAP":
        return seccomp.TRAP
    if action == "SCMP_ACT_LOG":
        return seccomp.LOG
    raise ProfileError(f"unknown action {action!r}")


def compile_bpf(plan: Plan, out_fd: int) -> None:
    """Build the filter ``plan`` describes and write its BPF program to ``out_fd``. Raises ProfileError
    (unknown syscall name, a rule libseccomp refuses)."""
    seccomp = _seccomp()
    ops = {"SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT, "SCMP_CMP_LE": seccomp.LE,
           "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_GE": seccomp.GE, "SCMP_CMP_GT": seccomp.GT,
           "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
    native = getattr(seccomp.Arch, plan.arches[0][len("SCMP_ARCH_"):])
    filt = seccomp.SyscallFilter(_action(seccomp, plan.default_action, plan.default_errno))
    if seccomp.system_arch() % (1 << 32) != int(native) % (1 << 32):
        raise ProfileError(f"libseccomp's native architecture is not {plan.arches[0]}")
    extra = list(plan.arches[1:])
    if "SCMP_ARCH_X32" in extra and not kernel_has_x32():
        extra.remove("SCMP_ARCH_X32")
        filt.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.ERRNO(errno.ENOSYS))
    for arch in extra:
        try:
            filt.add_arch(getattr(seccomp.Arch, arch[len("SCMP_ARCH_"):]))
        except (AttributeError, RuntimeError, OSError) as exc:
            raise ProfileError(f"libseccomp cannot filter for {arch}: {exc}") from None
    filt.set_attr(seccomp.Attr.CTL_NNP, 0)  # no_new_privs is the sec plugin's business, not the filter's
    # A binary tree over the syscall numbers: ~9 comparisons per syscall instead of a walk down ~350.
    filt.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
    for rule in plan.rules:
        if seccomp.resolve_syscall(native, rule.name) == -1:
            if rule.name in NEWER and rule.action == "SCMP_ACT_ALLOW":
                continue
            if rule.name in NEWER:
                raise ProfileError(f"libseccomp {library_version()} cannot filter syscall {rule.name!r}")
            raise ProfileError(f"unknown syscall {rule.name!r}")
        args = [seccomp.Arg(index, ops[op], value, value_two) for index, op, value, value_two in rule.args]
        try:
            filt.add_rule(_action(seccomp, rule.action, rule.errno), rule.name, *args)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ProfileError(f"libseccomp refused the rule for {rule.name!r}: {exc}") from None
    with os.fdopen(os.dup(out_fd), "wb") as out:
        filt.export_bpf(out)
