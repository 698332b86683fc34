"""Where ``COPY``/``ADD`` read from: the build context (a directory, minus what ``.dockerignore`` excludes) or
an image's layers (``COPY --from=STAGE``), as one small interface (``Tree``): ``kind(rel)``, ``listdir(rel)``,
``host(rel)`` (the host path of what the tree shows at ``rel``).

``.dockerignore`` is Docker's: one pattern a line, ``#`` comments, ``!`` re-includes, ``*``/``?``/``[...]``
within one path element, ``**`` any number of them; a path is excluded when it or a parent directory
matches, the last matching pattern deciding. Sources are resolved inside the context: ``..`` or a symlink
leading out of it is refused (``forbidden path outside the build context``), never followed.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from typing import Any, Iterator

from ..errors import ConfigError

__all__ = ["extract_tar", "context_tar", "ContextTree", "LayersTree", "Tree", "resolve_sources", "ignore_patterns", "Excluder", "walk",
           "tree_digest"]

_GLOB = re.compile(r"[*?\[]")


def ignore_patterns(text: str) -> list[tuple[bool, str]]:
    """(exclude?, cleaned pattern) of each line of a ``.dockerignore``."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line[1:].strip() if keep else line
        pattern = os.path.normpath(pattern).lstrip("/")
        if pattern in (".", ""):
            continue
        out.append((not keep, pattern))
    return out


def _regex(pattern: str) -> re.Pattern[str]:
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                i += 2
                if pattern[i:i + 1] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ConfigError(f".dockerignore: syntax error in pattern {pattern!r}")
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else re.escape(body).replace("\\-", "-")) + "]")
            i = end
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 1
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


class Excluder:
    """``excluded(rel)`` by the patterns of a ``.dockerignore``."""

    def __init__(self, patterns: list[tuple[bool, str]]) -> None:
        self.rules = [(exclude, _regex(p)) for exclude, p in patterns]

    def may_hold_exceptions(self, rel: str) -> bool:
        """Whether a ``!`` pattern may re-include something under the directory ``rel`` (then an excluded
        directory is still walked, as docker does)."""
        return any(not exclude and (rx.pattern.startswith(re.escape(rel + "/")) or "*" in rx.pattern)
                   for exclude, rx in self.rules)

    def excluded(self, rel: str) -> bool:
        if not self.rules:
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        result = False
        for exclude, rx in self.rules:
            if any(rx.fullmatch(p) for p in prefixes):
                result = exclude
        return result


class Tree:
    """A read-only file tree: ``kind(rel)`` (``"dir"``, ``"file"``, ``"link"``, ``"other"``, or None when
    absent), ``listdir(rel)`` (sorted names), ``host(rel)`` (a host path to lstat and read)."""

    def kind(self, rel: str) -> str | None:
        path = self.host(rel)
        if path is None:
            return None
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return None
        return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else \
            "link" if stat.S_ISLNK(mode) else "other"

    def host(self, rel: str) -> str | None:
        raise NotImplementedError

    def listdir(self, rel: str) -> list[str]:
        raise NotImplementedError


class ContextTree(Tree):
    """The build context directory ``root`` with its ``.dockerignore``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        try:
            with open(os.path.join(self.root, ".dockerignore")) as f:
                patterns = ignore_patterns(f.read())
        except FileNotFoundError:
            patterns = []
        self.excluder = Excluder(patterns)

    def host(self, rel: str) -> str | None:
        path = os.path.join(self.root, rel) if rel else self.root
        if not os.path.lexists(path):
            return None
        if rel and self.excluder.excluded(rel) and not (os.path.isdir(path) and not os.path.islink(path)
                                                        and self.excluder.may_hold_exceptions(rel)):
            return None
        return path

    def listdir(self, rel: str) -> list[str]:
        path = os.path.join(self.root, rel) if rel else self.root
        return sorted(n for n in os.listdir(path) if self.host(f"{rel}/{n}" if rel else n))


class LayersTree(Tree):
    """What an overlay of ``lowers`` (top-most first) shows, read from the layer directories (no mount)."""

    def __init__(self, lowers: list[str]) -> None:
        self.lowers = lowers

    def host(self, rel: str) -> str | None:
        from ..image.store import visible_root
        if not rel:
            return self.lowers[0] if self.lowers else None
        layer = visible_root(self.lowers, rel)
        return os.path.join(layer, rel) if layer else None

    def listdir(self, rel: str) -> list[str]:
        from ..image.store import _opaque, visible_root
        top = visible_root(self.lowers, rel) if rel else (self.lowers[0] if self.lowers else None)
        if top is None:
            return []
        names: set[str] = set()
        hidden: set[str] = set()
        for layer in self.lowers[self.lowers.index(top):]:
            path = os.path.join(layer, rel)
            if not os.path.isdir(path) or os.path.islink(path):
                break
            for name in os.listdir(path):
                st = os.lstat(os.path.join(path, name))
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    hidden.add(name)
                elif name not in hidden:
                    names.add(name)
            if _opaque(path):
                break
        return sorted(names - hidden)


def _clean(source: str, what: str) -> str:
    """A source path relative to its tree's root; ``..`` out of it refused."""
    norm = os.path.normpath("/" + source.lstrip("/")) if source.startswith("/") else os.path.normpath(source)
    rel = norm.lstrip("/")
    if rel == "." or rel == "":
        return ""
    if rel == ".." or rel.startswith("../"):
        raise ConfigError(f"{what} failed: forbidden path outside the build context: {source}")
    return rel


def resolve_sources(tree: Tree, sources: list[str], what: str) -> list[str]:
    """The relative paths ``sources`` name in ``tree`` (globs expanded, sorted); a source that matches
    nothing, or leaves the context through a symlink, is a ConfigError."""
    out: list[str] = []
    for source in sources:
        rel = _clean(source, what)
        if isinstance(tree, ContextTree) and rel:
            real = os.path.realpath(os.path.join(tree.root, rel))
            if not _GLOB.search(rel) and real != tree.root and not real.startswith(tree.root + "/"):
                raise ConfigError(f"{what} failed: forbidden path outside the build context: {source}")
        matches = _glob(tree, rel) if _GLOB.search(rel) else ([rel] if tree.kind(rel) else [])
        if not matches:
            raise ConfigError(f"{what} failed: file not found in build context or excluded by .dockerignore: "
                              f"stat {source}: file does not exist")
        out += matches
    return out


def _glob(tree: Tree, pattern: str) -> list[str]:
    import fnmatch
    found = [""]
    for part in pattern.split("/"):
        nxt = []
        for base in found:
            if _GLOB.search(part):
                if tree.kind(base) != "dir":
                    continue
                nxt += [f"{base}/{n}" if base else n for n in tree.listdir(base) if fnmatch.fnmatchcase(n, part)]
            else:
                candidate = f"{base}/{part}" if base else part
                if tree.kind(candidate):
                    nxt.append(candidate)
        found = nxt
    return sorted(found)


def walk(tree: Tree, rel: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path below ``rel``, host path, lstat) of ``rel``'s content, parents first; ``rel`` itself
    first with relative path ``""``."""
    path = tree.host(rel)
    if path is None:
        return
    st = os.lstat(path)
    yield "", path, st
    if stat.S_ISDIR(st.st_mode):
        for name in tree.listdir(rel):
            child = f"{rel}/{name}" if rel else name
            for sub, host, cst in walk(tree, child):
                yield (f"{name}/{sub}" if sub else name), host, cst


def tree_digest(tree: Tree, rels: list[str]) -> str:
    """A digest of what ``rels`` hold (names, types, modes, link targets, file contents): the cache key part
    of a ``COPY``/``ADD``."""
    h = hashlib.sha256()
    for rel in rels:
        for sub, host, st in walk(tree, rel):
            h.update(f"{rel}\0{sub}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(host).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(host, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            h.update(b"\n")
    return "sha256:" + h.hexdigest()


def extract_tar(fileobj: Any, dest: str, what: str) -> None:
    """Unpack a tar stream (plain, gzip, bzip2, xz) under the existing directory ``dest``: owners, modes and
    mtimes kept; absolute names are made relative; a member or link leaving ``dest`` (``..``, a symlink
    target outside, a path through a symlink) is a ConfigError; device nodes are skipped."""
    import tarfile
    try:
        tf = tarfile.open(fileobj=fileobj, mode="r:*")
    except tarfile.TarError:
        raise ConfigError(f"{what} is not a tar archive (plain, gzip, bzip2 or xz)") from None
    with tf:
        for member in tf:
            name = os.path.normpath(member.name.lstrip("/"))
            if name == ".":
                continue
            if name == ".." or name.startswith("../"):
                raise ConfigError(f"{what}: member {member.name!r} leaves the destination")
            if member.issym() or member.islnk():
                target = member.linkname
                joined = os.path.normpath(target.lstrip("/") if target.startswith("/") or member.islnk()
                                          else os.path.join(os.path.dirname(name), target))
                if joined == ".." or joined.startswith("../"):
                    raise ConfigError(f"{what}: link {member.name!r} -> {target!r} leaves the destination")
                if member.islnk():
                    member.linkname = joined
            if member.isdev():
                continue
            parent = os.path.dirname(os.path.join(dest, name))
            if os.path.realpath(parent) != os.path.realpath(dest) and \
                    not os.path.realpath(parent).startswith(os.path.realpath(dest) + "/"):
                raise ConfigError(f"{what}: member {member.name!r} goes through a symlink")
            out = os.path.join(dest, name)
            if os.path.islink(out) or (os.path.lexists(out) and not (member.isdir() and os.path.isdir(out))):
                if os.path.isdir(out) and not os.path.islink(out):
                    import shutil
                    shutil.rmtree(out)
                else:
                    os.unlink(out)  # never written through: a symlink the archive made earlier may point out
            member.name = name
            tf.extract(member, dest, set_attrs=True, numeric_owner=True)


def context_tar(context: str, dockerfile: str, out: Any) -> str:
    """Write the build context ``context`` as a tar to ``out`` as the docker CLI sends it: without what
    ``.dockerignore`` excludes (the ``Dockerfile`` and ``.dockerignore`` always in), plus the Dockerfile text
    ``dockerfile`` under a name of its own when it is not the context's ``Dockerfile``; that name."""
    import io
    import tarfile
    if not os.path.isdir(context):
        raise ConfigError(f"unable to prepare context: path {context!r} not found")
    tree = ContextTree(context)
    name = "Dockerfile"
    try:
        with open(os.path.join(tree.root, "Dockerfile")) as f:
            same = f.read() == dockerfile
    except OSError:
        same = False
    if not same:
        name = f".dockerfile.{os.urandom(10).hex()}"
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        keep = {"Dockerfile", ".dockerignore"}
        for rel, host, _ in walk(tree, ""):
            if rel:
                tf.add(host, arcname=rel, recursive=False)
        for extra in sorted(keep):
            path = os.path.join(tree.root, extra)
            if tree.host(extra) is None and os.path.isfile(path):
                tf.add(path, arcname=extra, recursive=False)
        if not same:
            data = dockerfile.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return name
