"""Docker's seccomp profile format: parsed, checked and evaluated for one host. Pure: no libseccomp, no I/O.

A profile (moby's ``profiles/seccomp/default.json`` format, also what podman and the docker CLI send)::

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
     "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
     "syscalls": [{"names": ["read", ...], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}],
                   "includes": {"caps": [...], "arches": [...], "minKernel": "4.8"},
                   "excludes": {...}, "errnoRet": 38, "comment": "..."}]}

Semantics, as moby and runc apply them: a rule counts only if every ``includes`` condition holds (all its
caps are the container's, the host's arch is listed, the kernel is at least ``minKernel``) and no
``excludes`` condition holds (any of its caps, the arch listed, the kernel at least ``minKernel``). Conditions
on the same argument index in one rule are alternatives (one rule each); on different indexes they all apply.
``evaluate`` turns a checked profile into a ``Plan``: the arches of the filter and the rules that count.

Everything a profile says is checked (``check``) and anything unknown is refused by name with ``ProfileError``:
this module never guesses what a misspelt field meant.
"""
from __future__ import annotations

from typing import Any

from nsrun import ConfigError, Fields

__all__ = ["ProfileError", "Plan", "Rule", "check", "evaluate", "native_arch", "kernel_version",
           "ACTIONS", "OPS", "ARCHES", "FLAGS"]

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
           "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
       "SCMP_CMP_MASKED_EQ")
# libseccomp's architecture names (SCMP_ARCH_*) and the Go names ``includes.arches`` uses for them
ARCHES = {"SCMP_ARCH_X86": "386", "SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X32": "x32", "SCMP_ARCH_ARM": "arm",
          "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_MIPS": "mips", "SCMP_ARCH_MIPS64": "mips64",
          "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL": "mipsle", "SCMP_ARCH_MIPSEL64": "mips64le",
          "SCMP_ARCH_MIPSEL64N32": "mips64len32", "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64",
          "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x",
          "SCMP_ARCH_PARISC": "parisc", "SCMP_ARCH_PARISC64": "parisc64", "SCMP_ARCH_RISCV64": "riscv64",
          "SCMP_ARCH_LOONGARCH64": "loong64"}
_MACHINES = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X",
             "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64", "loongarch64": "SCMP_ARCH_LOONGARCH64",
             "i686": "SCMP_ARCH_X86", "armv7l": "SCMP_ARCH_ARM", "mips64": "SCMP_ARCH_MIPS64"}
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
_TOP = {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags", "listenerPath",
        "listenerMetadata"}
_RULE = {"names", "name", "action", "args", "comment", "includes", "excludes", "errnoRet"}
_COND = {"caps", "arches", "minKernel"}
_ARG = {"index", "value", "valueTwo", "op"}
_U64 = (1 << 64) - 1
EPERM = 1


class ProfileError(ConfigError):
    """The profile is not one nsrun can apply; the message says where and why in one line."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"seccomp profile: {detail}")
        self.detail = detail


class Rule(Fields):
    """One libseccomp rule: ``action`` (``SCMP_ACT_*``), its ``errno`` (ERRNO/TRACE), a syscall ``name`` and
    ``args``: ``(index, op, value, value_two)`` conditions that must all hold."""

    __slots__ = ("action", "errno", "name", "args")
    _defaults = {"errno": None, "args": ()}


class Plan(Fields):
    """What to compile: the default action (and errno), the arches (native first), the rules, load flags."""

    __slots__ = ("default_action", "default_errno", "arches", "rules", "flags")


def native_arch(machine: str) -> str:
    """``os.uname().machine`` -> libseccomp's name for it."""
    try:
        return _MACHINES[machine]
    except KeyError:
        raise ProfileError(f"unsupported architecture {machine!r}") from None


def kernel_version(release: str) -> tuple[int, ...]:
    """``"6.18.0-1-amd64"`` -> ``(6, 18, 0)``; ``"4.8"`` -> ``(4, 8)``."""
    parts = []
    for piece in release.split("-")[0].split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise ProfileError(f"invalid kernel version {release!r}")
    return tuple(parts)


def _type(value: Any, types: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise ProfileError(f"{where}: expected {what}, got {type(value).__name__} {value!r}"[:200])
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    _type(value, list, where, "a list of strings")
    for v in value:
        _type(v, str, where, "a list of strings")
    return value


def _u64(value: Any, where: str) -> int:
    _type(value, int, where, "an unsigned 64-bit integer")
    if not 0 <= value <= _U64:
        raise ProfileError(f"{where}: {value} is not an unsigned 64-bit integer")
    return value


def _errno(value: Any, where: str) -> int:
    _type(value, int, where, "an errno number")
    if not 0 <= value < 4096:
        raise ProfileError(f"{where}: {value} is not an errno number")
    return value


def _action(value: Any, where: str) -> str:
    _type(value, str, where, "an action")
    if value == "SCMP_ACT_NOTIFY":
        raise ProfileError(f"{where}: SCMP_ACT_NOTIFY (a user-space listener) is not supported")
    if value not in ACTIONS:
        raise ProfileError(f"{where}: unknown action {value!r}")
    return value


def _arch(value: Any, where: str) -> str:
    _type(value, str, where, "an architecture")
    if value not in ARCHES:
        raise ProfileError(f"{where}: unknown architecture {value!r}")
    return value


def _keys(obj: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ProfileError(f"{where}: unknown field {unknown[0]!r}")


def _condition(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    _type(value, dict, where, "an object")
    _keys(value, _COND, where)
    caps = _strings(value.get("caps"), f"{where}.caps")
    for cap in caps:
        if not (cap.startswith("CAP_") and cap[4:].replace("_", "").isalnum() and cap.isupper()):
            raise ProfileError(f"{where}.caps: {cap!r} is not a capability name")
    arches = _strings(value.get("arches"), f"{where}.arches")
    go_names = set(ARCHES.values()) | {"x86"}
    for arch in arches:
        if arch not in go_names:
            raise ProfileError(f"{where}.arches: unknown architecture {arch!r}")
    out: dict[str, Any] = {"caps": caps, "arches": arches}
    if value.get("minKernel"):
        text = _type(value["minKernel"], str, f"{where}.minKernel", "a kernel version such as \"4.8\"")
        if not all(p.isdigit() for p in text.split(".")) or text.count(".") > 2:
            raise ProfileError(f"{where}.minKernel: {text!r} is not a kernel version such as \"4.8\"")
        out["minKernel"] = tuple(int(p) for p in text.split("."))
    return out


def check(doc: Any) -> dict[str, Any]:
    """Check a parsed profile (``json.loads`` output) field by field; return it normalised:
    ``{"default", "default_errno", "arches", "arch_map", "flags", "rules"}``. Raises ProfileError."""
    _type(doc, dict, "the profile", "a JSON object")
    _keys(doc, _TOP, "the profile")
    if "defaultAction" not in doc:
        raise ProfileError("defaultAction is missing")
    if doc.get("listenerPath") or doc.get("listenerMetadata"):
        raise ProfileError("listenerPath (a user-space notify listener) is not supported")
    default = _action(doc["defaultAction"], "defaultAction")
    default_errno = _errno(doc["defaultErrnoRet"], "defaultErrnoRet") if doc.get("defaultErrnoRet") is not None \
        else None
    arches = [_arch(a, "architectures") for a in _strings(doc.get("architectures"), "architectures")]
    arch_map = []
    _type(doc.get("archMap") or [], list, "archMap", "a list")
    for i, entry in enumerate(doc.get("archMap") or []):
        where = f"archMap[{i}]"
        _type(entry, dict, where, "an object")
        _keys(entry, {"architecture", "subArchitectures"}, where)
        main = _arch(entry.get("architecture"), f"{where}.architecture")
        subs = [_arch(a, f"{where}.subArchitectures") for a in _strings(entry.get("subArchitectures"),
                                                                          f"{where}.subArchitectures")]
        arch_map.append((main, subs))
    flags = 0
    for flag in _strings(doc.get("flags"), "flags"):
        if flag not in FLAGS:
            raise ProfileError(f"flags: unknown flag {flag!r}")
        flags |= FLAGS[flag]
    rules = []
    _type(doc.get("syscalls") or [], list, "syscalls", "a list")
    for i, raw in enumerate(doc.get("syscalls") or []):
        where = f"syscalls[{i}]"
        _type(raw, dict, where, "an object")
        _keys(raw, _RULE, where)
        names = _strings(raw.get("names"), f"{where}.names")
        if raw.get("name") is not None:
            names = names + [_type(raw["name"], str, f"{where}.name", "a syscall name")]
        if not names:
            raise ProfileError(f"{where}: no syscall names")
        for name in names:
            if not name or not all(c.isalnum() or c == "_" for c in name):
                raise ProfileError(f"{where}.names: {name!r} is not a syscall name")
        if "action" not in raw:
            raise ProfileError(f"{where}: action is missing")
        action = _action(raw["action"], f"{where}.action")
        errno = _errno(raw["errnoRet"], f"{where}.errnoRet") if raw.get("errnoRet") is not None else None
        args = []
        _type(raw.get("args") or [], list, f"{where}.args", "a list")
        for j, arg in enumerate(raw.get("args") or []):
            aw = f"{where}.args[{j}]"
            _type(arg, dict, aw, "an object")
            _keys(arg, _ARG, aw)
            index = _type(arg.get("index"), int, f"{aw}.index", "an argument index 0-5")
            if not 0 <= index <= 5:
                raise ProfileError(f"{aw}.index: {index} is not an argument index 0-5")
            op = _type(arg.get("op"), str, f"{aw}.op", "an operator")
            if op not in OPS:
                raise ProfileError(f"{aw}.op: unknown operator {op!r}")
            args.append((index, op, _u64(arg.get("value", 0), f"{aw}.value"),
                         _u64(arg.get("valueTwo", 0), f"{aw}.valueTwo")))
        rules.append({"names": names, "action": action, "errno": errno, "args": args,
                      "includes": _condition(raw.get("includes"), f"{where}.includes"),
                      "excludes": _condition(raw.get("excludes"), f"{where}.excludes")})
    return {"default": default, "default_errno": default_errno, "arches": arches, "arch_map": arch_map,
            "flags": flags, "rules": rules}


def _arch_matches(go_names: list[str], arch: str) -> bool:
    go = ARCHES[arch]
    return go in go_names or (go == "386" and "x86" in go_names)


def _applies(rule: dict[str, Any], arch: str, caps: frozenset[str], kernel: tuple[int, ...]) -> bool:
    inc, exc = rule["includes"], rule["excludes"]
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("arches") and not _arch_matches(inc["arches"], arch):
        return False
    if inc.get("minKernel") and kernel < inc["minKernel"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if exc.get("arches") and _arch_matches(exc["arches"], arch):
        return False
    if exc.get("minKernel") and kernel >= exc["minKernel"]:
        return False
    return True


def _errno_for(action: str, errno: int | None, fallback: int) -> int | None:
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        return fallback if errno is None else errno
    return None


def evaluate(profile: dict[str, Any], arch: str, caps: frozenset[str], kernel: tuple[int, ...]) -> Plan:
    """The rules of a checked profile that count on this host (``arch``: libseccomp's name of the native
    architecture), for a container with capability set ``caps`` (``CAP_*`` names) on ``kernel``."""
    arches = [arch]
    for main, subs in profile["arch_map"]:
        if main == arch:
            arches += [a for a in subs if a not in arches]
    if not profile["arch_map"]:
        arches += [a for a in profile["arches"] if a not in arches]
    default_errno = _errno_for(profile["default"], profile["default_errno"], EPERM)
    rules = []
    for raw in profile["rules"]:
        if not _applies(raw, arch, caps, kernel):
            continue
        errno = _errno_for(raw["action"], raw["errno"], EPERM)
        if (raw["action"], errno) == (profile["default"], default_errno):
            continue  # what the filter does anyway (libseccomp refuses such a rule)
        by_index: dict[int, list[tuple[int, str, int, int]]] = {}
        for cond in raw["args"]:
            by_index.setdefault(cond[0], []).append(cond)
        if any(len(conds) > 1 for conds in by_index.values()):
            groups = [(cond,) for cond in raw["args"]]  # same index twice: alternatives, as runc does
        else:
            groups = [tuple(raw["args"])]
        for name in raw["names"]:
            for group in groups:
                rules.append(Rule(action=raw["action"], errno=errno, name=name, args=group))
    return Plan(default_action=profile["default"], default_errno=default_errno, arches=arches, rules=rules,
                flags=profile["flags"])
