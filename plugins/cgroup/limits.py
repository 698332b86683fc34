"""[parent] Docker's resource options -> checked limits -> the cgroup files that enforce them. Pure logic.

``parse(options, cpus=, mems=)`` takes the plugin's options as the CLI gives them (strings: ``16m``,
``0.5``) or as ``docker_create`` maps them (ints), checks them with Docker's rules and messages, and returns
the limits keyed by Docker's ``HostConfig`` names (``Memory``, ``NanoCpus``, ``PidsLimit`` ...; only those
set). ``writes(limits, version)`` turns them into ``(controller, file, value)`` writes, in an order the
kernel accepts (v1: ``memory.limit_in_bytes`` before ``memory.memsw.limit_in_bytes``; v2: ``memory.max``,
``memory.swap.max``, ``cpu.max`` ...). Every error is a ``ConfigError`` with one line.
"""
from __future__ import annotations


from nsrun import ConfigError

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DESTS", "parse", "parse_bytes", "parse_cpuset", "writes", "shares_to_weight", "MIN_MEMORY"]

MIN_MEMORY = 6 * 1024 * 1024                   # Docker: "Minimum memory limit allowed is 6MB"
DEFAULT_PERIOD = 100_000                       # µs, the kernel's and Docker's CFS period
# option dest -> Docker HostConfig field
DESTS = {"memory": "Memory", "memory_swap": "MemorySwap", "memory_reservation": "MemoryReservation",
         "oom_kill_disable": "OomKillDisable", "cpus": "NanoCpus", "cpu_shares": "CpuShares",
         "cpu_period": "CpuPeriod", "cpu_quota": "CpuQuota", "cpuset_cpus": "CpusetCpus",
         "cpuset_mems": "CpusetMems", "pids_limit": "PidsLimit", "blkio_weight": "BlkioWeight"}
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_BYTES = r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$"  # compiled when a size is given (``re`` is ~3 ms of a start)


def parse_bytes(value: Any, what: str = "memory") -> int:
    """``16m``, ``1g``, ``512k``, ``1048576`` (Docker's RAMInBytes: binary units, optional ``b``/``ib``);
    an int is bytes already; ``-1`` (swap only) means unlimited."""
    if isinstance(value, bool):
        raise ConfigError(f"invalid --{what.replace('_', '-')}: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text == "-1":
        return -1
    import re
    m = re.match(_BYTES, text, re.IGNORECASE)
    if not m:
        raise ConfigError(f"invalid argument {text!r} for --{what.replace('_', '-')}: invalid size: {text!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def _int(value: Any, flag: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"invalid argument {value!r} for {flag}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"invalid argument {value!r} for {flag}: strconv.ParseInt: parsing {str(value)!r}: "
                          f"invalid syntax") from None


def parse_cpuset(text: str, flag: str) -> set[int]:
    """``0-1,3`` -> {0, 1, 3}; Docker's message for a malformed list."""
    out: set[int] = set()
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ConfigError(f"Invalid value {text} for {flag}")
        a, b = int(lo), int(hi) if dash else int(lo)
        if b < a:
            raise ConfigError(f"Invalid value {text} for {flag}")
        out.update(range(a, b + 1))
    return out


def _fmt_set(cpus: set[int]) -> str:
    runs, items = [], sorted(cpus)
    for c in items:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(f"{a}-{b}" if b != a else str(a) for a, b in runs)


def parse(options: dict[str, Any], cpus: set[int] | None = None, mems: set[int] | None = None) -> dict[str, Any]:
    """The limits the options ask for, keyed by Docker's field names; only those set (0/None = unset, as
    Docker's zero values). ``cpus``/``mems``: what the host (the parent cgroup) offers, to check
    ``--cpus`` and ``--cpuset-*`` against."""
    got = {dest: options[dest] for dest in DESTS if options.get(dest) not in (None, "", False)}
    lim: dict[str, Any] = {}
    if "memory" in got:
        mem = parse_bytes(got["memory"], "memory")
        if mem < 0:
            raise ConfigError(f"invalid --memory: {got['memory']}")
        if mem:
            if mem < MIN_MEMORY:
                raise ConfigError("Minimum memory limit allowed is 6MB")
            lim["Memory"] = mem
    if "memory_reservation" in got:
        res = parse_bytes(got["memory_reservation"], "memory_reservation")
        if res < 0:
            raise ConfigError(f"invalid --memory-reservation: {got['memory_reservation']}")
        if res and res < MIN_MEMORY:
            raise ConfigError("Minimum memory reservation allowed is 6MB")
        if res and lim.get("Memory") and res > lim["Memory"]:
            raise ConfigError("Minimum memory limit can not be less than memory reservation limit, see usage")
        if res:
            lim["MemoryReservation"] = res
    if "memory_swap" in got:
        swap = parse_bytes(got["memory_swap"], "memory_swap")
        if swap and not lim.get("Memory"):
            raise ConfigError("You should always set the Memory limit when using Memoryswap limit, see usage")
        if swap > 0 and swap < lim["Memory"]:
            raise ConfigError("Minimum memoryswap limit should be larger than memory limit, see usage")
        if swap < -1:
            raise ConfigError(f"invalid --memory-swap: {got['memory_swap']}")
        if swap:
            lim["MemorySwap"] = swap
    if got.get("oom_kill_disable"):
        lim["OomKillDisable"] = True
    if "cpus" in got:
        try:
            value = float(got["cpus"])
        except (TypeError, ValueError):
            raise ConfigError(f"invalid argument {got['cpus']!r} for --cpus: failed to parse "
                              f"{got['cpus']!r} as a rational number") from None
        available = len(cpus) if cpus else 0
        nano = int(round(value * 1e9))
        if nano < 0 or (value and nano < 10_000_000) or (available and nano > available * 1_000_000_000):
            raise ConfigError(f"Range of CPUs is from 0.01 to {available:.2f}, as there are only {available} "
                              f"CPUs available")
        if nano:
            lim["NanoCpus"] = nano
    if "cpu_shares" in got:
        shares = _int(got["cpu_shares"], "--cpu-shares")
        if shares < 0:
            raise ConfigError(f"invalid --cpu-shares {shares}: must be 2 to 262144")
        if shares:
            lim["CpuShares"] = min(max(shares, 2), 262144)  # the kernel clamps the same way
    if "cpu_period" in got:
        period = _int(got["cpu_period"], "--cpu-period")
        if period and not 1000 <= period <= 1_000_000:
            raise ConfigError("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second "
                              "(i.e. 1000000)")
        if period:
            lim["CpuPeriod"] = period
    if "cpu_quota" in got:
        quota = _int(got["cpu_quota"], "--cpu-quota")
        if quota and quota != -1 and quota < 1000:
            raise ConfigError("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        if quota:
            lim["CpuQuota"] = quota
    if "NanoCpus" in lim and ("CpuPeriod" in lim or "CpuQuota" in lim):
        which = "CPU Period" if "CpuPeriod" in lim else "CPU Quota"
        raise ConfigError(f"Conflicting options: Nano CPUs and {which} cannot both be set")
    for dest, field, have, flag in (("cpuset_cpus", "CpusetCpus", cpus, "--cpuset-cpus"),
                                    ("cpuset_mems", "CpusetMems", mems, "--cpuset-mems")):
        if dest in got:
            wanted = parse_cpuset(got[dest], flag)
            if have is not None and not wanted <= have:
                kind = "CPUs" if field == "CpusetCpus" else "memory nodes"
                raise ConfigError(f"Requested {kind} are not available - requested {got[dest]}, available: "
                                  f"{_fmt_set(have)}")
            lim[field] = _fmt_set(wanted)
    if "pids_limit" in got:
        pids = _int(got["pids_limit"], "--pids-limit")
        if pids > 0:
            lim["PidsLimit"] = pids     # 0 and -1: unlimited (Docker)
    if "blkio_weight" in got:
        weight = _int(got["blkio_weight"], "--blkio-weight")
        if weight and not 10 <= weight <= 1000:
            raise ConfigError(f"Range of blkio weight is from 10 to 1000 (got {weight})")
        if weight:
            lim["BlkioWeight"] = weight
    return lim


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) -> cpu.weight (1..10000), the conversion runc and crun use."""
    return 1 + ((shares - 2) * 9999) // 262142


def writes(lim: dict[str, Any], version: int, blkio_file: str = "blkio.weight",
           memsw: bool = True) -> list[tuple[str, str, str]]:
    """``(controller, file, value)`` for each limit, in the order to write them into a fresh cgroup.
    ``blkio_file``: the weight file the kernel offers (``blkio.weight``/``blkio.bfq.weight``, v2
    ``io.weight``/``io.bfq.weight``); ``memsw``: v1 has swap accounting (``memory.memsw.*``)."""
    out: list[tuple[str, str, str]] = []
    mem, swap = lim.get("Memory"), lim.get("MemorySwap")
    if mem and not swap:
        swap = 2 * mem          # Docker: unset --memory-swap lets the container swap as much as --memory
    period = lim.get("CpuPeriod") or DEFAULT_PERIOD
    quota = lim.get("CpuQuota")
    if lim.get("NanoCpus"):
        quota = lim["NanoCpus"] * period // 1_000_000_000
    if version == 1:
        if mem:
            out.append(("memory", "memory.limit_in_bytes", str(mem)))
            if memsw:
                out.append(("memory", "memory.memsw.limit_in_bytes", str(swap)))
        if lim.get("MemoryReservation"):
            out.append(("memory", "memory.soft_limit_in_bytes", str(lim["MemoryReservation"])))
        if lim.get("OomKillDisable"):
            out.append(("memory", "memory.oom_control", "1"))
        if lim.get("CpuShares"):
            out.append(("cpu", "cpu.shares", str(lim["CpuShares"])))
        if lim.get("CpuPeriod") or quota:
            out.append(("cpu", "cpu.cfs_period_us", str(period)))
        if quota:
            out.append(("cpu", "cpu.cfs_quota_us", str(quota)))
        if lim.get("CpusetCpus"):
            out.append(("cpuset", "cpuset.cpus", lim["CpusetCpus"]))
        if lim.get("CpusetMems"):
            out.append(("cpuset", "cpuset.mems", lim["CpusetMems"]))
        if lim.get("PidsLimit"):
            out.append(("pids", "pids.max", str(lim["PidsLimit"])))
        if lim.get("BlkioWeight"):
            out.append(("blkio", blkio_file, str(lim["BlkioWeight"])))
        return out
    if mem:
        out.append(("memory", "memory.max", str(mem)))
        out.append(("memory", "memory.swap.max", "max" if swap == -1 else str(max(swap - mem, 0))))
    if lim.get("MemoryReservation"):
        out.append(("memory", "memory.low", str(lim["MemoryReservation"])))
    if lim.get("CpuShares"):
        out.append(("cpu", "cpu.weight", str(shares_to_weight(lim["CpuShares"]))))
    if lim.get("CpuPeriod") or quota:
        out.append(("cpu", "cpu.max", f"{quota if quota and quota > 0 else 'max'} {period}"))
    if lim.get("CpusetCpus"):
        out.append(("cpuset", "cpuset.cpus", lim["CpusetCpus"]))
    if lim.get("CpusetMems"):
        out.append(("cpuset", "cpuset.mems", lim["CpusetMems"]))
    if lim.get("PidsLimit"):
        out.append(("pids", "pids.max", str(lim["PidsLimit"])))
    if lim.get("BlkioWeight"):
        value = str(lim["BlkioWeight"])
        out.append(("io", blkio_file, f"default {value}" if blkio_file == "io.weight" else value))
    return out
