"""The classic Dockerfile builder on nsrun's layered image store.

``Builder(engine, context_dir, options, emit).build()`` runs a Dockerfile step by step as docker's classic
builder (``DOCKER_BUILDKIT=0``) does, printing the same ``Step i/N : ...`` / `` ---> ID`` lines through
``emit``. Every step's result is an image record of the store (untagged, ``parent`` the step before,
``build_key`` its cache key): ``RUN`` runs the command in a container of the default plugins (or those
``nsrun --plugins`` selects) on the step before and commits its changes as a layer (``image.commit``);
``COPY``/``ADD`` write the files into a fresh layer; the other instructions change the config only (a
history entry with ``empty_layer``). The layer cache is those records: the key of a step is the parent's id,
the instruction as expanded (the ``ARG`` values a ``RUN`` sees included) and for ``COPY``/``ADD`` a digest
of the files' names, modes and contents, so an unchanged rebuild makes no container and no layer.

A failing step (a ``RUN`` that exits non-zero: ``The command '...' returned a non-zero code: N``, a missing
file, a bad value) stops the build with a ``BuildError``: nothing is tagged, the step's container and the
layers no record lists are removed; the steps before stay cached, as docker's do.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from typing import Any, Callable

from .._fields import Fields
from ..errors import ConfigError, NotFoundError
from .dockerfile import Dockerfile, DockerfileError, Instruction, parse
from .words import expand, split

__all__ = ["Builder", "BuildOptions", "BuildError"]

DEFAULT_SHELL = ["/bin/sh", "-c"]
# Docker's predefined build args: usable without an ARG, never reported as unconsumed.
_PREDEFINED = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
               "no_proxy", "ALL_PROXY", "all_proxy"}


class BuildError(ConfigError):
    """A build that stopped at one of its steps."""


class BuildOptions(Fields):
    """``dockerfile``: its text; ``tags``: references to tag the result with; ``build_args``; ``target`` (a
    stage name or number: the last stage when None); ``no_cache``; ``labels`` added to the result;
    ``plugins`` the ``RUN`` containers run with (None: the default set); ``pull`` (``always``: pull every
    base image first)."""

    __slots__ = ("dockerfile", "tags", "build_args", "target", "no_cache", "labels", "plugins", "pull")
    _defaults = {"tags": tuple, "build_args": dict, "target": None, "no_cache": False, "labels": dict,
                 "plugins": None, "pull": False}


class _Stage:
    """The state of the stage being built: the current image (record id, whole OCI config, chain ids),
    the ``ARG`` values declared in it, whether a ``CMD`` was set in it."""

    def __init__(self, image_id: str | None, config: dict[str, Any], chains: list[str]) -> None:
        self.image_id, self.config, self.chains = image_id, config, chains
        self.args: dict[str, str | None] = {}
        self.cmd_set = False

    @property
    def runtime(self) -> dict[str, Any]:
        return self.config.setdefault("config", {})

    def env(self) -> dict[str, str]:
        out = {}
        for item in self.runtime.get("Env") or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def words_env(self) -> dict[str, str]:
        """What ``$NAME`` expands to: the ARGs declared, the ENVs over them."""
        return {**{k: v for k, v in self.args.items() if v is not None}, **self.env()}


class _Output:
    """A RUN container's stdout and stderr, as they come, through ``emit`` (stdin: /dev/null). SIGTERM or
    SIGINT to the builder while it runs stops the build: the container is killed (not sent the signal, as a
    foreground run's is: a shell as pid 1 would ignore it) and ``stopped`` says which signal came."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.stopped = 0

    def after_fork(self) -> None:
        pass

    def wait(self, child: Any) -> int:
        import _signal as signal
        from .._io import _pump

        def stop(signum: int, _frame: Any) -> None:
            self.stopped = signum
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            stdio = getattr(child, "stdio", None)
            if stdio is None:
                return child.wait()
            to_stdin, out, err = stdio
            os.close(to_stdin)

            def sink(data: bytes) -> None:
                self.emit(data.decode("utf-8", "replace"))
            _pump(child, {out: sink, err: sink}, -1, -1)
            return child.wait()
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def _short(image_id: str) -> str:
    return image_id[7:19] if image_id.startswith("sha256:") else image_id[:12]


class Builder:
    """One build (see the module's docstring). ``emit(text)`` receives the progress text as it comes."""

    def __init__(self, engine: Any, context_dir: str, options: BuildOptions, emit: Callable[[str], None]) -> None:
        from .context import ContextTree
        self.engine = engine
        self.images = engine.images
        if not os.path.isdir(context_dir):
            raise ConfigError(f"unable to prepare context: path {context_dir!r} not found")
        self.context = ContextTree(context_dir)
        self.options = options
        self.emit = emit
        self.file: Dockerfile = parse(options.dockerfile)
        self.used_args: set[str] = set()
        self.cache: dict[str, str] = {}
        self.stages: list[_Stage] = []
        self.step = 0

    # -- the whole build --------------------------------------------------------------------------------
    def build(self) -> str:
        """Run the build; the id of the image made (tagged with ``options.tags``)."""
        from .._images import normalize
        tags = [normalize(t) for t in self.options.tags]  # a bad -t fails before anything runs
        last = len(self.file.stages) - 1
        if self.options.target is not None:
            found = self.file.stage_index(self.options.target)
            if found is None:
                raise BuildError(f"failed to reach build target {self.options.target} in Dockerfile")
            last = found
        self.total = self.file.steps(last)
        if not self.options.no_cache:
            self.cache = {rec["build_key"]: rec["id"] for rec in self.images.list() if rec.get("build_key")}
        self.global_args = self._global_args()
        with self.images.lease():
            for stage in self.file.stages[:last + 1]:
                self.stages.append(self._stage(stage))
            final = self.stages[-1]
            if self.options.labels:
                self._commit(final, "LABEL " + " ".join(f"{k}={v}" for k, v in self.options.labels.items()),
                             lambda: final.runtime.__setitem__("Labels", {**(final.runtime.get("Labels") or {}),
                                                                          **self.options.labels}))
            if final.image_id is None:  # FROM scratch and nothing else
                self._record(final, None, "", key=None)
        unused = sorted(set(self.options.build_args) - self.used_args - _PREDEFINED)
        if unused:
            self.emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        image_id = final.image_id
        assert image_id is not None
        for tag in tags:
            self.images.tag(image_id, tag)
        return image_id

    def _global_args(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for ins in self.file.args:
            for word in ins.value:
                name, eq, default = word.partition("=")
                if name in self.options.build_args:
                    out[name] = self.options.build_args[name]
                    self.used_args.add(name)
                else:
                    env = {k: v for k, v in out.items() if v is not None}
                    out[name] = expand(default, env, self.file.escape) if eq else None
        return out

    def _announce(self, text: str) -> None:
        self.step += 1
        self.emit(f"Step {self.step}/{self.total} : {text}\n")

    # -- FROM -----------------------------------------------------------------------------------------------
    def _stage(self, stage: Any) -> _Stage:
        self._announce(f"FROM {stage.base}" + (f" AS {stage.name}" if stage.name else ""))
        genv = {k: v for k, v in self.global_args.items() if v is not None}
        base = expand(stage.base, genv, self.file.escape)
        if not base:
            raise BuildError(f"Dockerfile line {stage.line}: base name ({stage.base}) should not be blank")
        state = self._base(base)
        self.emit(f" ---> {_short(state.image_id)}\n" if state.image_id else "")
        triggers = list(state.runtime.get("OnBuild") or [])
        if triggers:
            state.runtime["OnBuild"] = None
            self.emit(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                sub = parse("FROM scratch\n" + text).stages[0].instructions
                for ins in sub:
                    self._instruction(state, ins, announce=False)
        for ins in stage.instructions:
            self._instruction(state, ins)
        return state

    def _base(self, ref: str) -> _Stage:
        from ..image.commit import base_config
        if ref.lower() == "scratch":
            return _Stage(None, base_config(None), [])
        index = self.file.stage_index(ref)
        if index is not None and index < len(self.stages) and not ref.isdigit():
            done = self.stages[index]
            return _Stage(done.image_id, json.loads(json.dumps(done.config)), list(done.chains))
        rec = self._image(ref)
        return _Stage(rec["id"], base_config(rec), list(rec["layers"]))

    def _image(self, ref: str) -> dict[str, Any]:
        """A base image of the store, pulled when missing (or always, with ``pull``)."""
        if not self.options.pull:
            try:
                return self.images.get(ref)
            except NotFoundError:
                pass
        from ..image.service import pull_image
        try:
            return pull_image(self.engine.paths, ref, progress=None, images=self.images)
        except NotFoundError as exc:
            raise BuildError(f"pull access denied for {ref}, repository does not exist or may require "
                             f"'docker login': {exc}") from None

    # -- one instruction --------------------------------------------------------------------------------
    def _instruction(self, state: _Stage, ins: Instruction, announce: bool = True) -> None:
        if announce:
            self._announce(ins.original.partition(" ")[0].upper() + ins.original[len(ins.cmd):])
        if ins.cmd in ("RUN", "COPY", "ADD"):
            getattr(self, "_" + ins.cmd.lower())(state, ins)
        elif ins.cmd == "ARG":
            self._arg(state, ins)
        else:
            self._meta(state, ins)

    def _key(self, state: _Stage, *parts: Any) -> str:
        blob = json.dumps([state.image_id or "scratch", *parts], sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def _cached(self, state: _Stage, key: str) -> bool:
        """Step onto the image the cache has for ``key``; False when there is none."""
        image_id = self.cache.get(key)
        if image_id is None:
            return False
        try:
            rec = self.images.get(image_id)
        except NotFoundError:
            return False
        if not all(self.images.layers.has(c) for c in rec["layers"]):
            return False
        from ..image.commit import base_config
        state.image_id, state.config, state.chains = rec["id"], base_config(rec), list(rec["layers"])
        self.emit(f" ---> Using cache\n ---> {_short(rec['id'])}\n")
        return True

    def _record(self, state: _Stage, layer: dict[str, Any] | None, created_by: str, key: str | None) -> None:
        from ..image.commit import child_config
        config = child_config(state.config, diff_id=layer["diff_id"] if layer else None, created_by=created_by)
        chains = [*state.chains, layer["chain_id"]] if layer else list(state.chains)
        rec = self.images.add(config=config, layers=chains, parent=state.image_id, build_key=key)
        state.image_id, state.config, state.chains = rec["id"], config, chains
        if key:
            self.cache[key] = rec["id"]
        self.emit(f" ---> {_short(rec['id'])}\n")

    def _commit(self, state: _Stage, text: str, change: Callable[[], None], key_extra: Any = None) -> None:
        """A config-only step: ``change()`` edits ``state.config``; recorded (and cached) as ``text``."""
        key = self._key(state, text, key_extra)
        if not self.options.no_cache and self._cached(state, key):
            return
        change()
        self._record(state, None, f"/bin/sh -c #(nop)  {text}", key)

    # -- RUN ----------------------------------------------------------------------------------------------
    def _run(self, state: _Stage, ins: Instruction) -> None:
        if ins.heredocs:
            raise BuildError(f"Dockerfile line {ins.line}: RUN with a heredoc needs BuildKit")
        if ins.flags.get("network"):
            raise BuildError(f"Dockerfile line {ins.line}: RUN --network needs BuildKit")
        shell = list(state.runtime.get("Shell") or DEFAULT_SHELL)
        argv = list(ins.value) if ins.json else shell + [" ".join(ins.value)]
        env = state.env()
        args = {k: v for k, v in state.args.items() if v is not None and k not in env}
        shown = ([f"|{len(args)}"] + [f"{k}={v}" for k, v in sorted(args.items())] if args else []) + argv
        key = self._key(state, "RUN", shown)
        if not self.options.no_cache and self._cached(state, key):
            return
        if state.image_id is None or not state.chains:
            raise BuildError(f"Dockerfile line {ins.line}: RUN on an empty image (FROM scratch): nothing to run")
        engine = self.engine
        loaded, ctx = engine.prepare(argv=argv, image=state.image_id, env=args, entrypoint=[""],
                                     plugins=self.options.plugins)
        record = engine.create(ctx)
        self.emit(f" ---> Running in {record.id[:12]}\n")
        try:
            output = _Output(self.emit)
            status = engine.run(loaded, ctx, record, output)
            if output.stopped:
                raise BuildError(f"the build was stopped (signal {output.stopped}) while running: {' '.join(shown)}")
            if status != 0:
                raise BuildError(f"The command '{' '.join(shown)}' returned a non-zero code: {status}")
            from ..image.commit import container_changes, new_layer
            found = container_changes(engine, engine.store.load(record.id) or record)
            layer = new_layer(self.images, found["upper"], state.chains[-1] if state.chains else None,
                              skip=found.get("skip") or (), owner=tuple(found.get("owner") or (0, 0)))
        finally:
            engine.store.remove(record.id)
        self.emit(f"Removing intermediate container {record.id[:12]}\n")
        try:
            self._record(state, layer, " ".join(shown), key)
        except BaseException:
            self.images.free_layers([layer["chain_id"]])
            raise

    # -- COPY, ADD ----------------------------------------------------------------------------------------
    def _copy(self, state: _Stage, ins: Instruction) -> None:
        self._files(state, ins, "COPY")

    def _add(self, state: _Stage, ins: Instruction) -> None:
        self._files(state, ins, "ADD")

    def _source_tree(self, ins: Instruction) -> Any:
        from .context import LayersTree
        source = ins.flags.get("from")
        if not source:
            return self.context
        genv = {k: v for k, v in self.global_args.items() if v is not None}
        source = expand(source, genv, self.file.escape)
        index = self.file.stage_index(source)
        if index is not None:
            if index >= len(self.stages):
                raise BuildError(f"Dockerfile line {ins.line}: COPY --from={source}: that stage is not built yet "
                                 f"(a stage can copy only from the stages before it)")
            chains = self.stages[index].chains
        else:
            chains = self._image(source)["layers"]
        return LayersTree([self.images.layers.path(c) for c in reversed(chains)])

    def _files(self, state: _Stage, ins: Instruction, what: str) -> None:
        from .context import ContextTree, resolve_sources, tree_digest
        env = state.words_env()
        words = list(ins.value) if ins.json else [w for v in ins.value for w in split(v, env, self.file.escape)]
        if ins.json:
            words = [expand(w, env, self.file.escape) for w in words]
        if len(words) < 2:
            raise BuildError(f"Dockerfile line {ins.line}: {what} requires at least two arguments")
        sources, dest = words[:-1], words[-1]
        for s in sources:
            if "://" in s:
                raise BuildError(f"Dockerfile line {ins.line}: {what} from a URL ({s}) is not supported by nsrun's "
                                 f"builder: download it in a RUN step")
        tree = self._source_tree(ins)
        rels = resolve_sources(tree, sources, what)
        chown = expand(ins.flags.get("chown", ""), env, self.file.escape) or None
        chmod = ins.flags.get("chmod")
        if chmod is not None and not (chmod.isdigit() and all(c in "01234567" for c in chmod)):
            raise BuildError(f"Dockerfile line {ins.line}: --chmod={chmod}: an octal mode is required")
        workdir = state.runtime.get("WorkingDir") or "/"
        target = os.path.normpath(os.path.join(workdir, dest))
        into_dir = dest.endswith("/") or dest in (".", "..") or len(rels) > 1 or self._is_dir(state, target)
        digest = tree_digest(tree, rels)
        key = self._key(state, what, digest, target, into_dir, chown, chmod,
                        "context" if isinstance(tree, ContextTree) else ins.flags.get("from"))
        if not self.options.no_cache and self._cached(state, key):
            return
        owner = self._owner(state, chown) if chown else (0, 0)
        from ..image.commit import new_layer
        with self.images.layers.scratch() as tmp:
            changes = os.path.join(tmp, "diff")
            for rel in rels:
                self._place(state, tree, rel, changes, target, into_dir, owner, chmod, unpack=what == "ADD")
            layer = new_layer(self.images, changes, state.chains[-1] if state.chains else None)
        try:
            self._record(state, layer, f"/bin/sh -c #(nop) {what} {'dir' if into_dir else 'file'}:"
                         f"{digest[7:]} in {target} ", key)
        except BaseException:
            self.images.free_layers([layer["chain_id"]])
            raise

    def _lowers(self, state: _Stage) -> list[str]:
        return [self.images.layers.path(c) for c in reversed(state.chains)]

    def _is_dir(self, state: _Stage, path: str) -> bool:
        from .context import LayersTree
        return bool(state.chains) and LayersTree(self._lowers(state)).kind(path.lstrip("/")) == "dir"

    def _owner(self, state: _Stage, chown: str) -> tuple[int, int]:
        from .._parse import parse_user
        from ..errors import NsrunError
        if not state.chains:
            user, _, group = chown.partition(":")
            if user.isdigit() and (not group or group.isdigit()):
                return int(user), int(group or user)
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: {chown}: no /etc/passwd")
        lowers = self._lowers(state)
        from ..image.store import visible_root
        users = visible_root(lowers, "etc/passwd") or lowers[0]
        try:
            uid, gid = parse_user(chown, users)
        except NsrunError as exc:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: {exc}") from None
        if ":" not in chown and not chown.isdigit():
            return uid, gid
        return uid, gid if ":" in chown else uid

    def _parents(self, state: _Stage, changes: str, target: str) -> None:
        """Make the directories above ``target`` in ``changes`` as the image has them (else root 0755)."""
        from .context import LayersTree
        tree = LayersTree(self._lowers(state)) if state.chains else None
        parts = [p for p in target.split("/") if p][:-1]
        for k in range(1, len(parts) + 1):
            rel = "/".join(parts[:k])
            path = os.path.join(changes, rel)
            if os.path.isdir(path):
                continue
            os.mkdir(path, 0o755)
            host = tree.host(rel) if tree else None
            if host and os.path.isdir(host) and not os.path.islink(host):
                st = os.lstat(host)
                os.chown(path, st.st_uid, st.st_gid)
                os.chmod(path, stat.S_IMODE(st.st_mode))

    def _place(self, state: _Stage, tree: Any, rel: str, changes: str, target: str, into_dir: bool,
               owner: tuple[int, int], chmod: str | None, unpack: bool) -> None:
        from .context import walk
        host = tree.host(rel)
        assert host is not None
        is_dir = os.path.isdir(host) and not os.path.islink(host)
        if unpack and not is_dir and _is_archive(host):
            dest = target.lstrip("/")
            self._parents(state, changes, "/" + dest + "/x")
            os.makedirs(os.path.join(changes, dest), exist_ok=True)
            from .context import extract_tar
            with open(host, "rb") as f:
                extract_tar(f, os.path.join(changes, dest), f"ADD {rel}")
            return
        if is_dir:
            dest = target.lstrip("/")
        else:
            dest = (target.rstrip("/") + "/" + os.path.basename(rel)).lstrip("/") if into_dir else target.lstrip("/")
        self._parents(state, changes, "/" + dest + ("/x" if is_dir else ""))
        for sub, src, st in walk(tree, rel):
            out = os.path.join(changes, dest, sub) if sub else os.path.join(changes, dest)
            mode = stat.S_IMODE(st.st_mode) if chmod is None else int(chmod, 8)
            if stat.S_ISDIR(st.st_mode):
                if not os.path.isdir(out):
                    os.mkdir(out, 0o700)
            elif stat.S_ISLNK(st.st_mode):
                if os.path.lexists(out):
                    os.unlink(out)
                os.symlink(os.readlink(src), out)
                os.lchown(out, *owner)
                continue
            elif stat.S_ISREG(st.st_mode):
                if os.path.lexists(out):
                    os.unlink(out)
                shutil.copyfile(src, out, follow_symlinks=False)
            else:
                continue  # devices, fifos, sockets of a context are not copied
            os.chown(out, *owner)
            os.chmod(out, mode)
            os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    # -- ARG and the config-only instructions -------------------------------------------------------------
    def _arg(self, state: _Stage, ins: Instruction) -> None:
        env = state.words_env()
        changed = []
        for word in ins.value:
            name, eq, default = word.partition("=")
            if name in self.options.build_args:
                value: str | None = self.options.build_args[name]
                self.used_args.add(name)
            elif eq:
                value = expand(default, env, self.file.escape)
            else:
                value = self.global_args.get(name)
            state.args[name] = value
            changed.append(f"{name}={value}" if value is not None else name)
        self._commit(state, "ARG " + " ".join(changed), lambda: None)

    def _meta(self, state: _Stage, ins: Instruction) -> None:
        env = state.words_env()
        esc = self.file.escape
        rt = state.runtime
        cmd = ins.cmd
        text = ins.original.partition(" ")[2].strip()
        line = ins.line

        def command() -> list[str]:
            if ins.json:
                return list(ins.value)
            return list(rt.get("Shell") or DEFAULT_SHELL) + [" ".join(ins.value)]
        change: Callable[[], None]
        if cmd in ("ENV", "LABEL"):
            values = list(ins.value)
            pairs = {expand(values[i], env, esc): expand(values[i + 1], env, esc) for i in range(0, len(values) - 1, 2)}
            if any(not k for k in pairs):
                raise BuildError(f"Dockerfile line {line}: {cmd} names must not be empty")
            text = " ".join(f"{k}={v}" for k, v in pairs.items())
            if cmd == "ENV":
                def change() -> None:
                    kept = [e for e in rt.get("Env") or [] if e.partition("=")[0] not in pairs]
                    rt["Env"] = kept + [f"{k}={v}" for k, v in pairs.items()]
            else:
                def change() -> None:
                    rt["Labels"] = {**(rt.get("Labels") or {}), **pairs}
        elif cmd == "WORKDIR":
            path = os.path.normpath(os.path.join(rt.get("WorkingDir") or "/", expand(ins.value[0], env, esc)))
            self._workdir(state, path, f"WORKDIR {path}")
            return
        elif cmd == "USER":
            user = expand(ins.value[0], env, esc)
            text = user

            def change() -> None:
                rt["User"] = user
        elif cmd == "STOPSIGNAL":
            from .._parse import parse_signal
            sig = expand(ins.value[0], env, esc)
            parse_signal(sig)
            text = sig

            def change() -> None:
                rt["StopSignal"] = sig
        elif cmd == "EXPOSE":
            ports = {}
            for item in (w for v in ins.value for w in split(v, env, esc)):
                port, _, proto = item.partition("/")
                lo, _, hi = port.partition("-")
                if not lo.isdigit() or (hi and not hi.isdigit()) or proto.lower() not in ("", "tcp", "udp", "sctp"):
                    raise BuildError(f"Dockerfile line {line}: invalid containerPort: {item}")
                for p in range(int(lo), int(hi or lo) + 1):
                    ports[f"{p}/{proto.lower() or 'tcp'}"] = {}
            text = " ".join(ports)

            def change() -> None:
                rt["ExposedPorts"] = {**(rt.get("ExposedPorts") or {}), **ports}
        elif cmd == "VOLUME":
            vols = list(ins.value) if ins.json else [w for v in ins.value for w in split(v, env, esc)]
            if any(not v.strip() for v in vols):
                raise BuildError(f"Dockerfile line {line}: VOLUME specified can not be an empty string")
            text = json.dumps(vols)

            def change() -> None:
                rt["Volumes"] = {**(rt.get("Volumes") or {}), **{v: {} for v in vols}}
        elif cmd in ("CMD", "ENTRYPOINT"):
            argv = command()
            text = json.dumps(argv)
            if cmd == "CMD":
                state.cmd_set = True

                def change() -> None:
                    rt["Cmd"] = argv
            else:
                def change() -> None:
                    rt["Entrypoint"] = argv
                    if not state.cmd_set:
                        rt["Cmd"] = None
        elif cmd == "SHELL":
            if not ins.json:
                raise BuildError(f"Dockerfile line {line}: SHELL requires the arguments to be in JSON form")
            shell = list(ins.value)
            text = json.dumps(shell)

            def change() -> None:
                rt["Shell"] = shell
        elif cmd == "HEALTHCHECK":
            check = _healthcheck(ins)
            text = json.dumps(check)

            def change() -> None:
                rt["Healthcheck"] = check
        elif cmd == "ONBUILD":
            trigger = ins.original.partition(" ")[2].strip()
            text = f"ONBUILD {trigger}"

            def change() -> None:
                rt["OnBuild"] = [*(rt.get("OnBuild") or []), trigger]
        elif cmd == "MAINTAINER":
            author = " ".join(ins.value)

            def change() -> None:
                state.config["author"] = author
        else:  # parse() lets only known instructions through
            raise DockerfileError(f"Dockerfile line {line}: unknown instruction: {cmd}")
        self._commit(state, f"{cmd} {text}" if cmd != "ONBUILD" else text, change)

    def _workdir(self, state: _Stage, path: str, text: str) -> None:
        """``WORKDIR``: the config, and the directory made in a layer when the image lacks it."""
        key = self._key(state, text)
        if not self.options.no_cache and self._cached(state, key):
            return
        state.runtime["WorkingDir"] = path
        if path == "/" or self._is_dir(state, path):
            self._record(state, None, f"/bin/sh -c #(nop)  {text}", key)
            return
        from ..image.commit import new_layer
        with self.images.layers.scratch() as tmp:
            changes = os.path.join(tmp, "diff")
            self._parents(state, changes, path + "/x")
            layer = new_layer(self.images, changes, state.chains[-1] if state.chains else None)
        try:
            self._record(state, layer, f"/bin/sh -c #(nop)  {text}", key)
        except BaseException:
            self.images.free_layers([layer["chain_id"]])
            raise


def _duration(text: str, flag: str, line: int) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds."""
    import re
    units = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise BuildError(f"Dockerfile line {line}: HEALTHCHECK --{flag}={text}: not a duration (e.g. 30s)")
    return int(sum(float(n) * units[u] for n, u in parts))


def _healthcheck(ins: Instruction) -> dict[str, Any]:
    words = list(ins.value)
    kind = words[0].upper()
    if kind == "NONE":
        if len(words) > 1:
            raise BuildError(f"Dockerfile line {ins.line}: HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD" or len(words) < 2:
        raise BuildError(f"Dockerfile line {ins.line}: HEALTHCHECK needs CMD COMMAND or NONE")
    test = ["CMD", *words[1:]] if ins.json else ["CMD-SHELL", " ".join(words[1:])]
    out: dict[str, Any] = {"Test": test}
    for flag, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                        ("start-interval", "StartInterval")):
        if flag in ins.flags:
            out[field] = _duration(ins.flags[flag], flag, ins.line)
    if "retries" in ins.flags:
        if not ins.flags["retries"].isdigit():
            raise BuildError(f"Dockerfile line {ins.line}: HEALTHCHECK --retries must be a number")
        out["Retries"] = int(ins.flags["retries"])
    return out


def _is_archive(path: str) -> bool:
    """A local tar (plain, gzip, bzip2, xz): ``ADD`` unpacks it."""
    import tarfile
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
