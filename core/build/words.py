"""Dockerfile word processing: quotes, escapes and ``$VAR`` expansion, as the classic builder's shell lexer
does it for ``ENV``, ``ARG``, ``LABEL``, ``COPY``, ``WORKDIR``... (``RUN``, ``CMD`` and ``ENTRYPOINT`` are left
to the shell). Pure functions, no I/O.

``expand(word, env)`` gives one word: ``'...'`` is literal, ``"..."`` expands and keeps spaces, the escape
character (``\\`` or the ``# escape=`` directive's) quotes the next one, and ``$NAME``, ``${NAME}``,
``${NAME:-word}``, ``${NAME-word}``, ``${NAME:+word}``, ``${NAME+word}`` expand (an unset name: empty).
``split(text, env)`` gives the words of ``text``: split on unquoted blanks, and an unquoted expansion on
its own blanks too (as moby's ``ProcessWords``), for ``COPY``, ``EXPOSE``, ``VOLUME``.
"""
from __future__ import annotations

from ..errors import ConfigError

__all__ = ["expand", "split", "WordError"]


class WordError(ConfigError):
    """A word the lexer cannot read (an unterminated quote or ``${``)."""


def _name(text: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    return text[i:j], j


def _var(text: str, i: int, env: dict[str, str], escape: str) -> tuple[str, int]:
    """Expand the ``$...`` at ``text[i]`` (``text[i] == "$"``): (value, index after it)."""
    i += 1
    if i >= len(text):
        return "$", i
    if text[i] == "{":
        depth, j = 1, i + 1
        while j < len(text) and depth:
            if text[j] == escape:
                j += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth:
            raise WordError(f"missing '}}' in {text!r}")
        inner = text[i + 1:j - 1]
        name, k = _name(inner, 0)
        if not name:
            raise WordError(f"bad substitution in {text!r}")
        rest = inner[k:]
        value = env.get(name)
        if not rest:
            return value or "", j
        colon = rest.startswith(":")
        op, word = (rest[1:2], rest[2:]) if colon else (rest[:1], rest[1:])
        unset = value is None or (colon and value == "")
        if op == "-":
            return (expand(word, env, escape) if unset else value or ""), j
        if op == "+":
            return ("" if unset else expand(word, env, escape)), j
        raise WordError(f"unsupported modifier ({rest[:2]}) in substitution {text!r}")
    name, j = _name(text, i)
    if not name:
        return "$", i
    return env.get(name, ""), j


def _words(text: str, env: dict[str, str], escape: str, split_blanks: bool) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    started = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if split_blanks and ch in " \t\n":
            if started:
                out.append("".join(cur))
                cur, started = [], False
            i += 1
            continue
        started = True
        if ch == escape:
            if i + 1 < n:
                cur.append(text[i + 1])
            i += 2
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise WordError(f"unexpected end of statement while looking for matching single-quote in {text!r}")
            cur.append(text[i + 1:end])
            i = end + 1
        elif ch == '"':
            i += 1
            while True:
                if i >= n:
                    raise WordError(f"unexpected end of statement while looking for matching double-quote in "
                                    f"{text!r}")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == escape and i + 1 < n and text[i + 1] in ('"', "$", escape):
                    cur.append(text[i + 1])
                    i += 2
                elif c == "$":
                    value, i = _var(text, i, env, escape)
                    cur.append(value)
                else:
                    cur.append(c)
                    i += 1
        elif ch == "$":
            value, i = _var(text, i, env, escape)
            if not split_blanks:
                cur.append(value)
                continue
            for c in value:  # an unquoted expansion is split on its blanks (moby's addString)
                if c in " \t\n":
                    if started and cur:
                        out.append("".join(cur))
                    cur, started = [], False
                else:
                    cur.append(c)
                    started = True
        else:
            cur.append(ch)
            i += 1
    if started:
        out.append("".join(cur))
    return out


def expand(word: str, env: dict[str, str], escape: str = "\\") -> str:
    """One word, its quotes removed and its variables expanded."""
    return "".join(_words(word, env, escape, split_blanks=False))


def split(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Words of ``text`` split on unquoted blanks, each as ``expand`` gives it."""
    return _words(text, env, escape, split_blanks=True)
