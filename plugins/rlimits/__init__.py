"""Process limits of the container's command: ``--ulimit NAME=SOFT[:HARD]`` (``HostConfig.Ulimits``) and
``--oom-score-adj N`` (``HostConfig.OomScoreAdj``), as Docker spells them.

Limits are set on the command itself (``before_exec``, for the run and every ``nsrun exec``), so they hold for
it and what it forks. Without CAP_SYS_RESOURCE (this project's machines lack it) no process can raise a hard
limit above its own, nor lower its oom_score_adj below what it was given: both are checked in ``configure``
against nsrun's own limits and refused in one line before anything exists. ``-1`` (or ``unlimited``) means
no limit. A soft limit alone sets both, as Docker does. ``nproc`` counts the processes of the command's real
uid on the whole host (root is exempt), as everywhere.

The oom_score_adj is written by the parent to the container's first process (``post_start``), before the
command starts; its children inherit it (``nsrun exec`` processes keep nsrun's own, as Docker's keep dockerd's).
"""
from __future__ import annotations


from nsrun import ConfigError, Option, RunContext, StashKey, hookimpl

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

DEFAULT = True
ORDER = 85
OPTIONS = [
    Option(("--ulimit",), "ulimits", multiple=True, metavar="NAME=SOFT[:HARD]",
           help="Set a resource limit (nofile, nproc, core, memlock, stack, ...; -1: unlimited)"),
    Option(("--oom-score-adj",), "oom_score_adj", metavar="N", help="Tune the OOM killer's preference (-1000..1000)"),
]
# Docker's names -> RLIMIT_* numbers (asm-generic/resource.h)
RLIMITS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
           "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14,
           "rttime": 15}
INFINITY = (1 << 64) - 1  # RLIM_INFINITY
LIMITS = StashKey[tuple]()  # ((resource, soft, hard), ...) checked in configure / pre_join
_CAP_SYS_RESOURCE = 24


def _value(text: str, item: str) -> int:
    if text in ("-1", "unlimited"):
        return INFINITY
    if not text.isdigit():
        raise ConfigError(f"invalid --ulimit {item!r}: limits are numbers (or -1 for unlimited)")
    return int(text)


def parse_ulimit(item: str) -> tuple[str, int, int]:
    """``name=soft[:hard]`` -> (name, soft, hard); pure."""
    name, sep, value = item.partition("=")
    if not sep or not value:
        raise ConfigError(f"invalid --ulimit {item!r}: expected NAME=SOFT[:HARD]")
    if name not in RLIMITS:
        raise ConfigError(f"invalid --ulimit {item!r}: unknown limit {name!r} (one of {', '.join(RLIMITS)})")
    soft_text, _, hard_text = value.partition(":")
    soft = _value(soft_text, item)
    hard = _value(hard_text, item) if hard_text else soft
    if soft > hard:
        raise ConfigError(f"invalid --ulimit {item!r}: the soft limit is above the hard limit")
    return name, soft, hard


def _show(value: int) -> str:
    return "unlimited" if value == INFINITY else str(value)


def _has_cap(cap: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def check_ulimits(items: list[str] | tuple[str, ...], current: Any, privileged: bool | None = None
                  ) -> tuple[tuple[int, int, int], ...]:
    """Parsed limits, each checked against ``current(resource) -> (soft, hard)`` (nsrun's own): a hard limit
    above nsrun's needs CAP_SYS_RESOURCE (``privileged``; read from /proc/self/status when None)."""
    by_name: dict[str, tuple[int, int]] = {}
    for item in items:
        name, soft, hard = parse_ulimit(item)
        by_name[name] = (soft, hard)  # the last one of a name counts
    out = []
    for name, (soft, hard) in by_name.items():
        res = RLIMITS[name]
        own_hard = current(res)[1]
        own_hard = INFINITY if own_hard < 0 else own_hard
        if hard > own_hard:
            if privileged is None:
                privileged = _has_cap(_CAP_SYS_RESOURCE)
            if not privileged:
                raise ConfigError(f"--ulimit {name}={_show(soft)}:{_show(hard)}: the hard limit is above nsrun's own "
                                  f"({_show(own_hard)}); raising it needs CAP_SYS_RESOURCE, which nsrun does not hold")
        out.append((res, soft, hard))
    return tuple(out)


def check_oom_score_adj(text: Any, own: int, privileged: bool | None = None) -> int:
    try:
        value = int(str(text))
    except ValueError:
        raise ConfigError(f"invalid --oom-score-adj {text!r}: expected an integer") from None
    if not -1000 <= value <= 1000:
        raise ConfigError(f"invalid --oom-score-adj {value}: the range is -1000 to 1000")
    if value < own:
        if privileged is None:
            privileged = _has_cap(_CAP_SYS_RESOURCE)
        if not privileged:
            raise ConfigError(f"--oom-score-adj {value}: below nsrun's own ({own}); lowering it needs "
                              f"CAP_SYS_RESOURCE, which nsrun does not hold")
    return value


def _own_oom_score_adj() -> int:
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read())


def _prepare(ctx: RunContext) -> None:
    ctx.stash.pop(LIMITS, None)
    if items := ctx.options.get("ulimits"):
        import resource  # the child's before_exec uses it after pivot_root: imported here, in the parent
        ctx.stash[LIMITS] = check_ulimits(items, resource.getrlimit)


@hookimpl
def configure(ctx: RunContext) -> None:
    _prepare(ctx)
    if (text := ctx.options.get("oom_score_adj")) is not None:
        check_oom_score_adj(text, _own_oom_score_adj())


@hookimpl
def pre_join(ctx: RunContext) -> None:
    _prepare(ctx)


@hookimpl
def post_start(ctx: RunContext, pid: int) -> None:
    if (text := ctx.options.get("oom_score_adj")) is None:
        return
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(int(str(text))))
    except PermissionError:
        raise ConfigError(f"--oom-score-adj {text}: refused by the kernel (lowering it needs CAP_SYS_RESOURCE)"
                          ) from None


@hookimpl
def before_exec(ctx: RunContext) -> None:
    limits = ctx.stash.get(LIMITS)
    if limits:
        import resource  # already imported by the parent-side hook: a lookup in sys.modules
        for res, soft, hard in limits:
            resource.setrlimit(res, (resource.RLIM_INFINITY if soft == INFINITY else soft,
                                     resource.RLIM_INFINITY if hard == INFINITY else hard))


@hookimpl
def docker_create(fields: Any) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    items = []
    for entry in fields.take("HostConfig.Ulimits", list) or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str):
            raise ConfigError("HostConfig.Ulimits: each entry needs Name, Soft and Hard")
        soft, hard = entry.get("Soft", 0), entry.get("Hard", entry.get("Soft", 0))
        if not isinstance(soft, int) or not isinstance(hard, int):
            raise ConfigError(f"HostConfig.Ulimits {entry['Name']}: Soft and Hard are integers")
        items.append(f"{entry['Name']}={soft}:{hard}")
    if items:
        out["ulimits"] = items
    if (adj := fields.take("HostConfig.OomScoreAdj", int)) is not None:
        out["oom_score_adj"] = str(adj)
    return out or None


@hookimpl
def docker_view(options: dict[str, Any], view: dict[str, Any]) -> None:
    ulimits = []
    for item in options.get("ulimits") or ():
        name, soft, hard = parse_ulimit(item)
        ulimits.append({"Name": name, "Soft": -1 if soft == INFINITY else soft, "Hard": -1 if hard == INFINITY else hard})
    view["HostConfig"]["Ulimits"] = ulimits or None
    view["HostConfig"]["OomScoreAdj"] = int(options.get("oom_score_adj") or 0)


@hookimpl
def oci_config(fields: Any) -> dict[str, Any] | None:
    """``process.rlimits`` (``RLIMIT_NOFILE`` ... within nsrun's own hard limits, checked in configure) and
    ``process.oomScoreAdj``."""
    out: dict[str, Any] = {}
    items = []
    for entry in fields.take("process.rlimits", list) or ():
        kind = entry.get("type") if isinstance(entry, dict) else None
        name = kind[7:].lower() if isinstance(kind, str) and kind.startswith("RLIMIT_") else None
        if name not in RLIMITS:
            raise ConfigError(f"config.json: process.rlimits: unknown type {kind!r}")
        soft, hard = entry.get("soft", 0), entry.get("hard", 0)
        if not isinstance(soft, int) or not isinstance(hard, int):
            raise ConfigError(f"config.json: process.rlimits {kind}: soft and hard are integers")
        items.append(f"{name}={-1 if soft >= INFINITY else soft}:{-1 if hard >= INFINITY else hard}")
    if items:
        out["ulimits"] = items
    if (adj := fields.take("process.oomScoreAdj", int)) is not None:
        out["oom_score_adj"] = str(adj)
    return out or None
