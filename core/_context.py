"""The data that flows through the hooks: what the user asked for (ContainerSpec) and what plugins add (RunContext).

Plugins contribute data here; the plugin or core module that owns a field applies it:
``mounts`` are applied by the mnt plugin, ``uid_maps``/``gid_maps`` and ``pid_namespace`` by the core's fork protocol, the
``hostname`` by uts, ``masked_paths``/``readonly_paths`` by mnt after /proc exists; ``capabilities`` is the
set the command will hold (filled by the plugin that drops the rest, sec; read by others, e.g. seccomp's
profile conditions); ``privileged`` (filled by the plugin owning ``--privileged``, sec) tells every plugin to
leave its confinement out (seccomp: no filter; mnt: every host device, /sys writable).
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms a command that
if TYPE_CHECKING:      # only reads records: stats, ps, inspect; a start pays it later, with pluggy)
    from typing import Any, Generic, TypeVar

from ._fields import Fields

__all__ = ["StashKey", "Stash", "Mount", "IdMap", "ContainerSpec", "RunContext", "Paths"]

if TYPE_CHECKING:
    T = TypeVar("T")
    D = TypeVar("D")

    class StashKey(Generic[T]):
        """A typed key for ``ctx.stash``; create one per piece of state at module level."""

        __slots__ = ()
else:
    class StashKey:
        """A typed key for ``ctx.stash``; create one per piece of state at module level:
        ``PLAN_KEY = StashKey[Plan]()`` (the subscript is for type checkers; at run time it is this class)."""

        __slots__ = ()

        def __class_getitem__(cls, item: object) -> type:
            return cls


class Stash:
    """Per-run, per-plugin state, typed by StashKey (the pytest pattern). Not shared with the child's copy."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[StashKey[Any], Any] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._data[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return self._data[key]

    def get(self, key: StashKey[T], default: D = None) -> T | D:  # type: ignore[assignment]
        return self._data.get(key, default)

    def pop(self, key: StashKey[T], default: D = None) -> T | D:  # type: ignore[assignment]
        return self._data.pop(key, default)

    def setdefault(self, key: StashKey[T], default: T) -> T:
        return self._data.setdefault(key, default)

    def __contains__(self, key: StashKey[T]) -> bool:
        return key in self._data


class Mount(Fields):
    """One mount inside the container: ``Mount(source, target, fstype=None, flags=0, data=None,
    readonly=False)``. ``target`` is a path inside the container's root; ``readonly`` remounts a bind
    mount read-only afterwards. With ``MS_BIND`` in ``flags``, ``source`` may be an int: a detached mount
    tree (an ``open_tree(OPEN_TREE_CLONE)`` descriptor a child-side hook made), attached as it is and closed."""

    __slots__ = ("source", "target", "fstype", "flags", "data", "readonly")
    _defaults = {"fstype": None, "flags": 0, "data": None, "readonly": False}


class IdMap(Fields):
    """One line of /proc/PID/uid_map or gid_map: ``inside`` maps to ``outside`` for ``count`` ids."""

    __slots__ = ("inside", "outside", "count")

    def line(self) -> str:
        return f"{self.inside} {self.outside} {self.count}\n"


class Paths(Fields):
    """Where one nsrun root keeps its state. ``root`` is persistent; ``run`` is runtime state."""

    __slots__ = ("root", "run")

    @classmethod
    def from_root(cls, root: str | None) -> "Paths":
        if root:
            root = os.path.abspath(root)
            return cls(root=root, run=os.path.join(root, "run"))
        return cls(root="/var/lib/nsrun", run="/run/nsrun")

    @property
    def tag(self) -> str:
        """A short hex tag for this root. Every host-wide kernel object nsrun names (links, nft tables,
        iptables chains, netns) carries it, so two roots never touch each other's objects and a leak check
        or ``gc`` can tell which root owns what. The default root's tag is ``""`` (Docker-like names)."""
        if self.root == "/var/lib/nsrun":
            return ""
        try:  # the builtin module: hashlib loads OpenSSL first (~2.5 ms on every start with --root)
            from _sha1 import sha1
        except ImportError:  # a Python built without it
            from hashlib import sha1
        return sha1(self.root.encode()).hexdigest()[:4]

    @property
    def images(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid)


class ContainerSpec(Fields):
    """What the user asked for; plain data that maps onto an OCI config.json (see ``to_json``).

    ``rootfs`` is ``--rootfs`` (the read-only lower root), or for an image the layer directory holding its
    visible /etc/passwd (where users are looked up); ``layers`` are an image's layer directories, top-most
    first, as overlayfs stacks them (empty for ``--rootfs``); ``options`` holds the values of
    plugin-contributed options by ``dest``. ``config`` is the container's share of the image config, in
    Docker's names (``_imageconfig.apply``): ``Entrypoint`` and ``Cmd`` (``argv`` is both), ``Labels``,
    ``ExposedPorts`` (plugins that publish ports read it), ``StopSignal``; ``env``/``workdir``/``user``
    already hold the merged values. ``groups``: the supplementary group ids (``--group-add``) the core's user
    switch sets, for the command and every ``exec``. ``restart``: the restart policy (``--restart``:
    ``always``, ``unless-stopped``, ``on-failure[:N]``; empty for ``no``), kept by the supervisor.
    ``log_opts``: the json-file driver's options as given (``--log-opt``: ``max-size``, ``max-file``;
    ``_logfile``), by which the supervisor rotates ``container.log``.
    """

    __slots__ = ("id", "name", "argv", "image", "rootfs", "layers", "env", "workdir", "user", "groups", "tty",
                 "interactive", "detach", "remove", "plugins", "options", "config", "restart", "log_opts")
    _defaults = {"image": None, "rootfs": None, "layers": list, "env": dict, "workdir": "/", "user": (0, 0),
                 "groups": list, "restart": "", "log_opts": dict,
                 "tty": False, "interactive": False, "detach": False, "remove": False, "plugins": list,
                 "options": dict, "config": dict}

    def to_json(self) -> dict[str, Any]:
        data = self.to_dict()
        data["user"] = list(self.user)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ContainerSpec":
        kwargs = {k: v for k, v in data.items() if k in cls.__slots__}
        kwargs["user"] = tuple(kwargs.get("user", (0, 0)))
        return cls(**kwargs)


class RunContext:
    """Everything one run shares between the core and its plugins.

    Parent-side hooks may write any field; ``in_child`` runs on a forked copy, so what it writes never
    reaches the parent.
    """

    def __init__(self, spec: ContainerSpec, paths: Paths) -> None:
        self.spec = spec
        self.paths = paths
        self.stash = Stash()
        self.mounts: list[Mount] = []
        self.uid_maps: list[IdMap] = []
        self.gid_maps: list[IdMap] = []
        self.hostname: str | None = None
        self.hosts: list[tuple[str, str]] = [("127.0.0.1", "localhost"), ("::1", "localhost ip6-localhost")]
        self.resolv_conf: str | None = None
        self.masked_paths: list[str] = []
        self.readonly_paths: list[str] = []
        self.capabilities: frozenset[str] | None = None  # the command's capabilities (CAP_X names); None: all
        self.privileged = False            # --privileged (filled by the plugin owning it): every plugin drops its confinement
        self.container_dir = paths.container_dir(spec.id)
        self.root: str | None = None       # the merged root the child pivots into (set by mnt)
        # what mnt lays the overlay over, top-most first (user may swap in idmapped views)
        self.lowerdirs: list[str] = list(spec.layers) or ([spec.rootfs] if spec.rootfs else [])
        self.info: dict[str, Any] = {}     # shown by inspect/ps: plugins add what users should see
        self.warnings: list[str] = []      # printed once by the front end
        self.pid: int | None = None        # the container's init process, as seen from the host
        # descriptors a parent-side hook made for the child (a pipe's read end): the child keeps them when it
        # closes everything else it inherited; make them O_CLOEXEC so the command never gets them
        self.pass_fds: list[int] = []
        # a descriptor on an existing PID namespace the container is born into instead of a new one (-1: none);
        # opened in ``pre_clone`` by the plugin owning ``--pid`` (which closes it in teardown), joined by the
        # core's fork protocol for the container's first process (``setns`` + fork: pid_for_children)
        self.pid_namespace: int = -1
        self.hook: Any = None              # pluggy's hook relay for plugin-defined hooks (HOOKSPECS)

    def host_uid(self, inside: int = 0) -> int:
        """The host uid that ``inside`` maps to (identity without a user namespace)."""
        return _map_id(self.uid_maps, inside)

    def host_gid(self, inside: int = 0) -> int:
        return _map_id(self.gid_maps, inside)

    @property
    def options(self) -> dict[str, Any]:
        return self.spec.options


def _map_id(maps: list[IdMap], inside: int) -> int:
    if not maps:
        return inside
    for m in maps:
        if m.inside <= inside < m.inside + m.count:
            return m.outside + inside - m.inside
    return 65534
