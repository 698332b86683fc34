"""runc's command line as Go's flag package spells it: ``-flag`` is ``--flag`` (``normalise``), for the long
options of every command; shared by the full parser (``cli``, argparse) and the light one (``entry``)."""
from __future__ import annotations

__all__ = ["UPDATE_FLAGS", "LONG", "normalise"]

# ``update``'s flags (runc's) -> their place in a LinuxResources object
UPDATE_FLAGS = (("--memory", "memory.limit"), ("--memory-reservation", "memory.reservation"),
                ("--memory-swap", "memory.swap"), ("--cpu-shares", "cpu.shares"), ("--cpu-quota", "cpu.quota"),
                ("--cpu-period", "cpu.period"), ("--cpuset-cpus", "cpu.cpus"), ("--cpuset-mems", "cpu.mems"),
                ("--pids-limit", "pids.limit"), ("--blkio-weight", "blockIO.weight"))

# the long options of every command, by their single-dash spelling
LONG = {"-root", "-log", "-log-format", "-debug", "-systemd-cgroup", "-rootless", "-version", "-bundle",
        "-pid-file", "-console-socket", "-no-pivot", "-no-new-keyring", "-preserve-fds", "-detach", "-all",
        "-force", "-quiet", "-format", "-cgroup-manager", "-process", "-tty", "-cwd",
        "-env", "-user", "-additional-gids", "-no-new-privs", "-resources",
        *(flag[1:] for flag, _ in UPDATE_FLAGS)}


def normalise(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        name = arg.partition("=")[0]
        out.append("-" + arg if name in LONG else arg)
    return out
