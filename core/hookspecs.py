"""The whole contract between the nsrun core and its plugins.

``[parent]`` hooks run in the nsrun process (the CLI in embedded mode, or a container's supervisor);
``[child]`` hooks run in the forked container process, inside its new namespaces, before ``execve``.

Order of one run (details and the sync messages: ``_spawn.py``)::

    configure  -> pre_clone -> fork/unshare -> post_start -> (child) in_child -> before_exec -> exec
    ... wait for exit ...  -> teardown (always; every plugin; reverse pipeline order)

Hooks are called with keyword arguments; an implementation may accept any subset of them, so adding an
argument later never breaks an existing plugin.

Order: pluggy calls every hook, in pipeline order (the plugins' ``ORDER``, lower first: they are registered
in reverse, so pluggy's last-registered-first IS that order). ``tryfirst``/``trylast`` mean what pluggy says
(mnt, which must pivot_root after every other ``in_child``, marks itself ``trylast``), and hook wrappers
(``@hookimpl(wrapper=True)``) wrap every implementation of the hook. Hooks a plugin defines in its
``HOOKSPECS`` run in the same order. Results are pluggy's: a list of the non-None returns.

pluggy's resolution of a selection is remembered (``_plan``) and the next load of the same selection calls
the same functions in the same order without pluggy, as long as the plugins' marked functions and these
specifications are unchanged; a selection with a hook wrapper, or an implementation that is not a
module-level function, always goes through pluggy.

Three hooks are called implementation by implementation, because every plugin must get its turn and each
failure must name its plugin: ``teardown`` (reverse pipeline order), ``gc`` and ``collect``. A hook wrapper on
any of them is refused when the plugin is loaded (``PluginError``): there would be no single call for it to wrap.

Any other failure stops the hook and the run; the exception carries the name of the plugin that raised it
(an OSError from ``post_start`` becomes ``SetupError(plugin=...)``; the child reports ``{stage, plugin}``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._context import ContainerSpec, Paths, RunContext
    from ._fieldsource import FieldSource
    from ._routes import Route

PROJECT = "nsrun"
hookspec = pluggy.HookspecMarker(PROJECT)
from ._hookimpl import hookimpl  # noqa: E402 - pluggy's marker, without pluggy (see there)


@hookspec
def configure(ctx: RunContext) -> None:
    """[parent] Validate this plugin's options and fill in defaults. Create nothing.

    Runs for every selected plugin before anything exists, so bad input fails with nothing to undo.
    Raise ``ConfigError`` with a one-line message; append to ``ctx.warnings`` for what Docker only warns about.
    """


@hookspec
def pre_clone(ctx: RunContext) -> int | None:
    """[parent] Reserve host resources and contribute data; return the CLONE_NEW* bits you need (or None);
    the core ORs every plugin's bits.

    Contribute by appending to ``ctx.mounts``, ``ctx.uid_maps``/``ctx.gid_maps``, ``ctx.hosts`` and so on.
    Record each thing you create in ``ctx.stash`` under your own ``StashKey`` only after it exists.
    Raising aborts the run; ``teardown`` still runs for every plugin.
    """


@hookspec
def pre_join(ctx: RunContext) -> None:
    """[parent] ``nsrun exec`` only: before a process forks to join the running container (no ``configure``,
    ``pre_clone`` or ``in_child`` run for it). Read here what your ``before_exec`` needs from the host — the
    joining child cannot once it is in the container's mount namespace. ``ctx.spec`` is the container's,
    with the exec's command, environment, user and working directory.
    """


@hookspec
def post_join(ctx: RunContext, pid: int) -> None:
    """[parent] ``nsrun exec`` only: the joining process ``pid`` exists, parked in the container's namespaces,
    and runs nothing of the user's until every implementation returned. Place it here from the host (the
    cgroup plugin moves it into the container's cgroups), as ``post_start`` does for a container's first
    process. An exception kills it and fails the exec.
    """


@hookspec
def post_userns(ctx: RunContext, pid: int) -> None:
    """[parent] Only with CLONE_NEWUSER: child ``pid`` is alone in its new user namespace, maps written.

    No other namespace of the child exists yet, so a mount made now on the host (an idmapped view of the
    image through ``/proc/<pid>/ns/user``) is copied into the child's mount namespace when it is created.
    Record it in ``ctx.stash``; undo it in ``post_start`` (the child has its copy) or ``teardown``.
    """


@hookspec
def post_start(ctx: RunContext, pid: int) -> None:
    """[parent] The child ``pid`` exists in its new namespaces and is parked before ``in_child``.

    Wire it up from outside: veth into ``/proc/<pid>/ns/net``, firewall rules. The child goes on only after
    every implementation returned, so the user's command always starts with its network in place.
    The id maps (``ctx.uid_maps``) were already written by the core. Raising kills the child; teardown runs.
    """


@hookspec
def post_exec(ctx: RunContext, pid: int) -> None:
    """[parent] The container's command runs: ``pid`` (the container's first process) has exec'd.

    After every ``post_start`` and the core's ``running`` record, once the child's ``execve`` succeeded; not
    for an OCI ``create`` (whose process leaves with the container parked) nor for ``nsrun exec``. Must not
    block: reap a helper that finished, drop what was only needed until the command ran. Raising kills the
    container; teardown runs.
    """


@hookspec
def in_child(ctx: RunContext) -> None:
    """[child] Do what only the process itself can: hostname, mounts, pivot_root, bring ``lo`` up.

    Runs on a forked copy of the context: nothing written here reaches the parent. No threads, no event
    loops, no heavy imports. An exception is reported to the parent as ChildSetupError naming this plugin.
    """


@hookspec
def before_exec(ctx: RunContext) -> None:
    """[child] The last step before ``execve``, after every ``in_child``: drop privileges here.

    The root is already switched; capabilities dropped here stay dropped for the user's command.
    """


@hookspec
def wrap_exec(ctx: RunContext, joining: bool) -> None:
    """[child] The very last step before ``execve``: after every ``before_exec``, the working directory and
    the switch to the container's user. ``joining`` is True for ``nsrun exec`` (a process joining a running
    container), False for the container's own command.

    A plugin may put a process in front of the command here: ``nsrun.fork_command()`` forks; the new process
    returns from the hook and execs the command, the caller stays (the pid plugin's ``--init`` reaper as PID
    1) and ends with ``os._exit``. It runs under whatever ``before_exec`` set (capabilities, seccomp).
    """


@hookspec
def teardown(ctx: RunContext, status: int | None) -> None:
    """[parent] Undo exactly what ``ctx.stash`` says you created. Idempotent; never raise for "already gone".

    Called once per plugin, in reverse pipeline order, always — after success, failure or a partial
    start (``status`` is None when the command never ran). One plugin's failure never stops another's.
    """


@hookspec
def collect(paths: Paths, cid: str, info: dict[str, Any]) -> list[str] | None:
    """[parent] The container ``cid`` is gone for good (``nsrun-oci delete``: its processes are dead and its
    record is removed next): remove what you made for it that outlives it — exactly what you recorded in its
    ``info`` (``ctx.info`` as saved when it was created; ``{}`` when its creation was cut short, before that),
    without scanning for other containers' leftovers (that is ``gc``'s job).

    Called for the container's own plugins, each on its own, in pipeline order; raising is reported as one
    line naming you and the others go on. No hook wrappers. A plugin that implements ``gc`` and not this
    hook has its ``gc`` called instead (this container not in ``live``). The implementations are resolved
    when the container is created and called from that record without a plugin manager: keep yours a
    module-level function of your plugin's module (anything else is still called, through pluggy).
    Return human-readable lines describing what you removed.
    """


@hookspec
def preload() -> None:
    """[fork server] Import now what your parent-side hooks will import later (pyroute2, libnftables), so
    that supervisors forked from a warm fork server (the daemon's) pay no import. Open nothing, start no
    thread: the fork server forks after this.
    """


@hookspec
def gc(paths: Paths, live: frozenset[str], reset: bool) -> list[str] | None:
    """[parent] Reconcile leftovers: remove what you own under ``paths`` for container ids not in ``live``.

    Called by ``nsrun gc`` after a crash or ``kill -9``, for every installed plugin (selected or not), each
    on its own and in pipeline order: raising is reported as one line naming you, and the others go on.
    To reach what other installed plugins made through a hook you define, call it on
    ``nsrun.installed_hooks()`` (the net plugin asks every firewall backend).
    With ``reset`` (``nsrun system reset``) ``live`` is empty and shared objects go too (networks,
    bridges, tables): leave the host as nsrun found it. Only touch objects of this root (``paths.tag``).
    Return human-readable lines describing what you removed.
    """


# -- front ends: each plugin maps the fields it owns --------------------------------------------------------

@hookspec
def docker_create(fields: FieldSource) -> dict[str, Any] | None:
    """[daemon] Map the fields you own of a Docker ``POST /containers/create`` body onto your options.

    ``fields`` holds the whole body (``Hostname``, ``HostConfig.Init``, ``NetworkingConfig`` ...). Call
    ``fields.take("HostConfig.Init", bool)`` for each field you own: it returns the value when the client
    set it (None for a zero value, which is what the docker CLI sends for options the user did not give)
    and marks it handled. Return ``{dest: value}`` for your ``OPTIONS``; raise ``ConfigError`` for a value
    you cannot honour. Called for the plugins the daemon runs containers with (``nsrun --plugins L daemon``,
    else the default set). A field that is set and that neither the core nor one of those plugins took is
    refused with HTTP 400 naming it: no field is ever accepted and ignored.
    """


@hookspec
def docker_view(options: dict[str, Any], info: dict[str, Any], view: dict[str, Any]) -> None:
    """[daemon] Fill in the fields you own of a container's Docker view (``GET /containers/{id}/json`` and
    the items of ``/containers/json``) from your options (``options[dest]``: what the container was
    created with) and what you reported at start (``info``, see ``RunContext.info``).

    ``view`` already holds the core's fields and empty ``Config``, ``HostConfig`` and ``NetworkSettings``
    objects; set or update the keys you own (``view["HostConfig"]["Init"]``). Called for the container's
    own plugins only. Pure: no I/O.
    """


@hookspec
def container_stats(options: dict[str, Any], info: dict[str, Any], pids: list[int], stats: dict[str, Any]) -> None:
    """[any] Update the parts you measure better of one sample of a running container's stats (``nsrun
    stats``, ``GET /containers/{id}/stats``), in Docker's stats JSON: ``cpu_stats``, ``memory_stats``,
    ``pids_stats``, ``blkio_stats``, ``networks``.

    ``stats`` already holds the core's figures: the processes of the container's pid namespace (``pids``,
    host view) from /proc, replaced part by part by the files of the cgroup recorded in
    ``info["Cgroup"]`` (``{"version": 1|2, "paths": {controller: dir}}``) when a plugin recorded one.
    Called for the container's own plugins, about once a second per container, in the CLI or a daemon
    worker thread: read files, keep it fast (100 containers are sampled in well under 100 ms), never fork.
    """


@hookspec
def oci_config(fields: FieldSource) -> dict[str, Any] | None:
    """[OCI front end] Map the parts of an OCI runtime-spec ``config.json`` you own onto your options, the
    same way as ``docker_create`` (``fields.take("hostname", str)``, ``fields.take("linux.seccomp", dict)``).
    Sections that nobody takes are refused by name."""


@hookspec(firstresult=True)
def container_freeze(paths: Paths, cid: str, frozen: bool) -> bool | None:
    """[OCI front end] ``nsrun-oci pause``/``resume``: freeze (``frozen``) or thaw every process of the
    running container ``cid`` (its record's full id under ``paths``) and record it (``info["State"]["Paused"]``).
    Return True when done; None when you do not own what it takes (the first impl that returns wins; none
    means the front end refuses). Raise ConflictError for the wrong state (already paused, no cgroup)."""


@hookspec(firstresult=True)
def container_resources(paths: Paths, cid: str, resources: dict[str, Any]) -> bool | None:
    """[OCI front end] ``nsrun-oci update``: apply ``resources`` (a runtime-spec ``LinuxResources`` object:
    ``memory.limit``, ``cpu.shares``, ``pids.limit`` ...) to the running container ``cid`` live. Return True
    when applied; None when not yours. Raise ConfigError naming a part you cannot apply."""


@hookspec
def daemon_routes() -> list[Route] | None:
    """[daemon] HTTP endpoints you add to ``nsrun daemon`` (e.g. the net plugin's ``/networks``), as
    ``nsrun.Route(method, path, handler)``; served with and without the ``/v1.NN`` prefix. Called once at
    daemon start for every installed plugin. See ``nsrun.Route`` for the handler's contract.
    """


@hookspec
def event_objects(paths: Paths) -> list[dict[str, Any]] | None:
    """[daemon] The objects you own, for ``GET /events`` (the daemon polls every installed plugin a few times a
    second while a client follows events, and diffs the answers): a list of ``{"Type": "network"|"volume"|...,
    "ID": ..., "Attributes": {...}, "members": {container id: {attributes}}, "join": action, "leave": action}``.
    An object that appears is a ``create`` event, one that goes a ``destroy``; a container id that appears in
    ``members`` a ``join`` event (the net plugin's ``connect``, the mnt plugin's ``mount``), one that goes a
    ``leave`` (``disconnect``, ``unmount``), its attributes merged with the object's and ``container``.
    Read files only (no kernel objects, no locks held long): it runs in a worker thread per poll."""


@hookspec
def docker_info(info: dict[str, Any]) -> None:
    """[daemon] Add what you own to ``GET /info`` (a network driver to ``info["Plugins"]["Network"]``, a
    security option to ``info["SecurityOptions"]``). Called for every installed plugin; no I/O."""


@hookspec
def disk_usage(paths: Paths) -> dict[str, list[dict[str, Any]]] | None:
    """[parent] What you keep on disk under ``paths.root`` that ``system df`` (``GET /system/df``) counts, by
    Docker's section: ``{"Volumes": [Docker's volume object with "UsageData": {"Size": bytes, "RefCount":
    containers using it}]}`` (the mnt plugin's volumes). The lists of every installed plugin are joined.
    Reads files only."""


# -- a container's file system changes ----------------------------------------------------------------------

@hookspec(firstresult=True)
def container_changes(container_dir: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """[parent] Where the file system writes of the container in ``container_dir`` are, for ``nsrun commit``,
    ``diff`` and the builder's ``RUN`` steps: ``{"upper": DIR, "skip": [PATH...], "owner": (UID, GID)}``.

    ``upper`` is an overlayfs upper directory (whiteouts as 0/0 character devices, opaque directories marked
    with ``trusted.overlay.opaque``/``user.overlay.opaque``); ``skip`` lists paths (relative to the root)
    that are your own mount points, left out of a commit when they are empty files or directories (Docker's
    init layer: ``etc/hosts``...); ``owner`` is the host uid/gid the container's root had (files of a user
    namespace's container are shifted back by it). The first plugin that answers wins (the one that made
    the container's root); None when you did not make it. No I/O but reading the container's directory.
    """


@hookspec(firstresult=True)
def container_mount(container_dir: str, spec: ContainerSpec, mounts: list[dict[str, Any]], target: str
                    ) -> bool | None:
    """[helper] Mount the root file system of the **stopped** container in ``container_dir`` on the empty
    directory ``target``, as the container sees it: its image and its own writes, then ``mounts`` (its
    inspect ``Mounts``: ``Type`` bind or volume, ``Source``, ``Destination``, ``RW``; empty for ``export``,
    which leaves volumes out as Docker's does) on their destinations, resolved inside the root. For
    ``docker cp`` to and from a stopped container and ``export``. The caller runs in a mount namespace of its
    own, made private; what you mount goes away with it. True when done; None when you did not make the
    container's root (the first plugin that answers wins). Writes through ``target`` land where the
    container's would (its upper directory, its volumes).
    """


# -- image sources ------------------------------------------------------------------------------------------

@hookspec
def image_transports() -> list[Any] | None:
    """[parent] The image transports you provide: objects with a ``name`` (the prefix that selects them, as
    skopeo's and podman's do: ``nsrun pull NAME:LOCATION``) and ``pull(paths=, images=, location=,
    progress=, platform=, options=)`` returning the image records it added to ``images`` (the store), each
    with ``loaded``: the names it was given. Optionally ``push(paths=, images=, ref=, location=, progress=,
    options=)`` writing the store's image ``ref`` to ``location``. Called with keywords; accept ``**_`` for
    arguments added later. A pull that fails leaves nothing in the store (free the layers you made:
    ``images.free_layers``). Called for every installed plugin, selected or not; the first transport of a
    name wins (pipeline order). The built-ins (``docker``: registries, what a plain reference means;
    ``docker-archive``; ``oci-archive``) come through this hook too. No I/O when called.
    """
