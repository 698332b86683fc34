"""The last step into a container: a static x86-64 program (92 bytes of code, 213 with its ELF headers), run from a sealed memfd, that execs the
command, so that no process inside a container ever has the host's interpreter as ``/proc/<pid>/exe``.

Why (runc's CVE-2019-5736): the process that becomes a container's command (PID 1 of ``run``, or the
joined process of ``exec``) is the host's Python until its ``execve``. Two ways lead from inside the
container to that binary:

1. While it is still Python, another process of the container opens ``/proc/<pid>/exe``, and after the
   exec reopens ``/proc/self/fd/N`` for writing. ``_spawn`` makes every such process non-dumpable
   (``PR_SET_DUMPABLE 0``) from before it enters any namespace until ``execve``: ``/proc/<pid>/exe`` then
   needs CAP_SYS_PTRACE in the initial user namespace, which no container has.
2. The command itself is ``/proc/self/exe`` (or a script with ``#!/proc/self/exe``, or a symlink to it):
   the kernel resolves it in the exec'ing process, i.e. to the host's Python, and runs it inside the
   container — now dumpable, and loading the image's ``ld.so`` and ``libc``. Non-dumpable does not help.

So the Python child does not exec the command itself: it execs this stub (``os.execve(memfd, ...)``), and
the stub execs the command. ``/proc/self/exe`` at that moment is the memfd, sealed against every write, so
the worst a container gets is a copy of these bytes. runc reaches the same end by re-executing itself
from a sealed memfd copy (and later from a read-only overlayfs view of its binary); for nsrun a sealed
copy of the interpreter means copying ~7 MB and starting Python twice per exec. The stub costs one more
``execve`` of a static program with no libraries: measured here, fork + exec through the stub was no slower
than fork + exec of the command from Python (the memfd and its seals take ~5 µs).

Contract (``argv`` = ``[stub, path, arg0, arg1, ...]``, environment passed through): the stub marks fd 3
(the error pipe, given without close-on-exec) close-on-exec, then ``execve(path, [arg0, ...], envp)``.
If that fails it writes 8 bytes to fd 3, ``b"EXEC"`` + errno (little-endian u32), and exits 127; the
parent turns them into ChildSetupError (``decode_failure``). Capabilities, no_new_privs, seccomp, uid and
the working directory are set before the stub runs; one more exec changes none of them (a root process's
capabilities after exec come from the bounding set either way; a non-root one keeps none).

The stub's code (GNU as, Intel syntax; assembled once, the bytes are below)::

    mov edi, 3; mov esi, 2 (F_SETFD); mov edx, 1 (FD_CLOEXEC); mov eax, 72 (fcntl); syscall
    mov rcx, [rsp]                    ; argc
    lea rdx, [rsp + rcx*8 + 16]       ; envp
    mov rdi, [rsp + 16]               ; path = argv[1]
    lea rsi, [rsp + 24]               ; &argv[2]
    mov eax, 59 (execve); syscall
    neg eax; shl rax, 32; or rax, 0x43455845 ("EXEC"); push rax
    mov edi, 3; mov rsi, rsp; mov edx, 8; mov eax, 1 (write); syscall
    mov edi, 127; mov eax, 231 (exit_group); syscall

Only x86-64 has a stub; elsewhere ``available()`` is False and the child execs the command directly
(defence 1 only), which the README states.
"""
from __future__ import annotations

import fcntl
import os
import struct

__all__ = ["ERR_FD", "elf", "STUB", "available", "sealed_memfd", "decode_failure"]

ERR_FD = 3
_MAGIC = b"EXEC"

_CODE = bytes.fromhex(
    "bf03000000be02000000ba01000000b8480000000f05488b0c24488d54cc10488b7c2410488d742418b83b0000000f05"
    "f7d848c1e020480d4558454350bf030000004889e6ba08000000b8010000000f05bf7f000000b8e70000000f05")

_BASE = 0x400000
_EHDR, _PHDR = 64, 56


def elf(code: bytes) -> bytes:
    """A static ELF64 x86-64 executable: one read+execute PT_LOAD segment, entry at the first code byte."""
    size = _EHDR + _PHDR + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, version 1, SysV ABI
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, _BASE + _EHDR + _PHDR, _EHDR, 0, 0,
                               _EHDR, _PHDR, 1, 0, 0, 0)  # ET_EXEC, EM_X86_64, no section headers
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)  # PT_LOAD, PF_R|PF_X
    return ehdr + phdr + code


STUB = elf(_CODE)


def available() -> bool:
    return os.uname().machine == "x86_64"


_SEALS = 0x1 | 0x2 | 0x4 | 0x8  # F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
_F_ADD_SEALS = 1033


def sealed_memfd(data: bytes, name: str = "nsrun-exec") -> int:
    """A close-on-exec memfd holding ``data``, sealed: no write, resize or further seal change, ever."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.write(fd, data)
        fcntl.fcntl(fd, _F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def decode_failure(data: bytes) -> int | None:
    """The errno the stub reported, or None when ``data`` is not the stub's report."""
    if len(data) == 8 and data[:4] == _MAGIC:
        return int.from_bytes(data[4:], "little")
    return None
