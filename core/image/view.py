"""An image record as Docker shows it: ``docker image inspect`` and ``GET /images/{name}/json``
(``docker_image``), ``docker images`` and ``GET /images/json`` (``docker_summary``); the one place both the
CLI and the daemon take these shapes from."""
from __future__ import annotations

import time
from typing import Any

__all__ = ["docker_image", "docker_summary", "repo_tags", "rfc3339"]


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def repo_tags(meta: dict[str, Any]) -> list[str]:
    """Docker's RepoTags: every name with its tag spelled out (``busybox`` -> ``busybox:latest``)."""
    out = []
    for name in meta.get("repo_tags") or []:
        last = name.rpartition("/")[2]
        out.append(name if ":" in last or "@" in last else f"{name}:latest")
    return out


def docker_image(meta: dict[str, Any]) -> dict[str, Any]:
    """``docker image inspect``'s object for a record of ``nsrun.image.store``."""
    full = meta.get("config") or {}
    config = dict(full.get("config") or {})
    config.setdefault("Entrypoint", None)
    config.setdefault("Cmd", None)
    config.setdefault("Env", [])
    created = full.get("created")
    return {
        "Id": meta["id"], "RepoTags": repo_tags(meta), "RepoDigests": list(meta.get("repo_digests") or []),
        "Parent": "", "Comment": "", "Created": created or rfc3339(meta.get("created") or 0),
        "Container": "", "DockerVersion": "", "Author": full.get("author", ""), "Config": config,
        "Architecture": full.get("architecture", "amd64"), "Os": full.get("os", "linux"),
        **({"Variant": full["variant"]} if full.get("variant") else {}),
        "Size": meta.get("size", 0), "VirtualSize": meta.get("size", 0),
        "GraphDriver": {"Name": "overlay2", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": list((full.get("rootfs") or {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def docker_summary(meta: dict[str, Any], containers: int = 0) -> dict[str, Any]:
    """One entry of ``GET /images/json``."""
    return {"Containers": containers, "Created": int(meta.get("created") or 0), "Id": meta["id"],
            "Labels": ((meta.get("config") or {}).get("config") or {}).get("Labels") or {}, "ParentId": "",
            "RepoDigests": list(meta.get("repo_digests") or []), "RepoTags": repo_tags(meta),
            "SharedSize": -1, "Size": meta.get("size", 0), "VirtualSize": meta.get("size", 0)}
