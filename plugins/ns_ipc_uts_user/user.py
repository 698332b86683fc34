"""User namespace: root inside is an unprivileged uid range outside.

The range comes from ``--userns-range START:COUNT``, else the ``nsrun`` entry of /etc/subuid and /etc/subgid,
else 100000:65536. The image still looks root-owned inside: an idmapped view of it (open_tree +
mount_setattr(MOUNT_ATTR_IDMAP) + move_mount, made in ``post_userns`` so the child's new mount namespace
copies it) becomes the overlay's lower layer. Where the kernel or filesystem refuses idmapping, a chowned
copy of the image, cached per range, is used instead.
"""
from __future__ import annotations

import os
import shutil

from nsrun import CLONE_NEWUSER, ConfigError, IdMap, Option, RunContext, StashKey, hookimpl

DEFAULT = False
ORDER = 10
OPTIONS = [Option(("--userns-range",), "userns_range", metavar="START:COUNT",
                  help="Host uid/gid range that container ids 0..COUNT-1 map to (user plugin)")]
DEFAULT_RANGE = (100000, 65536)
VIEW_KEY = StashKey[str]()


def subid_range(path: str, user: str = "nsrun") -> tuple[int, int] | None:
    """The first ``user:start:count`` line of an /etc/subuid-style file."""
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] == user:
                    return int(parts[1]), int(parts[2])
    except (OSError, ValueError):
        return None
    return None


def parse_range(text: str) -> tuple[int, int]:
    try:
        start, count = (int(x) for x in text.split(":"))
    except ValueError:
        raise ConfigError(f"invalid --userns-range {text!r}: expected START:COUNT") from None
    if start <= 0 or count <= 0 or start + count > 2**32 - 1:
        raise ConfigError(f"invalid --userns-range {text!r}: START and COUNT must be positive")
    return start, count


@hookimpl
def configure(ctx: RunContext) -> None:
    text = ctx.options.get("userns_range")
    if text:
        uid = gid = parse_range(text)
    else:
        uid = subid_range("/etc/subuid") or DEFAULT_RANGE
        gid = subid_range("/etc/subgid") or DEFAULT_RANGE
    ctx.uid_maps[:] = [IdMap(0, uid[0], uid[1])]
    ctx.gid_maps[:] = [IdMap(0, gid[0], gid[1])]
    ctx.info["UsernsRange"] = f"{uid[0]}:{uid[1]}"


IMAGE_KEY = StashKey[str]()


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    # The child forks before post_userns, so the path of the view must be known now; it is mounted later.
    if ctx.lowerdir:
        ctx.stash[IMAGE_KEY] = ctx.lowerdir
        ctx.lowerdir = os.path.join(ctx.container_dir, "lower")
    return CLONE_NEWUSER


@hookimpl
def post_userns(ctx: RunContext, pid: int) -> None:
    image = ctx.stash.get(IMAGE_KEY)
    if image is None:
        return
    from nsrun import syscalls
    view = os.path.join(ctx.container_dir, "lower")
    os.makedirs(view, exist_ok=True)
    ctx.stash[VIEW_KEY] = view  # recorded before the mount: teardown's umount tolerates "not mounted"
    try:
        tree = syscalls.open_tree_clone(image)
    except OSError:
        tree = -1
    try:
        if tree >= 0:
            userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.set_idmap(tree, userns)
            finally:
                os.close(userns)
            syscalls.move_mount_to(tree, view)
            return
    except OSError:
        pass
    finally:
        if tree >= 0:
            os.close(tree)
    copy = _chowned_copy(image, ctx.host_uid(0), ctx.host_gid(0))  # idmapping refused here
    syscalls.mount(copy, view, None, syscalls.MS_BIND)


def _unmount_view(ctx: RunContext, remove_dir: bool) -> None:
    view = ctx.stash.get(VIEW_KEY)
    if view is None:
        return
    from nsrun import syscalls
    try:
        syscalls.umount(view, syscalls.MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (22, 2):  # EINVAL: not mounted any more; ENOENT: gone
            raise
    if not remove_dir:
        return
    # Only now: deleting a mount point also detaches the mounts on it in every other mount namespace,
    # the container's copy included.
    ctx.stash.pop(VIEW_KEY)
    try:
        os.rmdir(view)
    except FileNotFoundError:
        pass


@hookimpl
def gc(paths, live: set[str]) -> list[str]:
    """Unmount image views left on the host by a run killed between post_userns and post_start."""
    from nsrun import syscalls
    lines = []
    prefix = os.path.join(paths.containers, "")
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for target in targets:
        if target.startswith(prefix) and target.endswith("/lower"):
            cid = target[len(prefix):].split("/")[0]
            if cid not in live:
                syscalls.umount(target, syscalls.MNT_DETACH)
                lines.append(f"user: unmounted {target}")
    return lines


@hookimpl
def post_start(ctx: RunContext) -> None:
    _unmount_view(ctx, remove_dir=False)  # the child's mount namespace holds its own copy


@hookimpl
def teardown(ctx: RunContext) -> None:
    _unmount_view(ctx, remove_dir=True)


def _chowned_copy(rootfs: str, uid: int, gid: int) -> str:
    """A copy of ``rootfs`` whose ids are shifted by (uid, gid), made once per range and reused."""
    target = f"{rootfs.rstrip('/')}-{uid}-{gid}"
    if os.path.isdir(target):
        return target
    tmp = f"{target}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(rootfs, tmp, symlinks=True)  # copies modes, not owners: those come from the source
    for directory, dirs, files in os.walk(rootfs):
        rel = os.path.relpath(directory, rootfs)
        names = [directory] if rel == "." else []
        names += [os.path.join(directory, n) for n in dirs + files]
        for source in names:
            st = os.lstat(source)
            dest = os.path.join(tmp, os.path.relpath(source, rootfs))
            os.lchown(dest, uid + st.st_uid, gid + st.st_gid)
            if not os.path.islink(dest):
                os.chmod(dest, st.st_mode & 0o7777)  # chown clears setuid/setgid bits
    os.rename(tmp, target)
    return target


@hookimpl
def oci_config(fields):
    for ns in fields.take_items("linux.namespaces", "user", by="type"):
        if ns.get("path"):
            raise ConfigError("config.json: joining an existing user namespace (path) is not supported")
    uids = fields.take("linux.uidMappings", list) or []
    gids = fields.take("linux.gidMappings", list) or []
    if not uids and not gids:
        return None
    ranges = {(m.get("containerID"), m.get("hostID"), m.get("size")) for m in uids + gids if isinstance(m, dict)}
    if len(uids) != 1 or len(gids) != 1 or len(ranges) != 1 or next(iter(ranges))[0] != 0:
        raise ConfigError("config.json: linux.uidMappings/gidMappings: nsrun maps one range, the same for uids "
                          "and gids, starting at container id 0")
    _, host, size = next(iter(ranges))
    return {"userns_range": f"{host}:{size}"}
