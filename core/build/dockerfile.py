"""Reading a Dockerfile into stages of instructions.

The parsing itself is moby/buildkit's own Dockerfile parser, through the ``dockerfile`` package (a small,
maintained binding of the Go parser; wheels for CPython on Linux): line continuations, comments, parser
directives (``# escape=``, ``# syntax=``), JSON (exec) and shell forms, ``ONBUILD`` sub-instructions and
heredocs come out exactly as docker's own builders read them. A pure-Python parser (``dockerfile-parse``)
was the other candidate; it is lenient where docker is not (unknown instructions, unterminated JSON pass) and
has its own idea of quoting, so Dockerfiles could build here that fail with docker, or differently.

What this module adds is the classic builder's checks, each a ``DockerfileError`` (a ConfigError) saying
``Dockerfile parse error line N: ...``: unknown instructions, missing arguments, flags an instruction does not
take, instructions before the first ``FROM`` other than ``ARG``, stage names, ``--target`` of no stage.
"""
from __future__ import annotations

import re
from typing import Any

from .._fields import Fields
from ..errors import ConfigError

__all__ = ["DockerfileError", "Instruction", "Stage", "Dockerfile", "parse", "INSTRUCTIONS"]

# instruction -> (minimum arguments, flags it takes)
INSTRUCTIONS: dict[str, tuple[int, tuple[str, ...]]] = {
    "FROM": (1, ("platform",)), "RUN": (1, ("network", "mount", "security")),
    "CMD": (1, ()), "ENTRYPOINT": (1, ()), "ENV": (1, ()), "ARG": (1, ()), "LABEL": (1, ()),
    "COPY": (2, ("chown", "chmod", "from", "link")), "ADD": (2, ("chown", "chmod", "link", "checksum")),
    "WORKDIR": (1, ()), "USER": (1, ()), "EXPOSE": (1, ()), "VOLUME": (1, ()), "STOPSIGNAL": (1, ()),
    "HEALTHCHECK": (1, ("interval", "timeout", "start-period", "start-interval", "retries")),
    "SHELL": (1, ()), "ONBUILD": (1, ()), "MAINTAINER": (1, ()),
}
_ARG_WORDS = {1: "one argument", 2: "two arguments"}
_STAGE_NAME = re.compile(r"[a-z][a-z0-9_.-]*")


class DockerfileError(ConfigError):
    """A Dockerfile that cannot be built as written."""


class Instruction(Fields):
    """One instruction: ``cmd`` upper-case, ``sub`` the instruction of an ``ONBUILD``, ``json`` (exec form),
    ``flags`` ({name: value}, ``--from=x`` -> ``{"from": "x"}``), ``value`` (the parser's words), ``line``,
    ``original`` (the text as written, continuations joined), ``heredocs``."""

    __slots__ = ("cmd", "sub", "json", "flags", "value", "line", "original", "heredocs")
    _defaults = {"sub": None, "json": False, "flags": dict, "value": tuple, "line": 0, "original": "",
                 "heredocs": tuple}


class Stage(Fields):
    """``FROM base [AS name]`` and the instructions up to the next ``FROM``; ``index`` counts from 0."""

    __slots__ = ("index", "name", "base", "platform", "line", "instructions")
    _defaults = {"name": None, "platform": None, "instructions": list}


class Dockerfile(Fields):
    """``args``: the ``ARG`` instructions before the first ``FROM``; ``stages``; ``escape``: the escape
    character (``\\``, or what ``# escape=`` says)."""

    __slots__ = ("args", "stages", "escape")
    _defaults = {"args": list, "stages": list, "escape": "\\"}

    def stage_index(self, name_or_index: str) -> int | None:
        """The stage named ``name_or_index`` (case-insensitive) or with that number; None when none."""
        for stage in self.stages:
            if stage.name == name_or_index.lower():
                return stage.index
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return int(name_or_index)
        return None

    def steps(self, last: int) -> int:
        """How many instructions (``FROM`` included) stages 0..``last`` have: the N of ``Step i/N``."""
        return sum(1 + len(s.instructions) for s in self.stages[:last + 1])


def _escape(text: str) -> str:
    for line in text.splitlines():
        m = re.fullmatch(r"\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise DockerfileError(f"invalid ESCAPE '{m.group(2)}'. Must be ` or \\")
            return m.group(2)
    return "\\"


def _error_line(text: str, message: str, escape: str) -> int:
    """The line of a Go parser error (it does not say): the first line whose prefix fails the same way."""
    import dockerfile as gofile
    lines = text.splitlines(keepends=True)
    for k in range(1, len(lines) + 1):
        if lines[k - 1].rstrip().endswith(escape):
            continue
        try:
            gofile.parse_string("".join(lines[:k]))
        except gofile.GoParseError as exc:
            if str(exc) == message:
                return k
    return len(lines)


def _flags(name: str, flags: tuple[str, ...], line: int) -> dict[str, str]:
    out: dict[str, str] = {}
    allowed = INSTRUCTIONS[name][1]
    for flag in flags:
        flag_name, eq, value = flag[2:].partition("=")
        if not flag.startswith("--") or flag_name not in allowed:
            raise DockerfileError(f"Dockerfile parse error line {line}: unknown flag: {flag.partition('=')[0]}")
        if flag_name in ("mount", "security", "link", "checksum"):
            raise DockerfileError(f"Dockerfile parse error line {line}: {name} --{flag_name} needs BuildKit, "
                                  f"which nsrun's builder is not")
        out[flag_name] = value if eq else "true"
    return out


def _instruction(cmd: Any, onbuild: bool = False) -> Instruction:
    line = cmd.start_line
    name = cmd.cmd.upper()
    if name not in INSTRUCTIONS:
        raise DockerfileError(f"Dockerfile parse error line {line}: unknown instruction: {cmd.cmd}")
    sub = cmd.sub_cmd.upper() if cmd.sub_cmd else None
    if name == "ONBUILD":
        if not sub:
            raise DockerfileError(f"Dockerfile parse error line {line}: ONBUILD requires at least one argument")
        if sub in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(f"Dockerfile parse error line {line}: {sub} isn't allowed as an ONBUILD trigger")
        if sub not in INSTRUCTIONS:
            raise DockerfileError(f"Dockerfile parse error line {line}: unknown instruction: {cmd.sub_cmd}")
    need = INSTRUCTIONS[sub or name][0]
    value = tuple(v for v in cmd.value if v != "") if not cmd.json else tuple(cmd.value)
    if len(value) < need and not cmd.heredocs:
        what = sub or name
        raise DockerfileError(f"Dockerfile parse error line {line}: {what} requires at least "
                              f"{_ARG_WORDS.get(need, f'{need} arguments')}")
    flags = _flags(sub or name, tuple(cmd.flags), line)
    return Instruction(cmd=name, sub=sub, json=cmd.json, flags=flags, value=value, line=line,
                       original=cmd.original, heredocs=tuple(cmd.heredocs))


def parse(text: str) -> Dockerfile:
    """The stages of the Dockerfile ``text``; DockerfileError (with the line) for what docker refuses."""
    import dockerfile as gofile
    escape = _escape(text)
    try:
        commands = gofile.parse_string(text)
    except gofile.GoParseError as exc:
        if str(exc) == "file with no instructions":
            raise DockerfileError("the Dockerfile has no instructions") from None
        raise DockerfileError(f"Dockerfile parse error line {_error_line(text, str(exc), escape)}: {exc}") from None
    out = Dockerfile(escape=escape)
    for cmd in commands:
        ins = _instruction(cmd)
        if ins.cmd == "FROM":
            words = list(ins.value)
            name = None
            if len(words) == 3 and words[1].lower() == "as":
                name = words[2].lower()
                if not _STAGE_NAME.fullmatch(name):
                    raise DockerfileError(f"Dockerfile parse error line {ins.line}: invalid name for build stage: "
                                          f"{words[2]!r}, name can't start with a number or contain symbols")
                if any(s.name == name for s in out.stages):
                    raise DockerfileError(f"Dockerfile parse error line {ins.line}: duplicate name {name!r}")
            elif len(words) != 1:
                raise DockerfileError(f"Dockerfile parse error line {ins.line}: FROM requires either one or three "
                                      f"arguments")
            out.stages.append(Stage(index=len(out.stages), name=name, base=words[0],
                                    platform=ins.flags.get("platform"), line=ins.line))
        elif not out.stages:
            if ins.cmd != "ARG":
                raise DockerfileError(f"Dockerfile parse error line {ins.line}: no build stage in current context "
                                      f"({ins.cmd} before the first FROM)")
            out.args.append(ins)
        else:
            out.stages[-1].instructions.append(ins)
    if not out.stages:
        raise DockerfileError("the Dockerfile (or its stdin) has no FROM: no build stage")
    return out
