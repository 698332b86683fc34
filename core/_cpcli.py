"""``nsrun cp`` and ``nsrun export``: Docker's commands of those names, on the embedded engine.

Inside the container the work is done by the ``nsrun._archive`` helper (it enters the container's root, so
no path of the container's can reach the host's); this side only moves tar streams. ``cp`` follows
``docker cp``: ``CONTAINER:SRC DEST`` copies SRC to DEST (into DEST when it is a directory, as DEST when it
does not exist; ``SRC/.`` copies a directory's content; DEST ``-`` writes the tar to stdout), ``SRC
CONTAINER:DEST`` the other way (SRC ``-`` reads a tar from stdin). Copied out, files belong to the caller
(as Docker's); copied in, they keep their numeric owners. Running and stopped containers alike.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from typing import Any

import click

from .errors import ConfigError, NotFoundError, NsrunError

__all__ = ["COMMANDS"]


def _local(state: Any, what: str) -> Any:
    if getattr(state.engine, "remote", False):
        raise ConfigError(f"{what}: not supported with -H (use docker {what} against the daemon)")
    return state.engine


def _helper_error(stderr: bytes) -> NsrunError:
    try:
        info = json.loads(stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"status": 500, "message": stderr.decode(errors="replace").strip() or "archive helper failed"}
    if info.get("status") == 404:
        return NotFoundError(str(info.get("message")))
    return NsrunError(str(info.get("message")))


def _helper(rec: Any, mode: str, path: str, stdin: Any = None, stdout: Any = None) -> bytes:
    from ._archive import argv
    proc = subprocess.run(argv(mode, rec, path), stdin=stdin if stdin is not None else subprocess.DEVNULL,
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise _helper_error(proc.stderr)
    return proc.stdout or b""


def _split(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` -> (container, path); a local path (absolute, ``./x``, ``-``) -> (None, path)."""
    if arg == "-" or arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


def _safe(m: tarfile.TarInfo) -> bool:
    """Whether a member of the helper's tar may be written on the host: no device node, no name (or hard
    link) out of the destination."""
    for name in (m.name, m.linkname if m.islnk() else ""):
        if name.startswith("/") or ".." in name.split("/"):
            return False
    return not m.isdev()


def _copy_out(engine: Any, container: str, src: str, dest: str) -> None:
    from ._archive import argv
    rec = engine.find(container)
    if dest == "-":
        sys.stdout.flush()
        _helper(rec, "get", src, stdout=sys.stdout.buffer)
        return
    content_only = src.rstrip("/").endswith("/.")
    if os.path.isdir(dest) and not content_only:
        into, rename = dest, None
    else:
        parent = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(parent):
            raise NotFoundError(f"no such directory: {parent}")
        if content_only:  # the directory's content, into dest (made when missing)
            into, rename = dest, None
        else:  # dest does not exist (or is a file): src is copied as dest
            into, rename = parent, os.path.basename(os.path.abspath(dest))
    proc = subprocess.Popen(argv("get", rec, src), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            top = None
            for m in tf:
                if top is None:
                    top = m.name.split("/")[0]
                    if rename and m.isdir() and os.path.lexists(dest) and not os.path.isdir(dest):
                        raise ConfigError(f"cannot copy a directory to the file {dest}")
                if not _safe(m):
                    continue
                if rename:
                    m.name = rename + m.name[len(top):]
                    if m.islnk() and m.linkname.split("/")[0] == top:
                        m.linkname = rename + m.linkname[len(top):]
                m.uid, m.gid, m.uname, m.gname = os.getuid(), os.getgid(), "", ""  # the caller's, as Docker's
                if content_only:
                    os.makedirs(into, exist_ok=True)
                tf.extract(m, into)
    except tarfile.ReadError:
        pass  # the helper failed before writing: its message follows
    finally:
        err = proc.stderr.read()
        proc.wait()
    if proc.returncode != 0:
        raise _helper_error(err)


def _copy_in(engine: Any, src: str, container: str, dest: str) -> None:
    from ._archive import argv
    rec = engine.find(container)
    if src == "-":
        _helper(rec, "put", dest, stdin=sys.stdin.buffer)
        return
    if not os.path.lexists(src):
        raise NotFoundError(f"no such file or directory: {src}")
    try:
        st = json.loads(_helper(rec, "stat", dest))
        into, arcname = dest, None  # dest exists: into it (a directory, or a symlink the helper follows inside)
        if not st["mode"] & ((1 << 31) | (1 << 27)):
            raise ConfigError(f"cannot copy to {container}:{dest}: it is a file, not a directory")
    except NotFoundError:  # src is copied as dest
        into, arcname = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest.rstrip("/"))
    proc = subprocess.Popen(argv("put", rec, into), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            if src.rstrip("/").endswith("/."):  # the directory's content
                base = src.rstrip("/")[:-2] or "/"
                for entry in sorted(os.listdir(base)):
                    tf.add(os.path.join(base, entry), arcname=entry if arcname is None else f"{arcname}/{entry}")
            else:
                tf.add(src, arcname=arcname or os.path.basename(os.path.abspath(src)))
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the helper refused: its message follows
    finally:
        err = proc.stderr.read()
        proc.wait()
    if proc.returncode != 0:
        raise _helper_error(err)


@click.command()
@click.argument("source")
@click.argument("destination")
@click.pass_obj
def cp(state: Any, source: str, destination: str) -> None:
    """Copy files between a container and the host: CONTAINER:SRC DEST or SRC CONTAINER:DEST."""
    engine = _local(state, "cp")
    (src_ctr, src), (dst_ctr, dst) = _split(source), _split(destination)
    if bool(src_ctr) == bool(dst_ctr):
        raise ConfigError("copying between containers or between two host paths is not supported: "
                          "one of SOURCE and DESTINATION must be CONTAINER:PATH")
    if src_ctr:
        _copy_out(engine, src_ctr, src, dst)
    else:
        _copy_in(engine, src, dst_ctr or "", dst)


@click.command()
@click.option("-o", "--output", metavar="FILE", help="Write to a file, instead of STDOUT")
@click.argument("container")
@click.pass_obj
def export(state: Any, output: str | None, container: str) -> None:
    """Export a container's file system as a tar archive (volumes are left out, as Docker's)."""
    engine = _local(state, "export")
    rec = engine.find(container)
    if output is None and sys.stdout.isatty():
        raise ConfigError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if output is None:
        sys.stdout.flush()
        _helper(rec, "export", "/", stdout=sys.stdout.buffer)
        return
    tmp = f"{output}.{os.getpid()}.part"
    try:
        with open(tmp, "wb") as f:
            _helper(rec, "export", "/", stdout=f)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


COMMANDS = (cp, export)
