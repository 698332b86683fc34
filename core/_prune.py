"""``system prune`` and the prunes it is made of, for the CLI and the daemon alike: stopped containers, the
builder's cached steps (here; ``_diskusage`` tells what they are), and whatever a plugin serves at a Docker
prune path (``/networks/prune``, ``/volumes/prune``: the net and mnt plugins' ``daemon_routes``), called
through that route so the core names no plugin. Images: ``Images.prune``."""
from __future__ import annotations

from typing import Any

from ._diskusage import _cache_step, tree_size
from .errors import ConflictError, NotFoundError

__all__ = ["containers", "images", "build_cache", "plugin_prune"]


def containers(engine: Any, plugins: Any) -> tuple[list[str], int]:
    """Remove every container that is not running (created, exited, dead); (ids, bytes they had written)."""
    deleted, reclaimed = [], 0
    for rec in engine.list(all=True):
        if rec.status not in ("exited", "created", "dead"):
            continue
        changes = plugins.hook.container_changes(container_dir=rec.dir, options=rec.spec.options)
        size = tree_size(changes["upper"]) if changes and changes.get("upper") else 0
        try:
            engine.remove(rec.id, False)
        except (ConflictError, NotFoundError):
            continue  # started or removed meanwhile
        deleted.append(rec.id)
        reclaimed += size
    return deleted, reclaimed


def _images_in_use(engine: Any) -> set[str]:
    """The ids of the images some container (any status) was made from."""
    used = set()
    for rec in engine.list(all=True):
        if rec.spec.image:
            try:
                used.add(engine.images.get(rec.spec.image)["id"])
            except Exception:  # noqa: BLE001 - its image is gone already
                pass
    return used


def build_cache(engine: Any) -> tuple[list[str], int]:
    """Remove the builder's cached steps (untagged ``build_key`` images) no container uses; (the ids removed,
    the bytes of the layers that went with them)."""
    images = engine.images
    layers = images.layers
    before = {c: int(layers.meta(c).get("size") or 0) for c in layers.list()}
    used = _images_in_use(engine)
    removed = []
    for meta in images.list():
        if _cache_step(meta) and meta["id"] not in used:
            try:
                images.remove(meta["id"], [], force=False)
            except Exception:  # noqa: BLE001 - another image needs it (a child step): kept, as the cache
                continue
            removed.append(meta["id"])
    after = set(layers.list())
    return removed, sum(size for c, size in before.items() if c not in after)


def images(engine: Any, all_: bool = False) -> tuple[list[dict[str, str]], int]:
    """Dangling images (``all_``: every image) no container uses; (Docker's ``[{"Untagged"|"Deleted": ...}]``,
    bytes of the images deleted)."""
    store = engine.images
    before = {m["id"]: m.get("size", 0) for m in store.list()}
    keep = _images_in_use(engine)
    if all_:
        removed: list[dict[str, str]] = []
        for meta in store.list():
            if meta["id"] not in keep:
                try:
                    removed += store.remove(meta["id"], [], force=True)
                except NotFoundError:
                    continue  # gone with an image removed before it (a build step)
    else:
        removed = store.prune(keep=keep)
    gone = {i["Deleted"] for i in removed if "Deleted" in i}
    return removed, sum(size for i, size in before.items() if i in gone)


def plugin_prune(paths: Any, plugins: Any, path: str, query: dict[str, str] | None = None) -> Any:
    """Call the plugin route that serves ``POST path`` (e.g. ``/networks/prune``); None when none does."""
    from ._routes import ApiRequest
    for routes in plugins.hook.daemon_routes():
        for route in routes or ():
            if route.method == "POST" and route.path == path:
                return route.handler(ApiRequest("POST", {}, dict(query or {}), None, paths))
    return None
