"""``system df``: what one root holds on disk, in the shape of Docker's ``GET /system/df``, and the table
``docker system df`` prints from it (the daemon and ``nsrun system df`` use the same two functions).

- ``LayersSize``: every unpacked layer's recorded size (a layer shared by images counts once).
- ``Images``: Docker's image summary plus ``SharedSize`` (the size of its layers another image uses too)
  and ``Containers`` (how many containers, any status, were made from it).
- ``Containers``: the list view plus ``SizeRw`` (what the container wrote: the upper directory the plugin
  that made its root names through ``container_changes``) and ``SizeRootFs`` (that plus its image).
- ``Volumes``: what the plugins' ``disk_usage`` hook reports (the mnt plugin's named volumes, each with
  ``UsageData {Size, RefCount}``).
- ``BuildCache``: the builder's cache, which is image records (``core/build``: each step an image with a
  ``build_key``): the untagged steps, left out of ``Images`` as ``GET /images/json`` leaves them out, each
  ``Size`` the bytes of the layers no other image holds. ``_prune.build_cache`` (``POST /build/prune``)
  removes those no container uses.
"""
from __future__ import annotations

import os
from typing import Any, Callable

__all__ = ["disk_usage", "df_rows", "tree_size", "human_size"]


def tree_size(path: str) -> int:
    """Bytes of the regular files under ``path`` (never following a symlink; what vanishes is skipped)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                pass
    return total


def disk_usage(engine: Any, plugins: Any, container_view: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Docker's ``/system/df`` body for ``engine``'s root. ``plugins``: a pluggy manager of the installed
    plugins (for ``container_changes`` and ``disk_usage``); ``container_view``: a record -> its list view."""
    from .image.view import docker_summary
    images = engine.images
    layers = images.layers
    sizes = {c: int(layers.meta(c).get("size") or 0) for c in layers.list()}
    metas = images.list()
    users: dict[str, int] = {}
    for meta in metas:
        for chain in set(meta.get("layers") or ()):
            users[chain] = users.get(chain, 0) + 1
    records = engine.list(all=True)
    image_ids: dict[str, str] = {}
    per_image: dict[str, int] = {}
    containers = []
    for rec in records:
        ref = rec.spec.image or ""
        if ref and ref not in image_ids:
            try:
                image_ids[ref] = images.get(ref)["id"]
            except Exception:  # noqa: BLE001 - an image removed under a container counts as none
                image_ids[ref] = ""
        iid = image_ids.get(ref, "")
        per_image[iid] = per_image.get(iid, 0) + 1
        changes = plugins.hook.container_changes(container_dir=rec.dir, options=rec.spec.options)
        rw = tree_size(changes["upper"]) if changes and changes.get("upper") else 0
        image_size = next((m.get("size", 0) for m in metas if m["id"] == iid), 0)
        containers.append({**container_view(rec), "SizeRw": rw, "SizeRootFs": rw + image_size})
    out_images, cache = [], []
    for meta in metas:
        chains = set(meta.get("layers") or ())
        if _cache_step(meta):
            own = sum(sizes.get(c, 0) for c in chains if users.get(c, 0) == 1)
            cache.append({"ID": meta["id"][7:19], "Parent": meta.get("parent") or "", "Type": "regular",
                          "Description": meta.get("build_key", ""), "InUse": per_image.get(meta["id"], 0) > 0,
                          "Shared": own < meta.get("size", 0), "Size": own, "UsageCount": 0,
                          "CreatedAt": _rfc3339(meta.get("created")), "LastUsedAt": None})
            continue
        summary = docker_summary(meta, per_image.get(meta["id"], 0))
        summary["SharedSize"] = sum(sizes.get(c, 0) for c in chains if users.get(c, 0) > 1)
        summary["Containers"] = per_image.get(meta["id"], 0)
        out_images.append(summary)
    volumes: list[dict[str, Any]] = []
    for part in plugins.hook.disk_usage(paths=engine.paths):
        volumes.extend((part or {}).get("Volumes") or [])
    return {"LayersSize": sum(sizes.values()), "Images": out_images, "Containers": containers,
            "Volumes": volumes, "BuildCache": cache}


def _cache_step(meta: dict[str, Any]) -> bool:
    return bool(meta.get("build_key")) and not meta.get("repo_tags")


def _rfc3339(ts: Any) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(float(ts or 0), datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def human_size(n: float) -> str:
    """Docker's ``units.HumanSize``: decimal units, 3 significant digits (``1.2MB``, ``0B``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}" if n < 1000 else f"{n:.0f}{units[i]}"


def df_rows(df: dict[str, Any]) -> list[tuple[str, ...]]:
    """``docker system df``'s table: TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE (size and share reclaimable)."""
    def reclaim(part: int, whole: int) -> str:
        pct = f" ({int(part * 100 / whole)}%)" if whole else ""
        return human_size(part) + pct

    imgs = df["Images"]
    active_imgs = [i for i in imgs if i.get("Containers", 0) > 0]
    img_size = df["LayersSize"]
    used = sum(i.get("Size", 0) - i.get("SharedSize", 0) for i in active_imgs)
    shared = max((i.get("SharedSize", 0) for i in active_imgs), default=0)
    img_reclaim = max(0, img_size - used - shared)
    cache = df.get("BuildCache") or []
    cache_size = sum(b.get("Size", 0) for b in cache)
    cache_reclaim = sum(b.get("Size", 0) for b in cache if not b.get("InUse"))
    ctrs = df["Containers"]
    ctr_size = sum(c.get("SizeRw", 0) for c in ctrs)
    ctr_reclaim = sum(c.get("SizeRw", 0) for c in ctrs if c.get("State") != "running")
    vols = df["Volumes"]
    vol_size = sum(v["UsageData"]["Size"] for v in vols)
    vol_reclaim = sum(v["UsageData"]["Size"] for v in vols if v["UsageData"]["RefCount"] == 0)
    return [("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"),
            ("Images", str(len(imgs)), str(len(active_imgs)), human_size(img_size), reclaim(img_reclaim, img_size)),
            ("Containers", str(len(ctrs)), str(sum(1 for c in ctrs if c.get("State") == "running")),
             human_size(ctr_size), reclaim(ctr_reclaim, ctr_size)),
            ("Local Volumes", str(len(vols)), str(sum(1 for v in vols if v["UsageData"]["RefCount"] > 0)),
             human_size(vol_size), reclaim(vol_reclaim, vol_size)),
            ("Build Cache", str(len(cache)), str(sum(1 for b in cache if b.get("InUse"))),
             human_size(cache_size), reclaim(cache_reclaim, cache_size).split(" ")[0])]
