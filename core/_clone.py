"""The ``CLONE_NEW*`` namespace flags (``<linux/sched.h>``), apart from ``syscalls`` (which re-exports them):
a plugin module names its flag at import, and importing it must not load ctypes (~2.5 ms) for a constant —
``nsrun-oci delete`` imports the container's plugins to collect it and makes no system call ctypes wraps.
"""
from __future__ import annotations

__all__ = ["CLONE_NEWTIME", "CLONE_NEWNS", "CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWUSER",
           "CLONE_NEWPID", "CLONE_NEWNET"]

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
