"""Docker's default seccomp profile (or ``--security-opt seccomp=PROFILE.json``) on every container.

Selected by default. ``--security-opt seccomp=unconfined`` runs a container without a filter; so does
``--privileged`` (``ctx.privileged``), and leaving the plugin out of ``--plugins``. Profiles are in Docker's JSON format (``profile``); the default one is
``default.json`` beside this module, modelled on moby's.

Cost on a start: ``configure`` reads the profile, hashes it and reads its compiled program from the cache
(the read side is below); only a new profile, kernel, capability set or libseccomp checks and compiles it
(``profile``, ``compile``: libseccomp; ``cache`` writes the entry). A profile given as a file is kept inline
in the container's options, as Docker does, so ``nsrun exec`` (``pre_join``: the same cache read) loads the
very same filter without the file. The child loads it with one ``seccomp()`` call, the last step before ``execve``
(after sec's capabilities and no_new_privs), which is why the core's chdir/setresuid/execve that follow
are syscalls the profile must allow (Docker's does).
"""
from __future__ import annotations

import os

from nsrun import ConfigError, Option, RunContext, StashKey, hookimpl, syscalls

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

DEFAULT = True
ORDER = 95  # after sec (90): its before_exec sets no_new_privs, which loading a filter without CAP_SYS_ADMIN needs
# ``--security-opt`` is shared: its ``seccomp=`` items are this plugin's (the core routes each item by key)
OPTIONS = [Option(("--security-opt",), "security_opt", multiple=True, keys=("seccomp",),
                  metavar="seccomp=unconfined|PROFILE.json",
                  help="seccomp=unconfined (no filter) or seccomp=PROFILE.json (Docker's profile format)")]

PROGRAM = StashKey[tuple]()  # (load flags, program bytes): what the run's own child loads, undecoded
DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "default.json")
# What the profile's caps conditions are evaluated against: the capabilities the command will hold
# (``ctx.capabilities``, filled by the plugin that drops the others: sec), every capability when none does.
ALL_CAPS = frozenset(f"CAP_{c}" for c in (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE"))


def parse_security_opts(values: list[str] | tuple[str, ...]) -> str | None:
    """``--security-opt`` values -> the seccomp value (``"unconfined"``, ``"builtin"``, inline JSON or a
    path), or None for the default. Any other key is refused by name."""
    chosen = None
    for item in values:
        key, sep, value = item.partition("=")
        if key != "seccomp":
            raise ConfigError(f"--security-opt {key!r} is not supported (only seccomp=unconfined|PROFILE.json)")
        if not sep or not value.strip():
            raise ConfigError("--security-opt seccomp needs a value: seccomp=unconfined or seccomp=PROFILE.json")
        chosen = value
    return None if chosen in (None, "builtin") else chosen


@hookimpl
def docker_create(fields: Any) -> dict[str, Any] | None:
    """``HostConfig.SecurityOpt``: the ``seccomp=`` elements are ours: ``unconfined``, ``builtin`` or a
    profile's JSON (the docker CLI reads ``--security-opt seccomp=FILE`` itself and sends the content). A path
    is refused: it would name a file on the daemon's host. Other keys are left for their owners (or the
    core's refusal by name)."""
    items = fields.take_items("HostConfig.SecurityOpt", "seccomp")
    for item in items:
        _, sep, value = item.partition("=")
        if not sep or (value not in ("unconfined", "builtin") and not value.lstrip().startswith("{")):
            raise ConfigError("HostConfig.SecurityOpt: seccomp= takes unconfined, builtin or a profile's JSON, "
                              "not a path on the daemon's host")
    return {"security_opt": items} if items else None


@hookimpl
def oci_config(fields: Any) -> dict[str, Any] | None:
    """``linux.seccomp`` (the runtime-spec's profile: a subset of Docker's format, checked the same way). A
    config without one gets nsrun's default profile: the engine's silence never removes the filter."""
    profile = fields.take("linux.seccomp", dict)
    if profile is None:
        return None
    import json
    return {"security_opt": [f"seccomp={json.dumps(profile)}"]}


@hookimpl
def docker_view(options: dict[str, Any], view: dict[str, Any]) -> None:
    opts = list(options.get("security_opt") or [])
    view["HostConfig"]["SecurityOpt"] = [*(view["HostConfig"].get("SecurityOpt") or ()), *opts] or None


@hookimpl
def docker_info(info: dict[str, Any]) -> None:
    info["SecurityOptions"].append("name=seccomp,profile=builtin")


def _caps(ctx: RunContext) -> frozenset[str]:
    return ctx.capabilities if ctx.capabilities is not None else ALL_CAPS


@hookimpl
def configure(ctx: RunContext) -> None:
    _prepare(ctx, keep_content=True)


@hookimpl
def pre_join(ctx: RunContext) -> None:
    """``nsrun exec``: the same program (from the cache: the profile is in the container's options)."""
    _prepare(ctx, keep_content=False)


def _prepare(ctx: RunContext, keep_content: bool) -> None:
    ctx.stash.pop(PROGRAM, None)
    value = parse_security_opts(ctx.options.get("security_opt") or ())
    if value == "unconfined" or ctx.privileged:  # --privileged (whoever owns it): no filter, as Docker
        return
    if value is None:
        label, path = "default", DEFAULT_PROFILE
    elif value.lstrip().startswith("{"):
        label, path = "(inline)", None
        content = value.encode()
    else:
        label, path = value, value
    if path is not None:
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError as exc:
            raise ConfigError(f"seccomp profile {path}: {exc.strerror}", errno=exc.errno) from None
        if value is not None and keep_content:  # kept, as Docker does: no start or exec reads the file again
            ctx.options["security_opt"] = [f"seccomp={content.decode(errors='replace')}"]
    ctx.stash[PROGRAM] = _program(ctx.paths.root, content, _caps(ctx), label)


# -- the program cache, read side (every start); the write side is ``cache`` (a miss) -------------------------
# ``<root>/cache/seccomp/<key>.bpf``. The key is a BLAKE2b hash over everything the program depends on: the
# profile's bytes, the machine, the capability set and the kernel release (``includes``/``excludes`` are
# evaluated against them), the identity of the libseccomp that compiled it (the file holding it, its version,
# size and mtime, as recorded beside the entries) and the version of this plugin's compile step. A hit costs
# a few small reads and a hash; nothing imports libseccomp unless the key is new.
# Under the root and not in ~/.cache: an entry decides what the kernel lets containers do, so it belongs with
# the root's images and state (writable only by whoever owns that root), goes away with the root, and two
# roots never share an entry.
_CACHE_FORMAT = b"nsrun-seccomp-3"  # bump when compile.py builds programs differently


def cache_dir(root: str) -> str:
    return os.path.join(root, "cache", "seccomp")


def cache_key(directory: str, content: bytes, machine: str, caps: frozenset[str], release: str) -> str | None:
    """The entry name for these inputs, or None when no libseccomp was recorded yet (nothing can hit)."""
    try:
        with open(os.path.join(directory, "libseccomp"), "rb") as f:
            library, _, version = f.read().decode().partition("\n")
        st = os.stat(library)
    except (OSError, UnicodeDecodeError):
        return None
    from _blake2 import blake2b  # builtin: hashlib would load OpenSSL first (~2.5 ms)
    h = blake2b(digest_size=32)
    for part in (_CACHE_FORMAT, f"{machine}\0{','.join(sorted(caps))}\0{release}\0{library}\0{version}\0"
                 f"{st.st_size}\0{st.st_mtime_ns}".encode()):
        h.update(b"%d:" % len(part) + part)
    h.update(content)
    return h.hexdigest()


def cached(directory: str, key: str | None) -> tuple[int, bytes] | None:
    """``(load flags, program)`` of a cache entry, or None."""
    if key is None:
        return None
    try:
        with open(os.path.join(directory, key + ".bpf"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    flags, sep, program = data.partition(b"\n")
    if not sep or not flags.isdigit() or not program or len(program) % 8:
        return None  # torn or foreign: compile again
    return int(flags), program


def _program(root: str, content: bytes, caps: frozenset[str], label: str) -> tuple[int, bytes]:
    """``(load flags, BPF program)`` for a profile: from the cache, or compiled (and cached) on a miss."""
    uname = os.uname()
    directory = cache_dir(root)
    hit = cached(directory, cache_key(directory, content, uname.machine, caps, uname.release))
    if hit is not None:
        return hit
    from . import cache, profile  # only on a miss: checking and compiling cost ~80 ms
    with cache.compiling(directory):  # one compile at a time: concurrent creates wait for it, then hit
        hit = cached(directory, cache_key(directory, content, uname.machine, caps, uname.release))
        if hit is not None:
            return hit
        try:
            return _compile(directory, content, uname.machine, caps, uname.release)
        except profile.ProfileError as exc:
            raise ConfigError(f"seccomp profile {label}: {exc.detail}") from None


def _compile(directory: str, content: bytes, machine: str, caps: frozenset[str],
             release: str) -> tuple[int, bytes]:
    import json
    from . import cache, compile, profile
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise profile.ProfileError(f"invalid JSON: {exc}") from None
    plan = profile.evaluate(profile.check(doc), profile.native_arch(machine), caps,
                            profile.kernel_version(release))
    fd = os.memfd_create("nsrun-seccomp", os.MFD_CLOEXEC)
    try:
        compile.compile_bpf(plan, fd)
        size = os.lseek(fd, 0, os.SEEK_END)
        program = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    if not program or len(program) % 8:
        raise profile.ProfileError("libseccomp produced no program")
    try:
        cache.store(directory, compile.library_file(), compile.library_version(),
                    lambda: cache_key(directory, content, machine, caps, release), plan.flags, program)
    except OSError:
        pass  # an unwritable cache costs a compile per start, not the start
    return plan.flags, program


@hookimpl(trylast=True)
def before_exec(ctx: RunContext) -> None:
    ready = ctx.stash.get(PROGRAM)  # the forked copy of what configure (a run) or pre_join (an exec) read
    if ready is not None:
        syscalls.load_seccomp_bpf(ready[1], ready[0])
