"""User namespace: root inside is an unprivileged uid range outside.

The range comes from ``--userns-range START:COUNT``, else the ``nsrun`` entry of /etc/subuid and /etc/subgid,
else 100000:65536. The image still looks root-owned inside: an idmapped view (open_tree +
mount_setattr(MOUNT_ATTR_IDMAP) + move_mount, made in ``post_userns`` so the child's new mount namespace
copies it) of the store's layers directory (one mount whatever the number of layers), or of a single lower
(``--rootfs``), gives the overlay's lower layers. Where the kernel or filesystem refuses idmapping, a chowned
copy of a one-layer image, cached per range, is used instead.

The container's root sets its mounts up as the mapped root (host uid START), so that uid needs search
permission on every directory from ``/`` down to the container's directory. A state root made the usual way
(``mktemp -d``: mode 0700) gives it none. As dockerd with ``userns-remap`` opens its data root to the remapped
root only (0710, group of the remapped gid), this plugin adds one POSIX ACL entry, ``user:START:--x``, to the
directories of the root that refuse it: search, never listing or reading, and nothing for any other user.
The entry stays (it is the root's, like Docker's chmod of its data root). A directory above the root that
refuses the mapped root is not nsrun's to change: ``configure`` fails before anything exists and says so.
"""
from __future__ import annotations

import errno
import os
import shutil

from nsrun import CLONE_NEWUSER, ConfigError, IdMap, Option, RunContext, SetupError, StashKey, hookimpl

from .acl import acl_supported, can_search, chain, grant_search

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
    _check_reachable(ctx.paths.root, uid[0], gid[0])


def _check_reachable(root: str, uid: int, gid: int) -> None:
    """[configure] Fail, before anything exists, when the mapped root cannot reach ``root`` and nsrun may not
    open the way: a directory above the root refuses it, or the root refuses it on a file system without ACLs."""
    root = os.path.realpath(root)
    for directory in chain(root):
        if not os.path.isdir(directory):
            return  # the rest is created by nsrun (with its umask) and checked again in pre_clone
        if can_search(directory, uid, gid):
            continue
        mode = f"{os.stat(directory).st_mode & 0o7777:04o}"
        if directory != root:
            raise ConfigError(f"the user plugin's root (uid {uid}) cannot traverse {directory} (mode {mode}), "
                              f"above the nsrun root {root}: allow it (setfacl -m u:{uid}:x {directory}) "
                              f"or choose a --root it can reach")
        if not acl_supported(directory):
            raise ConfigError(f"the user plugin's root (uid {uid}) cannot traverse the nsrun root {root} (mode "
                              f"{mode}) and its file system has no ACLs to allow only that uid: "
                              f"chgrp {gid} {root} && chmod g+x {root}, or use a root on a file system with ACLs")


def _open_the_way(ctx: RunContext) -> None:
    """[pre_clone] Give the mapped root search permission on the root's directories down to the container's
    that refuse it (``configure`` checked everything above the root)."""
    uid, gid = ctx.host_uid(0), ctx.host_gid(0)
    root = os.path.realpath(ctx.paths.root)
    for directory in chain(os.path.realpath(ctx.container_dir)):
        if len(directory) >= len(root) and not can_search(directory, uid, gid):
            grant_search(directory, uid)


IMAGE_KEY = StashKey[str]()


def _view_plan(ctx: RunContext) -> tuple[str, list[str]] | None:
    """(the directory to idmap, the overlay lowers inside its view) for ``ctx.lowerdirs``. One view covers
    every layer of the store (``<root>/layers``, one idmapped mount whatever the number of layers); a single
    lower (``--rootfs``) is viewed itself."""
    lowers = ctx.lowerdirs
    view = os.path.join(ctx.container_dir, "lower")
    if len(lowers) == 1:
        return lowers[0], [view]
    store = os.path.join(os.path.realpath(ctx.paths.root), "layers")
    rels = [os.path.relpath(os.path.realpath(d), store) for d in lowers]
    if any(r.startswith("..") for r in rels):
        raise SetupError("the user plugin shows only layers of nsrun's store root-owned inside (several lower "
                         "directories outside it were given)", plugin="user", errno=errno.EINVAL)
    return store, [os.path.join(view, r) for r in rels]


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    _open_the_way(ctx)
    # The child forks before post_userns, so the paths of the view must be known now; it is mounted later.
    if ctx.lowerdirs:
        source, lowers = _view_plan(ctx)
        ctx.stash[IMAGE_KEY] = source
        ctx.stash[LAYERED_KEY] = len(ctx.lowerdirs) > 1
        ctx.lowerdirs = lowers
    return CLONE_NEWUSER


LAYERED_KEY = StashKey[bool]()


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
    # Idmapping refused here: a chowned copy, only of a one-layer image of the store (never of a --rootfs the
    # user gave, which may be / with every mount under it, nor beside it, in a directory that is not nsrun's).
    store = os.path.join(os.path.realpath(ctx.paths.root), "layers", "")
    if not os.path.realpath(image).startswith(store) or ctx.stash.get(LAYERED_KEY):
        raise SetupError(f"the user plugin cannot show {image} root-owned inside: the kernel refuses an idmapped "
                         f"mount of it, and nsrun copies only images of its store, of one layer (nsrun image import)",
                         plugin="user", errno=errno.EINVAL)
    copy = _chowned_copy(image, ctx.host_uid(0), ctx.host_gid(0))
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
    return _unmount_views(paths, lambda cid: cid not in live)


@hookimpl
def collect(paths, cid: str) -> list[str]:
    """This container's image view, if a creation killed between post_userns and post_start left it."""
    return _unmount_views(paths, lambda other: other == cid)


def _unmount_views(paths, dead) -> list[str]:  # noqa: ANN001
    from nsrun import syscalls
    lines = []
    prefix = os.path.join(paths.containers, "")
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for target in targets:
        if target.startswith(prefix) and target.endswith("/lower"):
            if dead(target[len(prefix):].split("/")[0]):
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
