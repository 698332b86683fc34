"""Image transports: registries (``docker``), ``docker-archive`` and ``oci-archive`` tars.

A plugin of the ``image_transports`` hook like any third party's; ``nsrun pull NAME:LOCATION`` selects one by
its name, a plain reference means ``docker``. The work is done by the image library (``nsrun.image``).
"""
from __future__ import annotations

import os
from typing import Any

from nsrun import hookimpl

ORDER = 60


class Registry:
    """``docker://REF`` or a plain reference: a registry (the OCI distribution API)."""

    name = "docker"

    def pull(self, *, paths: Any, images: Any, location: str, progress: Any = None, platform: str | None = None,
             options: Any = None, **_: Any) -> list[dict[str, Any]]:
        from nsrun.image.service import pull_image
        from nsrun.image.store import normalize
        rec = pull_image(paths, location, platform=platform, progress=progress, options=options, images=images)
        return [{**rec, "loaded": [normalize(location)] if "@" not in location else []}]

    def push(self, *, paths: Any, images: Any, ref: str, location: str, progress: Any = None, options: Any = None,
             **_: Any) -> str:
        from nsrun.image.service import push_image
        if location != ref:
            images.tag(ref, location)
        return push_image(paths, location, progress=progress, options=options, images=images)


class _Archive:
    name = ""
    prefer = ""

    def pull(self, *, paths: Any, images: Any, location: str, progress: Any = None, **_: Any) -> list[dict[str, Any]]:
        from nsrun.image.archive import load
        from nsrun.image.transports import split_path
        path, ref = split_path(location)
        with open(path, "rb") as f:
            return load(paths, images, f, name=ref, progress=progress, prefer=self.prefer)

    def push(self, *, paths: Any, images: Any, ref: str, location: str, **_: Any) -> str:
        """Write the image ``ref`` to the file ``location`` (``PATH[:NAME]``: the name it is saved as)."""
        from nsrun.image.archive import save
        path, _, name = location.partition(":")
        if name:
            images.tag(ref, name)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                save(paths, images, [name or ref], f)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path


class DockerArchive(_Archive):
    """``docker-archive:PATH[:REF]``: a ``docker save`` tar (REF: the one image of it to load)."""

    name = "docker-archive"
    prefer = "docker"


class OciArchive(_Archive):
    """``oci-archive:PATH[:NAME]``: a tar of an OCI image layout (NAME: its ``ref.name`` annotation)."""

    name = "oci-archive"
    prefer = "oci"


@hookimpl
def image_transports() -> list[Any]:
    return [Registry(), DockerArchive(), OciArchive()]
