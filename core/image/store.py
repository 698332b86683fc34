"""Image records: ``<root>/images/sha256/<hex>.json`` per image, ``<root>/images/repositories.json`` for tags.

An image is its id (the sha256 of its OCI config, ``sha256:<hex>``), its config (the OCI image config dict:
``config.Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``, ``User``, ``ExposedPorts``, ``StopSignal``,
``Labels``..., ``rootfs.diff_ids``), its layers (chain ids, bottom-most first: directories of ``Layers``),
repo digests, size and creation time. Tags live only in ``repositories.json`` (one source), as the names
``normalize`` gives (``busybox:latest`` -> ``busybox``); ``get``/``list`` add them to the records they return as
``repo_tags``, and ``name`` (the tag asked for, else the first, else ``<none>``).

Writers take ``images/.lock`` (a flock) and replace files by rename, so readers (every ``nsrun run``) never
lock and never see half a file; a writer killed mid-way leaves at most a ``*.tmp*`` file that gc removes.
Layers are shared: ``remove`` and ``prune`` free only the layer directories no remaining image lists.
``busybox`` is built in (made on first use from the host's busybox-static); ``import_tar`` makes an image from
one or more layer tars in order. Both become ordinary layered images of this store.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from typing import IO, Any, Iterable, Iterator

from .._context import Paths
from ..errors import ConfigError, ConflictError, ImageNotFoundError, NotFoundError
from .layers import Layers, check_digest, collect_staging

__all__ = ["Images", "BUSYBOX", "normalize", "visible_root"]

BUSYBOX = "busybox"
_SIMPLE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[\w][\w.-]{0,127})?")  # redis, redis:7
_BUSYBOX_BIN = ("/bin/busybox", "/usr/bin/busybox")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def normalize(name: str) -> str:
    """The key a reference is stored under: Docker's familiar form without ``:latest`` (``busybox:latest`` ->
    ``busybox``, ``docker.io/library/redis:7`` -> ``redis:7``, ``127.0.0.1:5000/app:latest`` ->
    ``127.0.0.1:5000/app``; a digest stays: ``app@sha256:...``). Invalid references: ConfigError."""
    if isinstance(name, str) and _SIMPLE.fullmatch(name):  # the start path's usual case: no parsing
        return name[:-len(":latest")] if name.endswith(":latest") else name
    if not isinstance(name, str):
        raise ConfigError(f"invalid reference format: {name!r}")
    from .reference import parse
    ref = parse(name, default_tag="")
    key = ref.familiar_name + (f":{ref.tag}" if ref.tag and ref.tag != "latest" else "")
    return key + (f"@{ref.digest}" if ref.digest else "")


def visible_root(lowerdirs: list[str], path: str) -> str | None:
    """The lower layer (``lowerdirs`` top-most first) whose ``path`` the overlay shows, or None: a whiteout
    (0/0 character device) or an opaque directory above hides the layers below."""
    parts = [p for p in path.split("/") if p]
    for layer in lowerdirs:
        here = layer
        for i, part in enumerate(parts):
            here = os.path.join(here, part)
            try:
                st = os.lstat(here)
            except OSError:
                break
            if st.st_rdev == 0 and (st.st_mode & 0o170000) == 0o020000:
                return None  # a whiteout
            if i == len(parts) - 1:
                return layer
            if _opaque(here):
                return layer if os.path.lexists(os.path.join(layer, *parts)) else None
    return None


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _config_id(config: dict[str, Any]) -> str:
    import hashlib
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


class Images:
    """The image records of one nsrun root (public surface: get, resolve, rootfs, lowerdirs, list, add, tag,
    untag, remove, prune, import_tar, make_busybox, collect_staging; ``layers``: the Layers below)."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.layers = Layers(paths)
        self._records = os.path.join(paths.images, "sha256")
        self._repos = os.path.join(paths.images, "repositories.json")

    # -- reading (no lock) ---------------------------------------------------------------------------------
    def _tags(self) -> dict[str, str]:
        try:
            with open(self._repos) as f:
                return json.load(f).get("tags", {})
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ConfigError(f"{self._repos}: corrupt ({exc})") from None

    def _load(self, image_id: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self._records, check_digest(image_id, "image id")[7:] + ".json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def _view(self, rec: dict[str, Any], tags: dict[str, str], name: str | None = None) -> dict[str, Any]:
        repo_tags = sorted(t for t, i in tags.items() if i == rec["id"])
        return {**rec, "repo_tags": repo_tags, "name": name or (repo_tags[0] if repo_tags else "<none>")}

    def _find(self, ref: str, tags: dict[str, str]) -> tuple[str, str | None]:
        """(image id, the tag ``ref`` named or None) for a name, a full id or a unique hex prefix of one."""
        hexpart = ref[7:] if ref.startswith("sha256:") else ref
        if not ref.startswith("sha256:"):
            name = normalize(ref)
            if name in tags:
                return tags[name], name
            if "@" in name:  # name[:tag]@sha256:...: the image whose repo digests hold name@sha256:...
                repo, _, digest = name.partition("@")
                head, slash, last = repo.rpartition("/")
                wanted = f"{head}{slash}{last.partition(':')[0]}@{digest}"
                for rec in self.list():
                    if wanted in rec.get("repo_digests", ()):
                        return rec["id"], None
        if len(hexpart) >= 4 and re.fullmatch(r"[0-9a-f]+", hexpart):
            try:
                found = [n[:-5] for n in os.listdir(self._records) if n.endswith(".json") and n.startswith(hexpart)]
            except FileNotFoundError:
                found = []
            if len(found) == 1:
                return "sha256:" + found[0], None
            if len(found) > 1:
                raise ConfigError(f"ambiguous image id prefix {ref!r}")
        if not ref.startswith("sha256:"):
            normalize(ref)
        raise ImageNotFoundError(f"Unable to find image '{ref}' locally")

    def get(self, ref: str) -> dict[str, Any]:
        """The record of ``ref`` (name[:tag], ``sha256:<id>`` or a unique id prefix); builds busybox on
        first use. NotFoundError when there is none."""
        tags = self._tags()
        try:
            image_id, name = self._find(ref, tags)
        except NotFoundError:
            if normalize(ref) != BUSYBOX:
                raise
            self.make_busybox()
            tags = self._tags()
            image_id, name = self._find(ref, tags)
        rec = self._load(image_id)
        if rec is None:
            raise ImageNotFoundError(f"Unable to find image '{ref}' locally")
        return self._view(rec, tags, name)

    def resolve(self, ref: str, rec: dict[str, Any] | None = None) -> tuple[list[str], str]:
        """What a run of ``ref`` needs: its layer directories as overlayfs stacks them (top-most first), and
        the directory that holds its visible ``/etc/passwd`` (where users and groups are looked up; the top
        layer when none shows one). ``rec``: the record ``get(ref)`` gave, when the caller has it already."""
        lowers = [self.layers.path(c) for c in reversed((rec or self.get(ref))["layers"])]
        if not lowers:
            raise ConfigError(f"image {ref} has no layers")
        users = lowers[0] if len(lowers) == 1 else visible_root(lowers, "etc/passwd") or lowers[0]
        return lowers, users

    def lowerdirs(self, ref: str) -> list[str]:
        return self.resolve(ref)[0]

    def rootfs(self, ref: str) -> str:
        """The image's users directory (see ``resolve``); for a one-layer image, its whole root."""
        return self.resolve(ref)[1]

    def list(self) -> list[dict[str, Any]]:
        tags = self._tags()
        out = []
        try:
            names = sorted(os.listdir(self._records))
        except FileNotFoundError:
            names = []
        for n in names:
            if n.endswith(".json") and ".tmp" not in n:
                rec = self._load("sha256:" + n[:-5])
                if rec is not None:
                    out.append(self._view(rec, tags))
        return out

    # -- writing (under the lock) --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        import fcntl
        os.makedirs(self._records, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.paths.images, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _write(path: str, data: dict[str, Any]) -> None:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.rename(tmp, path)

    def _set_tags(self, tags: dict[str, str]) -> None:
        self._write(self._repos, {"tags": dict(sorted(tags.items()))})

    def add(self, *, config: dict[str, Any], layers: list[str], image_id: str | None = None,
            tags: Iterable[str] = (), repo_digests: Iterable[str] = (), size: int | None = None,
            created: float | None = None, manifest: str | None = None, parent: str | None = None,
            build_key: str | None = None) -> dict[str, Any]:
        """Record an image whose layer directories exist (``layers``: chain ids, bottom-most first). ``image_id``
        is the config's digest (computed from ``config`` when not given). Tags move to this image from any other
        (which may become dangling); adding an existing image merges its tags and digests. ``parent``: the id
        of the image it was made on (commit, build); ``build_key``: the builder's cache key of the step that
        made it (see ``build.cache``)."""
        chains = [check_digest(c, "chain id") for c in layers]
        image_id = check_digest(image_id, "image id") if image_id else _config_id(config)
        names = [normalize(t) for t in tags]
        with self._lock():
            missing = [c for c in chains if not self.layers.has(c)]
            if missing:
                raise NotFoundError(f"image {image_id[7:19]}: layer {missing[0]} is not in the store")
            old = self._load(image_id) or {}
            if size is None:
                size = sum(self.layers.meta(c).get("size", 0) for c in chains)
            rec = {"id": image_id, "config": config, "layers": chains,
                   "repo_digests": sorted(set(old.get("repo_digests", [])) | set(repo_digests)),
                   "size": size, "created": old.get("created") or created or time.time(),
                   "manifest": manifest or old.get("manifest")}  # its manifest's digest in content/, if kept
            if parent or old.get("parent"):
                rec["parent"] = parent or old.get("parent")
            if build_key or old.get("build_key"):
                rec["build_key"] = build_key or old.get("build_key")
            self._write(os.path.join(self._records, image_id[7:] + ".json"), rec)
            if names:
                current = self._tags()
                current.update({n: image_id for n in names})
                self._set_tags(current)
            return self._view(rec, self._tags(), names[0] if names else None)

    def set_manifest(self, image_id: str, digest: str) -> None:
        """Remember the digest of a manifest (in content/) that describes image ``image_id``."""
        with self._lock():
            rec = self._load(image_id)
            if rec is not None:
                rec["manifest"] = digest
                self._write(os.path.join(self._records, image_id[7:] + ".json"), rec)

    def _event(self, action: str, actor: str, tag: str | None = None) -> None:
        """Record an image event in the journal (``image.events``; imported only by the actions that record):
        the name is the image id, or Docker's form of the stored ``tag``."""
        from .events import record, with_tag
        record(self.paths.root, action, actor, with_tag(tag) if tag else None)

    def free_layers(self, chains: list[str]) -> None:
        """Remove the layers ``chains`` that no image lists (what a failed pull or import made)."""
        self._free(chains)

    def tag(self, ref: str, name: str) -> None:
        name = normalize(name)
        with self._lock():
            tags = self._tags()
            image_id, _ = self._find(ref, tags)
            tags[name] = image_id
            self._set_tags(tags)
        self._event("tag", image_id, tag=name)

    def untag(self, name: str) -> str:
        """Remove one tag; returns the image id it named (the image stays, maybe dangling)."""
        name = normalize(name)
        with self._lock():
            tags = self._tags()
            if name not in tags:
                raise NotFoundError(f"No such image: {name}")
            image_id = tags.pop(name)
            self._set_tags(tags)
        self._event("untag", image_id)
        return image_id

    def remove(self, ref: str, users: list[str], force: bool = False) -> list[dict[str, str]]:
        """Docker's ``rmi``: a tag of an image with other tags is only untagged; otherwise the image is
        deleted (refused while ``users``, the containers using it, is not empty) with the layers no other
        image uses. Returns Docker's ``[{"Untagged": ...}, {"Deleted": ...}]`` list."""
        with self._lock():
            tags = self._tags()
            try:
                image_id, name = self._find(ref, tags)
            except NotFoundError:
                raise NotFoundError(f"No such image: {ref}") from None
            own = sorted(t for t, i in tags.items() if i == image_id)
            if name is not None and len(own) > 1:
                del tags[name]
                self._set_tags(tags)
                self._event("untag", image_id)
                return [{"Untagged": name}]
            if len(own) > 1 and not force:
                raise ConflictError(f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is "
                                    f"referenced in multiple repositories")
            if users:
                raise ConflictError(f"conflict: unable to remove image {ref}: in use by container "
                                    f"{users[0][:12]}")
            for t in own:
                del tags[t]
                self._event("untag", image_id)
            self._set_tags(tags)
            parent = (self._load(image_id) or {}).get("parent")
            return [{"Untagged": t} for t in own] + self._delete(image_id) + self._delete_steps(parent)

    def _delete_steps(self, image_id: str | None) -> list[dict[str, str]]:
        """[locked] After an image is deleted: its parents that were steps of the build that made it (untagged,
        with a ``build_key``) and that no other image is made on, as docker's rmi removes them."""
        out: list[dict[str, str]] = []
        while image_id:
            rec = self._load(image_id)
            if rec is None or not rec.get("build_key") or image_id in self._tags().values():
                break
            if any(other.get("parent") == image_id for other in self.list()):
                break
            out += self._delete(image_id)
            image_id = rec.get("parent")
        return out

    def _delete(self, image_id: str) -> list[dict[str, str]]:
        """[locked] Drop a record and the layers no other record lists."""
        rec = self._load(image_id) or {"layers": []}
        os.unlink(os.path.join(self._records, image_id[7:] + ".json"))
        kept = {c for other in self.list() for c in other["layers"]}
        out = [{"Deleted": image_id}]
        self._event("delete", image_id)
        for chain in rec["layers"]:
            if chain not in kept and self.layers.remove(chain):
                out.append({"Deleted": chain})
        self.collect_blobs(layers_too=False)  # its manifest, config and layer blobs no other image needs
        return out

    def prune(self, keep: Iterable[str] = ()) -> list[dict[str, str]]:
        """Delete dangling images (no tag) except the ids in ``keep`` (those containers use)."""
        keep = set(keep)
        out: list[dict[str, str]] = []
        with self._lock():
            for rec in self.list():
                if not rec["repo_tags"] and rec["id"] not in keep:
                    out += self._delete(rec["id"])
        return out

    def referenced_blobs(self) -> set[str]:
        """Every blob digest an image record needs: its config, its manifest(s) and index, their layers."""
        import json as _json
        from .content import Content
        content = Content(self.paths.root)
        keep: set[str] = set()
        todo = []
        for rec in self.list():
            keep.add(rec["id"])
            todo += [rec.get("manifest")] + [d.partition("@")[2] for d in rec.get("repo_digests", ())]
        while todo:
            digest = todo.pop()
            if not digest or digest in keep:
                continue
            keep.add(digest)
            try:
                doc = _json.loads(content.read_bytes(digest))
            except (OSError, ValueError, ConfigError):
                continue
            if isinstance(doc, dict):
                todo += [d.get("digest") for d in [doc.get("config") or {}, *(doc.get("layers") or []),
                                                   *(doc.get("manifests") or [])] if isinstance(d, dict)]
        return keep

    def collect_blobs(self, layers_too: bool = True) -> list[str]:
        """Delete the blobs and layer directories no image needs (what a failed or killed pull left; skipped
        while a pull holds its lease); one line per object. ``layers_too=False`` under the store's lock."""
        from .content import Content
        lines: list[str] = []

        def layers() -> None:
            with self._lock():
                listed = {c for rec in self.list() for c in rec["layers"]}
                for chain in self.layers.list():
                    if chain not in listed and self.layers.remove(chain):
                        lines.append(f"removed unused layer {chain[:19]}")
        removed = Content(self.paths.root).collect_unused(self.referenced_blobs(), layers if layers_too else None)
        return [f"removed unused blob {d[:19]}" for d in removed] + lines

    def collect_staging(self) -> list[str]:
        """[gc] Unfinished layer directories and record files whose writer died."""
        lines = self.layers.collect_staging()
        lines += collect_staging(self.paths.images, self._lock, "unfinished image directory")
        lines += collect_staging(self._records, self._lock, "unfinished image record")
        return lines

    # -- making images here --------------------------------------------------------------------------------
    def lease(self) -> Any:
        """The content store's lease (see ``content.Lease``): held while layers exist that no record lists
        yet (a pull, an import, a commit, a build), so gc's collection of unused layers and blobs waits its
        turn."""
        from .content import Content
        return Content(self.paths.root).lease()

    _lease = lease

    def import_tar(self, tar_paths: str | list[str], name: str, *, config: dict[str, Any] | None = None,
                   devices: bool = False) -> dict[str, Any]:
        with self._lease():
            view = self._import_tar(tar_paths, name, config=config, devices=devices)
        self._event("import", view["id"])
        return view

    def _import_tar(self, tar_paths: str | list[str], name: str, *, config: dict[str, Any] | None = None,
                    devices: bool = False) -> dict[str, Any]:
        """An image ``name`` of the layer tars ``tar_paths`` (bottom-most first; gzip, zstd or plain); a hostile
        member fails the import (ConfigError) and leaves nothing. Device nodes are dropped unless ``devices``."""
        paths = [tar_paths] if isinstance(tar_paths, str) else list(tar_paths)
        name = normalize(name)
        for p in paths:
            if not os.path.isfile(p):
                raise ConfigError(f"no such file: {p}")
        chains: list[str] = []
        diff_ids: list[str] = []
        made: list[str] = []  # layers this import created: freed again when it fails
        try:
            for p in paths:
                before = set(self.layers.list())
                with open(p, "rb") as f:
                    try:
                        meta = self.layers.unpack(f, parent=chains[-1] if chains else None, devices=devices)
                    except ConfigError as exc:
                        raise ConfigError(f"{p}: {exc.message}") from None
                if meta["chain_id"] not in before:
                    made.append(meta["chain_id"])
                chains.append(meta["chain_id"])
                diff_ids.append(meta["diff_id"])
            full = self._config(diff_ids)
            full["config"] = {**full["config"], **(config or {})}  # `--change`s over the defaults
            return self.add(config=full, layers=chains, tags=[name])
        except BaseException:
            self._free(made)
            raise

    def _free(self, chains: list[str]) -> None:
        """Remove the layers ``chains`` that no image lists."""
        if not chains:
            return
        with self._lock():
            kept = {c for rec in self.list() for c in rec["layers"]}
            for chain in chains:
                if chain not in kept:
                    self.layers.remove(chain)

    @staticmethod
    def _config(diff_ids: list[str], cmd: list[str] | None = None) -> dict[str, Any]:
        return {"architecture": "amd64", "os": "linux",
                "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                           **({"Cmd": cmd} if cmd else {})},
                "rootfs": {"type": "layers", "diff_ids": diff_ids}}

    def make_busybox(self) -> dict[str, Any]:
        with self._lease():
            return self._make_busybox()

    def _make_busybox(self) -> dict[str, Any]:
        """Build ``busybox`` (one layer) from the host's busybox-static; concurrent first runs build it once."""
        binary = next((b for b in _BUSYBOX_BIN if os.path.exists(b)), None)
        if binary is None:
            raise ConfigError("busybox image: no busybox binary on the host (apt-get install busybox-static)")
        with self._lock():
            if BUSYBOX in self._tags():
                return self.get(BUSYBOX)
        data = _busybox_tar(binary)
        import io
        meta = self.layers.unpack(io.BytesIO(data))
        config = self._config([meta["diff_id"]], ["sh"])
        manifest = self._keep_blobs(config, data)
        return self.add(config=config, layers=[meta["chain_id"]], tags=[BUSYBOX], manifest=manifest)

    def _keep_blobs(self, config: dict[str, Any], layer: bytes) -> str:
        """Store a one-layer image's layer, config and an OCI manifest of them in the content store (so save
        and push send these very bytes, and a saved image loads back with its id); the manifest's digest."""
        from .content import Content
        content = Content(self.paths.root)
        raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        desc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": content.put_bytes(raw),
                "size": len(raw)}
        ldesc = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": content.put_bytes(layer),
                 "size": len(layer)}
        return content.put_bytes(json.dumps({"schemaVersion": 2, "mediaType":
                                             "application/vnd.oci.image.manifest.v1+json", "config": desc,
                                             "layers": [ldesc]}, separators=(",", ":")).encode())


def _busybox_tar(binary: str) -> bytes:
    """A root filesystem tar: busybox, its applets as symlinks, /etc/passwd and /etc/group."""
    import io
    import subprocess
    import tarfile
    out = io.BytesIO()
    applets = subprocess.run([binary, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    mtime = int(os.stat(binary).st_mtime)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname, info.size = kind, mode, mtime, link, len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
        dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "tmp", "root", "home",
                "var", "run", "mnt"} | {os.path.dirname(a) for a in applets if "/" in a}
        for d in sorted(dirs):
            add(d, tarfile.DIRTYPE, {"tmp": 0o1777, "root": 0o700}.get(d, 0o755))
        with open(binary, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for applet in applets:
            if applet != "bin/busybox":
                add(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    return out.getvalue()
