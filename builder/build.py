"""dunnage build: a parsed Dockerfile (builder/dockerfile.py) run step by step.

Each stage starts from its FROM (an image, pulled if missing, `scratch`, or an earlier
stage's result) and carries a state, an OCI image config; every instruction makes the next
state: metadata instructions change the config, RUN runs a container on the union
filesystem (builder/run.py), COPY and ADD write a layer from the context (builder/copy.py).
Only the stages the target needs are built.  Every step is looked up in the cache
(builder/cache.py) first, under a key chained from the step before (the base image's id,
then each step's key with its instruction after substitution, the build args it used and
its sources' checksum): a rebuild with nothing changed runs nothing and gives the same
image.  The result is an image like any other; its history has a line per instruction."""
from __future__ import annotations

import copy as _copy
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from dunnage.core.errors import DunnageError, InvalidParameter, System
from dunnage.core.images.oci import parse_platform
from dunnage.core.images.reference import ImageError, parse_ref

from . import cache as _cache
from . import copy as _cp
from . import layers
from . import mounts as _mounts
from .dockerfile import (Dockerfile, DockerfileError, Instruction, Stage, meta_env, needed_stages, parse,
                         parse_onbuild, platform_args, stage_base, stage_deps, stage_platform)
from .progress import Progress
from .run import RunFailed, run_step

DEFAULT_SHELL = ["/bin/sh", "-c"]
COMMENT = "buildkit.dockerfile.v0"
METADATA = ("ENV", "LABEL", "USER", "CMD", "ENTRYPOINT", "EXPOSE", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
            "ONBUILD", "MAINTAINER")


@dataclass
class Options:
    """One build's request (the command line's flags, the API's query)."""
    dockerfile: str                       # the Dockerfile's text
    context: Optional[str] = None         # a directory (None: no context, `-f -` alone)
    excluded: Callable[[str], bool] = lambda rel: False
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: Optional[str] = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: Optional[str] = None
    epoch: Optional[int] = None           # SOURCE_DATE_EPOCH
    dockerfile_name: str = "Dockerfile"
    secrets: dict[str, str] = field(default_factory=dict)  # --secret id -> file (RUN --mount=type=secret)


class BuildCancelled(System):
    """A stage stopped because another failed (or ctrl-c)."""


class StepFailed(RunFailed):
    """A RUN that failed, named by its step: "[2/3] RUN false: process ... exit code: 1"."""


PROXY_ARGS = ("http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy")


def proxy_env(build_args: dict[str, str]) -> list[str]:
    """The predefined proxy ARGs (any case) as BuildKit hands them to every RUN without an ARG
    (proxyEnvFromBuildArgs, then the exec's proxyEnvList): each as NAME and name, the last
    of the sorted keys winning; never in the image's config, its history or a cache key."""
    found: dict[str, str] = {}
    for k in sorted(build_args):
        if k.lower() in PROXY_ARGS:
            found[k.lower()] = build_args[k]
    return [f"{n}={found[p]}" for p in PROXY_ARGS if found.get(p) for n in (p.upper(), p)]


def normalize_tags(tags: list[str]) -> list[str]:
    out = []
    for t in tags:
        try:
            out.append(":".join(parse_ref(t)))
        except ImageError:
            raise InvalidParameter(f'invalid argument "{t}" for "-t, --tag" flag: invalid reference format') from None
    return out


class Builder:
    def __init__(self, engine, opts: Options, progress: Optional[Progress] = None):
        self.engine, self.opts = engine, opts
        self.progress = progress or Progress()
        self.cache = _cache.Cache(engine)
        self.tags = normalize_tags(opts.tags)
        self.tmp: Optional[Path] = None
        self.used_args: set[str] = set()
        sde = opts.build_args.get("SOURCE_DATE_EPOCH")
        if opts.epoch is None and sde:  # BuildKit's build arg (how the API and compose pass it)
            if not sde.isdigit():
                raise InvalidParameter(f"invalid SOURCE_DATE_EPOCH: {sde}", 1)
            opts.epoch = int(sde)
            self.used_args.add("SOURCE_DATE_EPOCH")
        self.proxy_env = proxy_env(opts.build_args)
        self.used_args.update(k for k in opts.build_args if k.lower() in PROXY_ARGS)
        self.states: dict[int, dict] = {}
        self.keys: dict[int, str] = {}
        self.keep: set[str] = set()
        self.stage_names: dict[int, Optional[str]] = {}
        self.sums: Optional[_cp.Sums] = None
        self.lock = threading.Lock()
        self.cancelled = threading.Event()
        self.active: set[str] = set()  # RUN containers running now

    # ---------------------------------------------------------------- the build
    def build(self):
        """Run the build; the image (tagged as asked)."""
        df = parse(self.opts.dockerfile)
        self.stage_names = {s.index: s.name for s in df.stages}
        order = needed_stages(df, self.opts.target, self.opts.build_args)
        self.tmp = self.engine.store.tempdir("build-")
        (self.tmp / "no-context").mkdir()
        self.cache.dir.mkdir(mode=0o700, exist_ok=True)
        self.sums = _cp.Sums(self.cache.dir / "sums.msgpack")
        try:
            self.keep = self.cache.chains()
            self._stages(df, order)
            final = _copy.deepcopy(self.states[order[-1]])
            if self.opts.labels:
                final.setdefault("config", {}).setdefault("Labels", {}).update(self.opts.labels)
            final["created"] = layers.iso(self.opts.epoch) if self.opts.epoch is not None else (
                final.get("created") or layers.iso(None))
            img = self.engine.images.add_image(layers.raw(final), self._missing, self.tags)
            from dunnage.core import events
            for t in self.tags or [""]:
                events.emit(self.engine.store, "image", "tag" if t else "build", img.id, {"name": t})
            unused = sorted(set(self.opts.build_args) - self.used_args - set(platform_args()))
            if unused:
                self.progress.note(f"[Warning] One or more build-args {unused} were not consumed")
            self.progress.result(img.id, self.tags)
            return img
        finally:
            if self.sums is not None:
                self.sums.save()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _keep(self) -> set[str]:
        """The layers a carrier's removal must leave: this build's and the cache's as it is now."""
        with self.lock:
            mine = set(self.keep)
        return mine | self.cache.chains()

    def _kept(self, chains: list[str]) -> None:
        with self.lock:
            self.keep.update(chains)

    def _stages(self, df: Dockerfile, order: list[int]) -> None:
        """The stages ORDER lists, each once those it uses are built: one after another, or,
        where two do not depend on each other, in threads, as BuildKit runs them.  A failure
        (or ctrl-c) stops the others: their RUN containers are killed, and each cleans up."""
        multi = len(order) > 1
        deps = {i: sorted({d[0] if isinstance(d, tuple) else d for d in stage_deps(df, i, self.opts.build_args)}
                          & set(order)) for i in order}
        below: dict[int, set[int]] = {}
        for i in order:  # ORDER lists a stage after those it uses
            below[i] = set(deps[i]).union(*(below[d] for d in deps[i])) if deps[i] else set()
        if not any(j not in below[i] and i not in below[j] for i in order for j in order if i != j):
            for i in order:
                self._stage(df, df.stages[i], multi)
            return
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
        pending, running, done = list(order), {}, set()
        failure: Optional[BaseException] = None
        pool = ThreadPoolExecutor(max_workers=len(order), thread_name_prefix="dunnage-build")
        try:
            while (pending and failure is None) or running:
                if failure is None:
                    for i in [i for i in pending if all(d in done for d in deps[i])]:
                        pending.remove(i)
                        running[pool.submit(self._stage, df, df.stages[i], multi)] = i
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for f in finished:
                    i = running.pop(f)
                    err = f.exception()
                    if err is None:
                        done.add(i)
                    elif failure is None:
                        failure = err
                        self._cancel()
        except BaseException as err:  # ctrl-c: stop the others, wait for their clean-up
            self._cancel()
            wait(list(running))
            failure = failure or err
        finally:
            pool.shutdown(wait=True)
        if failure is not None:
            raise failure

    def _cancel(self) -> None:
        self.cancelled.set()
        with self.lock:
            active = list(self.active)
        for cid in active:
            try:
                self.engine.kill(cid)
            except DunnageError:
                pass

    @staticmethod
    def _missing(i: int):
        raise ImageError("a layer of the build is missing from the store (removed meanwhile?)")

    # ---------------------------------------------------------------- a stage
    def _stage(self, df: Dockerfile, st: Stage, multi: bool) -> None:
        meta = meta_env(df, self.opts.build_args)
        base = stage_base(df, st, self.opts.build_args)
        for k, _ in df.meta_args:
            if k in self.opts.build_args:
                self.used_args.add(k)
        steps = [ins for ins in st.instructions if ins.cmd in ("RUN", "COPY", "ADD", "WORKDIR")]
        total = len(steps) + 1
        name = st.name or f"stage-{st.index}"
        prefix = f"{name} " if multi else ""
        counter = [1]

        def label(text: str) -> str:
            return f"[{prefix}{counter[0]}/{total}] {text}"
        n = self.progress.vertex(label(f"FROM {base}" + (f" AS {st.name}" if st.name else "")))
        state, key = self._base(df, base, st)
        self.progress.done(n)
        ctx = {"args": {}, "meta": meta, "cmd_set": False, "over_env": set()}
        triggers = [parse_onbuild(t, df.escape, st.line) for t in (state.get("config") or {}).get("OnBuild") or []]
        if triggers:
            state = _copy.deepcopy(state)
            state["config"]["OnBuild"] = None
        for ins in triggers + list(st.instructions):
            shown = ins.cmd in ("RUN", "COPY", "ADD", "WORKDIR")
            if shown:
                counter[0] += 1
            state, key = self._step(ins, state, key, ctx, label(_shown(ins)) if shown else None)
        self.states[st.index] = state
        self.keys[st.index] = key

    def _base(self, df: Dockerfile, base: str, st: Stage) -> tuple[dict, str]:
        low = base.lower()
        for s in df.stages[:st.index]:
            if s.name == low and s.index in self.states:
                return self.states[s.index], self.keys[s.index]
        if low == "scratch":
            cfg = layers.scratch_config()
            return cfg, "scratch"
        img = self._image(base, stage_platform(df, st, self.opts.build_args))
        return _copy.deepcopy(img.config), img.id

    def _image(self, ref: str, platform: Optional[str] = None):
        """REF from the store, or pulled (--pull, or missing, or not of FROM --platform's)."""
        if not self.opts.pull:
            try:
                img = self.engine.image(ref)
                if platform is None or _platform_of(img.config) == _platform_of(
                        dict(zip(("os", "architecture", "variant"), parse_platform(platform)))):
                    return img
            except ImageError:
                pass
        self.progress.note(f"pulling {ref}" + (f" for {platform}" if platform else ""))
        return self.engine.pull(ref, platform=platform)

    # ---------------------------------------------------------------- a step
    def _vars(self, state: dict, ctx: dict) -> dict[str, str]:
        env = {k: v for k, v in ctx["args"].items() if v is not None}
        for e in (state.get("config") or {}).get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        for k in ctx["over_env"]:  # an ARG after an ENV of its name wins, as in BuildKit's state (dispatchArg)
            env[k] = ctx["args"][k]
        return env

    def _step(self, raw_ins: Instruction, state: dict, key: str, ctx: dict, label: Optional[str]) -> tuple[dict, str]:
        if self.cancelled.is_set():
            raise BuildCancelled("the build was stopped", 1)
        env = self._vars(state, ctx)
        used = raw_ins.used_vars(env) & set(ctx["args"])
        ins = raw_ins.expand(env)
        c = ins.cmd
        if c == "ARG":
            for k, v in ins.pairs:
                if k in self.opts.build_args:
                    val = self.opts.build_args[k]
                    self.used_args.add(k)
                elif v is not None:
                    val = v
                else:
                    val = ctx["meta"].get(k)
                ctx["args"][k] = val
                ctx["over_env"].discard(k)
                if val is not None:
                    ctx["over_env"].add(k)
            return state, _cache.key_of(key, "ARG " + json.dumps(ins.pairs), {k: ctx["args"][k] for k, _ in ins.pairs})
        args_used = {k: ctx["args"][k] for k in used}
        if c == "ENV":
            ctx["over_env"] -= {k for k, _ in ins.pairs}
        if c == "RUN":
            # a RUN sees every build arg in scope that ENV does not set: all of them are in its key
            inner_env = set(e.partition("=")[0] for e in (state.get("config") or {}).get("Env") or [])
            args_used = {k: v for k, v in ctx["args"].items()
                         if v is not None and (k not in inner_env or k in ctx["over_env"])}
        if c in METADATA:
            skey = _cache.key_of(key, f"{c} {json.dumps([ins.args, ins.pairs, ins.json, ins.health])}", args_used)
            hit = None if self.opts.no_cache else self.cache.get(skey)
            if hit is not None:
                ctx["cmd_set"] = ctx["cmd_set"] or c == "CMD"
                return hit, skey
            new = self._metadata(ins, state, ctx)
            self._history(new, ins, empty=True)
            self.cache.put(skey, new, ins.original)
            return new, skey
        n = self.progress.vertex(label)
        try:
            if c == "RUN":
                return self._run(ins, state, key, args_used, n)
            if c in ("COPY", "ADD"):
                return self._copy(ins, state, key, args_used, n, ctx)
            if c == "WORKDIR":
                return self._workdir(ins, state, key, args_used, n)
        except RunFailed as err:
            self.progress.error(n, str(err))
            raise StepFailed(f"{label}: {err}", err.process_code) from None
        except DunnageError as err:
            self.progress.error(n, str(err))
            if not isinstance(err, (BuildCancelled, DockerfileError)) and not str(err).startswith("Dockerfile:"):
                err.args = (f"{label}: {err}",)  # the same error, named by its step
            raise
        raise DockerfileError(f"unknown instruction: {c}", ins.line)

    def _cached(self, skey: str, n: int) -> Optional[dict]:
        if self.opts.no_cache:
            return None
        hit = self.cache.get(skey)
        if hit is not None:
            self.progress.cached(n)
            self._kept(layers.chains(hit))
        return hit

    def _commit_step(self, state: dict, ins: Instruction, skey: str, tar: Optional[tuple],
                     n: int, created_by: Optional[str] = None) -> tuple[dict, str]:
        """TAR: (layer tar, diff id[, its tree made alongside, TarWriter.tree]) or None."""
        new = _copy.deepcopy(state)
        if tar is not None:
            path, diff_id, tree = (tuple(tar) + (None,))[:3]
            new["rootfs"]["diff_ids"] = list(new["rootfs"]["diff_ids"]) + [diff_id]
            try:
                layers.add_layer(self.engine, new, path, self._keep, tree)
            finally:
                path.unlink(missing_ok=True)
                if tree is not None:
                    shutil.rmtree(tree[0], ignore_errors=True)
            self._kept(layers.chains(new))
        self._history(new, ins, empty=tar is None, created_by=created_by)
        self.cache.put(skey, new, ins.original, made_layer=tar is not None)
        self.progress.done(n)
        return new, skey

    def _history(self, cfg: dict, ins: Instruction, empty: bool, created_by: Optional[str] = None) -> None:
        by = created_by or ins.original
        h = {"created": layers.iso(self.opts.epoch), "comment": COMMENT,
             "created_by": by + " # buildkit" if ins.cmd in ("RUN", "COPY", "ADD") else by}
        if empty:
            h["empty_layer"] = True
        cfg["history"] = list(cfg.get("history") or []) + [h]
        cfg["created"] = h["created"]

    # ---------------------------------------------------------------- metadata
    def _metadata(self, ins: Instruction, state: dict, ctx: dict) -> dict:
        new = _copy.deepcopy(state)
        cfg = new.setdefault("config", {})
        c = ins.cmd
        shell = cfg.get("Shell") or DEFAULT_SHELL
        if c == "ENV":
            env = {e.partition("=")[0]: e for e in cfg.get("Env") or []}
            for k, v in ins.pairs:
                env[k] = f"{k}={v or ''}"
            cfg["Env"] = list(env.values())
        elif c == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            labels.update({k: v or "" for k, v in ins.pairs})
            cfg["Labels"] = labels
        elif c == "MAINTAINER":
            new["author"] = ins.args[0]
        elif c == "USER":
            cfg["User"] = ins.args[0]
        elif c == "STOPSIGNAL":
            cfg["StopSignal"] = ins.args[0]
        elif c in ("CMD", "ENTRYPOINT"):
            value = list(ins.args) if ins.json else shell + [" ".join(ins.args)]
            if c == "CMD":
                cfg["Cmd"] = value
                ctx["cmd_set"] = True
            else:  # as docker: an ENTRYPOINT drops the base image's CMD, not one this stage set
                cfg["Entrypoint"] = value
                if not ctx["cmd_set"]:
                    cfg["Cmd"] = None
        elif c == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in ins.args:
                port, _, proto = p.partition("/")
                lo, _, hi = port.partition("-")  # a range is each of its ports, as nat.ParsePortSpecs has it
                for one in range(int(lo), int(hi) + 1) if lo.isdigit() and hi.isdigit() else [port]:
                    ports[f"{one}/{(proto or 'tcp').lower()}"] = {}
            cfg["ExposedPorts"] = ports
        elif c == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            for v in ins.args:
                vols[v] = {}
            cfg["Volumes"] = vols
        elif c == "HEALTHCHECK":
            h = {k: v for k, v in (ins.health or {}).items() if v or k == "Test"}
            cfg["Healthcheck"] = h
        elif c == "SHELL":
            cfg["Shell"] = list(ins.args)
        elif c == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [ins.args[0]]
        return new

    # ---------------------------------------------------------------- RUN
    def _run(self, ins: Instruction, state: dict, key: str, args_used: dict, n: int) -> tuple[dict, str]:
        cfg = state.get("config") or {}
        if ins.json:
            argv = list(ins.args)
        else:
            script = ins.args[0] if ins.args else ""
            if ins.heredocs and not re.sub(r"\d*<<-?\s*['\"]?[^\s'\"]+['\"]?", "", script).strip():
                script = ins.heredocs[0].content  # RUN <<EOF alone: the document is the script
            else:
                for h in ins.heredocs:  # the shell reads its here-documents itself
                    script += "\n" + h.content + h.name
            argv = list(cfg.get("Shell") or DEFAULT_SHELL) + [script]
        network = ins.flag("network") or self.opts.network
        if network == "default":
            network = None
        for ent, asked in (("network.host", ins.flag("network") == "host" and self.opts.network != "host"),
                           ("security.insecure", ins.flag("security") == "insecure"),
                           ("device", bool(ins.flags.get("device")))):
            if asked:  # BuildKit's entitlements: the build's own --network host grants the first, nothing the others
                raise InvalidParameter(f"Dockerfile:{ins.line}: granting entitlement {ent} is not allowed by build "
                                       "daemon configuration", 1)
        mounts = _mounts.prepare(ins.flags.get("mount") or [], ins.line, cfg.get("WorkingDir") or "/",
                                 Path(self.engine.store.root), self._context_tree(),
                                 _cp.Tree(stack=_cp.image_stack(self.engine, state), name="image"),
                                 self.opts.secrets, self.tmp, self._mount_source)
        skey = _cache.key_of(key, "RUN " + json.dumps([argv, mounts.key]), args_used, platform=network or "")
        hit = self._cached(skey, n)
        if hit is not None:
            return hit, skey
        env = [e for e in cfg.get("Env") or [] if e.partition("=")[0] not in args_used] + \
            [f"{k}={v}" for k, v in sorted(args_used.items())]
        have = {e.partition("=")[0] for e in env}
        env += [e for e in self.proxy_env if e.partition("=")[0] not in have]
        if mounts.env:  # RUN --mount=type=secret,env=NAME: the secret's value wins
            named = {e.partition("=")[0] for e in mounts.env}
            env = [e for e in env if e.partition("=")[0] not in named] + mounts.env
        cid: list[str] = []

        def started(c: str) -> None:
            cid.append(c)
            with self.lock:
                self.active.add(c)
            if self.cancelled.is_set():
                raise BuildCancelled("the build was stopped", 1)
        try:
            tar = run_step(self.engine, state, argv, env, network, self._keep, self.opts.epoch,
                           lambda stream, data: self.progress.output(n, data), self.tmp, mounts, started)
        finally:
            with self.lock:
                self.active.difference_update(cid)
        prefix = f"|{len(args_used)} " + " ".join(f"{k}={v}" for k, v in sorted(args_used.items())) + " " \
            if args_used else ""
        return self._commit_step(state, ins, skey, tar, n, created_by="RUN " + prefix + " ".join(argv))

    # ---------------------------------------------------------------- WORKDIR
    def _workdir(self, ins: Instruction, state: dict, key: str, args_used: dict, n: int) -> tuple[dict, str]:
        cfg = state.get("config") or {}
        wd = ins.args[0]
        if not wd.startswith("/"):
            wd = os.path.join(cfg.get("WorkingDir") or "/", wd)
        wd = os.path.normpath(wd)
        skey = _cache.key_of(key, "WORKDIR " + wd, args_used)
        hit = self._cached(skey, n)
        if hit is not None:
            return hit, skey
        image = _cp.Tree(stack=_cp.image_stack(self.engine, state), name="image")
        rel = wd.lstrip("/")
        tar = None
        try:
            resolved = image.resolve(rel) if rel else ""
        except _cp.CopyError:
            resolved = rel
        if rel and image.lstat(resolved) is None:
            plan = _cp.Plan()
            parts = resolved.split("/")
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                plan.parents.append((p, image.lstat(p)))
            if cfg.get("User"):
                try:
                    plan.uid, plan.gid = _cp._ids(image, cfg["User"])
                except _cp.CopyError:
                    pass
            tw = layers.TarWriter(self._tmpfile(), self.opts.epoch)
            try:
                _cp.write(tw, plan)
                tar = (tw.path, tw.close())
            except BaseException:
                tw.abort()
                raise
        new = _copy.deepcopy(state)
        new.setdefault("config", {})["WorkingDir"] = wd
        return self._commit_step(new, ins, skey, tar, n)

    def _tmpfile(self) -> Path:
        import tempfile
        return Path(tempfile.mkstemp(prefix="layer-", suffix=".tar", dir=self.tmp)[1])

    # ---------------------------------------------------------------- COPY, ADD
    def _copy(self, ins: Instruction, state: dict, key: str, args_used: dict, n: int, ctx: dict) -> tuple[dict, str]:
        cfg = state.get("config") or {}
        srcs, dest = list(ins.args[:-1]), ins.args[-1]
        src_tree = self._source_tree(ins)
        fetched: dict[str, str] = {}
        heredoc_dir = None
        if ins.heredocs:
            heredoc_dir = Path(self._tmpfile()).with_suffix(".d")
            heredoc_dir.mkdir()
            for h in ins.heredocs:
                p = heredoc_dir / os.path.basename(h.name)
                p.write_text(h.content)
                os.chmod(p, 0o644)
                fetched["<<" + h.name] = str(p)
                for i, s in enumerate(srcs):
                    if s.lstrip("<-").strip("'\"") == h.name and s.startswith("<<"):
                        srcs[i] = "<<" + h.name
        checksum = ins.flag("checksum")
        if ins.cmd == "ADD":
            for s in srcs:
                if _git_source(s):
                    raise InvalidParameter(f"Dockerfile:{ins.line}: ADD of a Git repository is not supported by "
                                           f"dunnage build: {s}", 1)
            if checksum and (len(srcs) != 1 or not srcs[0].startswith(("http://", "https://"))):
                raise InvalidParameter(f"Dockerfile:{ins.line}: " + ("checksum can't be specified for multiple "
                                       "sources" if len(srcs) != 1 else "checksum requires HTTP(S) or Git sources"), 1)
            for s in srcs:
                if s.startswith(("http://", "https://")):
                    fetched[s] = _cp.fetch(s, str(self.tmp), checksum)
        elif any(s.startswith(("http://", "https://")) for s in srcs):
            raise InvalidParameter(f"Dockerfile:{ins.line}: source can't be a URL for COPY")
        image = _cp.Tree(stack=_cp.image_stack(self.engine, state), name="image")
        plan = _cp.plan(src_tree, image, srcs, dest, cfg.get("WorkingDir") or "/", ins.flag("chown") or "",
                        ins.flag("chmod") or "", add=ins.cmd == "ADD", fetched=fetched,
                        link=ins.flag("link") == "true" and not ins.flag("chmod"),  # as BuildKit: --chmod unlinks
                        exclude=ins.flags.get("exclude") or [],
                        unpack=None if ins.flag("unpack") is None else ins.flag("unpack") == "true",
                        keep_parents=ins.flag("parents") == "true")
        for it in plan.items:
            if it.kind == "blob" and it.rel.startswith("<<"):
                it.kind = "entry"
        sums = _cp.checksum(plan, self.sums if ins.flag("from") is None else None)
        skey = _cache.key_of(key, f"{ins.cmd} {json.dumps([ins.args, ins.flags])}", args_used, sources=sums)
        hit = self._cached(skey, n)
        if hit is not None:
            return hit, skey
        path = self._tmpfile()
        tw = layers.TarWriter(path, self.opts.epoch, mirror=path.with_name(path.name + ".tree"))
        try:
            _cp.write(tw, plan)
            tar = (tw.path, tw.close(), tw.tree())
        except BaseException:
            tw.abort()
            raise
        return self._commit_step(state, ins, skey, tar, n)

    def _context_tree(self) -> Optional["_cp.Tree"]:
        if self.opts.context is None:
            return None
        return _cp.Tree(root=self.opts.context, excluded=self.opts.excluded)

    def _mount_source(self, ref: str) -> tuple["_cp.Tree", str]:
        """RUN --mount from=REF: a stage by its name (as BuildKit's findStateByName), else an
        image; its file system and its state's key or image id."""
        for idx, state in self.states.items():
            if self.stage_names.get(idx) == ref.lower():
                return _cp.Tree(stack=_cp.image_stack(self.engine, state), name=f"stage {ref}"), self.keys[idx]
        img = self._image(ref)
        return _cp.Tree(stack=_cp.image_stack(self.engine, img.config), name=f"image {ref}"), img.id

    def _source_tree(self, ins: Instruction) -> "_cp.Tree":
        src = ins.flag("from")
        if src is None:
            return self._context_tree() or _cp.Tree(root=str(self.tmp / "no-context"), name="build context")
        for idx, state in self.states.items():
            if self.stage_names.get(idx) == src.lower() or str(idx) == src:
                return _cp.Tree(stack=_cp.image_stack(self.engine, state), name=f"stage {src}")
        img = self._image(src)
        return _cp.Tree(stack=_cp.image_stack(self.engine, img.config), name=f"image {src}")


def _git_source(src: str) -> bool:
    """Whether ADD's SRC names a Git repository, as BuildKit's isGitSource reads it (a git@ or
    git:// or ssh:// address, or an HTTP(S) one whose path ends in .git)."""
    if src.startswith(("git@", "git://", "ssh://")):
        return True
    if src.startswith(("http://", "https://")):
        return src.split("#", 1)[0].split("?", 1)[0].rstrip("/").endswith(".git")
    return False


def _platform_of(cfg: dict) -> tuple[str, str, str]:
    variant = cfg.get("variant") or ""
    return (cfg.get("os") or "linux", cfg.get("architecture") or "", "" if variant == "v8" else variant)


def _shown(ins: Instruction) -> str:
    return ins.original if len(ins.original) < 200 else ins.original[:197] + "..."


def build(engine, opts: Options, progress: Optional[Progress] = None):
    """Build OPTS' Dockerfile; the image."""
    return Builder(engine, opts, progress).build()
