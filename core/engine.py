"""dunnage.core.Engine: the one facade the command line and the dashboard call.

Each method delegates to the module that holds its concept, and those never import
this one (they are handed the Engine for the store, the image store and the container
lookup): the container lifecycle, one verb per module, in core/lifecycle/ (create
with core/spec.py's request, start, stop, kill, wait, remove, pause, restart, rename,
update, exec, attach, and the repair of containers whose shim died); a container's
files in core/files.py; stats in core/stats.py; top in core/top.py; inspect's
documents in core/inspect.py; networks in core/net/verbs.py over core/net/config.py;
volumes over core/volumes.py; images over core/images/; df, prune, info and reset in
core/system.py.  Errors are EngineError (core/errors.py), with docker's exit code."""
from __future__ import annotations

import os
import shutil
import time
from typing import BinaryIO, Iterator, Optional

from . import events, files, stats, top
from .cgroups import CgroupStats
from .containers import Container, all_containers, find
from .errors import EngineError, NotFound, System
from .images import verbs as imageverbs
from .images.store import Image, ImageStore
from .inspect import image_inspect, published_ports
from .lifecycle import attach, kill, pause, remove, rename, repair, restart, start, stop, update, wait
from .lifecycle import create as create_verb
from .lifecycle import exec as exec_verb
from .logs import container_logs
from .net import verbs as netverbs
from .spec import ContainerSpec, labels as _labels
from .store import Store


class Engine:
    def __init__(self, root: Optional[str] = None):
        if os.geteuid() != 0:
            raise System("dunnage needs root (namespaces, cgroups and FUSE mounts): run it with sudo")
        self.store = root if isinstance(root, Store) else Store(root)
        self.images = ImageStore(self.store)
        self._clean_stale_tmp()

    def _clean_stale_tmp(self, age: float = 3600.0) -> None:
        """Staging directories older than AGE belong to fronts that died mid-way."""
        now = time.time()
        try:
            for p in self.store.tmp.iterdir():
                try:
                    if now - p.lstat().st_mtime > age:
                        shutil.rmtree(p, ignore_errors=True)
                except FileNotFoundError:
                    pass
        except OSError:
            pass

    # ------------------------------------------------------------------ images
    def import_image(self, stream: BinaryIO, ref: Optional[str], changes: Optional[dict] = None) -> Image:
        return imageverbs.import_tarball(self, stream, ref, changes)

    def tag_image(self, src: str, target: str) -> Image:
        return imageverbs.tag(self, src, target)

    def prune_images(self, all_: bool = False, select=None) -> list[str]:
        return imageverbs.prune(self, all_, select)

    def load_images(self, source) -> list[tuple[Image, list[str]]]:
        """docker load: docker archives and OCI layouts (a path, a directory, or a stream)."""
        return imageverbs.load(self, source)

    def credentials(self):
        return imageverbs.credentials(self)

    def pull(self, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None, progress=None,
             platform: Optional[str] = None) -> Image:
        """PROGRESS(layer, bytes so far, size), from the download threads, as layers come.
        PLATFORM (os/arch[/variant]) picks from a multi-platform index; this machine's by default."""
        return imageverbs.pull(self, ref, tls_verify, say, progress, platform)

    def push(self, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None) -> str:
        return imageverbs.push(self, ref, tls_verify, say)

    def login(self, registry: str, user: str, password: str, tls_verify: Optional[bool] = None) -> None:
        """Check the credentials against the registry's /v2/, then keep them (root-only file)."""
        imageverbs.login(self, registry, user, password, tls_verify)

    def logout(self, registry: str) -> bool:
        return imageverbs.logout(self, registry)

    def save_images(self, refs: list[str], path: Optional[str], fmt: str = "docker-archive", stream=None) -> None:
        """docker save: to PATH (written to a temporary name, then renamed) or to STREAM."""
        imageverbs.save(self, refs, path, fmt, stream)

    def list_images(self, filters: Optional[dict] = None) -> list[Image]:
        """Newest first; FILTERS: docker images --filter's ({key: [values]}; InvalidParameter in
        dockerd's words): with reference=, each image carries only the names that match."""
        if not filters:
            return imageverbs.ls(self)
        from .image_filters import select
        return select(self, imageverbs.ls(self), filters)

    def image(self, ref: str) -> Image:
        return imageverbs.get(self, ref)

    def remove_image(self, ref: str, force: bool = False) -> list[str]:
        return imageverbs.remove(self, ref, force)

    def ensure_demo_image(self) -> Image:
        return imageverbs.ensure_demo(self)

    # -------------------------------------------------------------- containers
    def container(self, ref: str, code: int = 1) -> Container:
        c = find(self.store, ref)
        if c is None:
            raise NotFound(f"No such container: {ref}", code)
        self._repair(c)
        return c

    def containers(self, all_: bool = False, filters: Optional[dict] = None) -> list[Container]:
        """For listing: the containers' configs are shared (read-only); to change one, take it
        with container(ref).  FILTERS: docker ps --filter's ({key: [values]}, checked:
        InvalidParameter in dockerd's words); a status filter looks at all, as dockerd's."""
        test = None
        if filters:
            from .container_filters import matcher
            test = matcher(self, filters)
            all_ = all_ or bool(filters.get("status"))
        out = []
        for c in all_containers(self.store, shared=True):
            self._repair(c)
            if (all_ or c.status in ("running", "paused", "restarting")) and (test is None or test(c)):
                out.append(c)
        return out

    def _repair(self, c: Container) -> None:
        repair.repair(self, c)

    def create(self, image: str, command: list[str] | None = None, **flags) -> Container:
        """docker create from run/create's flags, keyword-named (core/spec.py's from_flags)."""
        return self.create_from(ContainerSpec.from_flags(image, command, **flags))

    def create_from(self, spec: ContainerSpec) -> Container:
        return create_verb.create(self, spec)

    def start(self, ref: str, code_missing: int = 1, on_listening=None, attach: bool = False) -> Container:
        """Start REF.  For a container that is to wait for an attach before its
        command runs (run -i/-t in the foreground, or ATTACH: start -a), ON_LISTENING()
        is called when it can be attached to."""
        return start.start(self, ref, code_missing, on_listening, attach)

    def run(self, image: str, command: list[str] | None = None, **flags) -> Container:
        return self.run_from(ContainerSpec.from_flags(image, command, **flags))

    def run_from(self, spec: ContainerSpec) -> Container:
        c = self.create_from(spec)
        try:
            return self.start(c.id)
        except EngineError:
            if spec.host.auto_remove:
                self.remove(c.id, force=True)
            raise

    def wait(self, ref: str, timeout: Optional[float] = None) -> int:
        return wait.wait(self, ref, timeout)

    def kill(self, ref: str, sig: str | int = "KILL") -> Container:
        return kill.kill(self, ref, sig)

    def stop(self, ref: str, timeout: Optional[float] = None) -> Container:
        return stop.stop(self, ref, timeout)

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> Container:
        """docker rm [-f] [-v]: -v removes the container's anonymous volumes too."""
        return remove.remove(self, ref, force, volumes)

    # -------------------------------------------------------------- volumes

    def volume_create(self, name: Optional[str] = None, labels: list[str] | None = None) -> dict:
        from .volumes import Volumes
        rec = Volumes(self.store).create(name, _labels(labels))
        events.emit(self.store, "volume", "create", rec["Name"], {"driver": "local"})
        return rec

    def volumes(self, filters: Optional[dict] = None) -> list[dict]:
        """FILTERS: docker volume ls --filter's ({key: [values]}; InvalidParameter in dockerd's words)."""
        from .volumes import Volumes
        vols = Volumes(self.store)
        if not filters:
            return vols.list()
        from .volume_filters import matcher
        test = matcher(filters, lambda name: bool(vols.users(name)))
        return [v for v in vols.list() if test(v)]

    def volume_inspect(self, name: str) -> dict:
        from .volumes import Volumes
        rec = Volumes(self.store).get(name)
        return {k: v for k, v in rec.items() if k not in ("Anonymous", "Populated")}

    def volume_remove(self, name: str) -> None:
        """A volume in use is refused, -f or not (as docker, which only quiets a missing one)."""
        from .volumes import Volumes
        Volumes(self.store).remove(name)
        events.emit(self.store, "volume", "destroy", name, {"driver": "local"})

    def volume_prune(self, all_: bool = False, select=None) -> list[str]:
        from .volumes import Volumes
        return Volumes(self.store).prune(all_, select)

    def exec(self, ref: str, argv: list[str], *, tty: bool = False, interactive: bool = False,
             detach: bool = False, user: Optional[str] = None, workdir: Optional[str] = None,
             env: list[str] | None = None) -> int:
        """docker exec: run ARGV in the running container REF; returns its exit code."""
        return exec_verb.exec_(self, ref, argv, tty=tty, interactive=interactive, detach=detach, user=user,
                               workdir=workdir, env=env)

    def attach_socket(self, ref: str):
        """A connection to REF's attach socket (its output from now on, our input to it)."""
        return attach.attach_socket(self, ref)

    def pause(self, ref: str) -> Container:
        return pause.pause(self, ref)

    def unpause(self, ref: str) -> Container:
        return pause.unpause(self, ref)

    def restart(self, ref: str, timeout: Optional[float] = None) -> Container:
        return restart.restart(self, ref, timeout)

    def rename(self, ref: str, new: str) -> Container:
        return rename.rename(self, ref, new)

    def update(self, ref: str, memory: Optional[str] = None, cpus: Optional[str] = None,
               pids_limit: Optional[int] = None, memory_swap: Optional[str] = None,
               memory_reservation: Optional[str] = None, restart: Optional[str] = None) -> Container:
        """docker update: change the limits (live if it runs) and the restart policy of a container."""
        return update.update(self, ref, memory, cpus, pids_limit, memory_swap, memory_reservation, restart)

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """docker top: the container's processes, as the host's ps shows them (core/top.py)."""
        return top.top(self, ref, ps_args)

    def files(self, ref: str, path: str = "/") -> list[dict]:
        return files.files(self, ref, path)

    def diff(self, ref: str) -> list[tuple[str, str]]:
        return files.diff(self, ref)

    def commit(self, ref: str, target: Optional[str] = None, changes: Optional[dict] = None, message: str = "",
               author: str = "", pause: bool = True) -> Image:
        return files.commit(self, ref, target, changes, message, author, pause)

    def rootfs(self, ref: str):
        return files.rootfs(self, ref)

    def export(self, ref: str, path: Optional[str] = None, stream=None) -> None:
        files.export(self, ref, path, stream)

    def copy_from(self, ref: str, src: str, dest: str) -> None:
        files.copy_from(self, ref, src, dest)

    def archive(self, ref: str, src: str, stream=None) -> tuple[os.stat_result, str]:
        """SRC's lstat and link target in the container, and with STREAM its tar (the API's cp)."""
        return files.archive(self, ref, src, stream)

    def copy_to(self, ref: str, src: str, dest: str) -> None:
        files.copy_to(self, ref, src, dest)

    def prune_containers(self) -> list[str]:
        return self.prune("containers")[0]

    def prune(self, what: str, all_: bool = False, filters: Optional[dict] = None) -> tuple[list[str], int]:
        """container, image or volume prune: what went, and the bytes on disk that freed.
        FILTERS: --filter's (core/prune_filters.py; refused in dockerd's words before anything
        goes); an image prune's dangling=false is ALL_.  A prune event says what it freed, as dockerd's."""
        from . import system
        from .prune_filters import Selection, dangling_only
        sel = Selection(what, filters)
        if what == "containers":
            out = system.prune_containers(self, sel)
        elif what == "images":
            out = system.prune_images(self, all_ or not dangling_only(sel.filters), sel)
        else:
            out = system.prune_volumes(self, all_, sel)
        events.emit(self.store, what[:-1], "prune", "", {"reclaimed": str(out[1])})
        return out

    def disk_usage(self) -> dict:
        from .system import disk_usage
        return disk_usage(self)

    def info(self) -> dict:
        from .system import info
        return info(self)

    def reset(self) -> None:
        """Everything of this root goes: see system.reset."""
        from .system import reset
        reset(self)

    def logs(self, ref: str, follow: bool = False, stop=None) -> Iterator[tuple[int, str, bytes]]:
        """The container's log records; with FOLLOW, new ones as they come, until the
        container's shim is gone or STOP() says so."""
        return container_logs(self.container(ref), follow, stop)

    # -------------------------------------------------------------- events
    def events_since(self, offset: int = 0) -> tuple[list[dict], int]:
        """The event records from byte OFFSET of the events log on, and the offset to ask
        from next (0: all of them)."""
        return events.read(self.store, offset)

    def follow_events(self, since_ns: int = 0) -> Iterator[dict]:
        """docker events: the records from time SINCE_NS on, then new ones as they come."""
        return events.follow(self.store, since_ns)

    def events(self, since_ns: Optional[int] = None, until_ns: Optional[int] = None,
               filters: Optional[dict] = None, gone=lambda: False, poll: float = 0.1) -> Iterator[dict]:
        """docker events: docker's event documents (see events.query); the query is
        checked at once (InvalidParameter with dockerd's message)."""
        return events.query(self, since_ns, until_ns, filters or {}, gone, poll)

    # -------------------------------------------------------------- inspect
    def inspect(self, ref: str, size: bool = False) -> dict:
        """SIZE: with docker inspect --size's SizeRw and SizeRootFs (where dockerd puts them)."""
        from .inspect import container_inspect
        from .volumes import docker_mounts
        c = self.container(ref)
        doc = container_inspect(c, docker_mounts)
        if not size:
            return doc
        rw, rootfs = self.container_size(c)
        out = {}
        for k, v in doc.items():
            out[k] = v
            if k == "GraphDriver":
                out["SizeRw"], out["SizeRootFs"] = rw, rootfs
        return out

    def container_size(self, c: Container) -> tuple[int, int]:
        """docker's SizeRw and SizeRootFs of C: its upper layer's size as dockerd counts a
        layer's (DiffSize), and that with its image's."""
        from .images.history import apparent_size
        rw = apparent_size(c.upper)
        try:
            base = self.image(c.config["Image"]).size
        except EngineError:
            base = 0
        return rw, rw + base

    @staticmethod
    def published_ports(c: Container) -> dict:
        """docker's NetworkSettings.Ports of C: what it publishes while it runs."""
        return published_ports(c)

    # -------------------------------------------------------------- networks

    def networks(self, filters: Optional[dict] = None) -> list[dict]:
        """Records of every network (the default bridge is made on first look, as docker always has one);
        FILTERS: docker network ls --filter's ({key: [values]}; InvalidParameter in dockerd's words)."""
        if not filters:
            return netverbs.ls(self)
        from .network_filters import matcher
        test = matcher(filters)
        return [r for r in netverbs.ls(self) if test({"Driver": "bridge", **r})]

    def network_create(self, name: str, subnet: Optional[str] = None, gateway: Optional[str] = None,
                       internal: bool = False, labels: list[str] | None = None, **more) -> dict:
        """MORE: ipv6=True, subnet6, gateway6; options (the driver's: docker network create
        -o) (core/net/config.py: Networks.create)."""
        return netverbs.create(self, name, subnet, gateway, internal, labels, **more)

    def network_inspect(self, ref: str) -> dict:
        return netverbs.inspect(self, ref)

    def network_remove(self, ref: str) -> dict:
        return netverbs.remove(self, ref)

    def network_prune(self, filters: Optional[dict] = None) -> list[str]:
        return netverbs.prune(self, filters)

    def network_connect(self, net_ref: str, ref: str, aliases: list[str] | None = None,
                        ip: Optional[str] = None, ip6: Optional[str] = None) -> None:
        """Attach a container to a network: now if it runs, and at each start."""
        netverbs.connect(self, net_ref, ref, aliases, ip, ip6)

    def network_disconnect(self, net_ref: str, ref: str, force: bool = False) -> None:
        netverbs.disconnect(self, net_ref, ref, force)

    def ports(self, ref: str) -> list[tuple[str, str, str]]:
        """(container port/proto, host ip, host port) of a running container's published ports."""
        return netverbs.ports(self, ref)

    def options(self) -> dict:
        """The root's options, dockerd's daemon.json (core/settings.py)."""
        from .settings import load
        return load(self.store.root)

    def configure(self, ipv6: Optional[bool] = None, fixed_cidr_v6: Optional[str] = None) -> tuple[dict, bool]:
        """dockerd's --ipv6 / --fixed-cidr-v6 for this root's default bridge: (the options, True
        if containers on the bridge keep it as it was until none is)."""
        return netverbs.configure(self, ipv6, fixed_cidr_v6)

    def image_history(self, ref: str) -> list[dict]:
        """docker history: the image's steps, newest first (core/images/history.py)."""
        from .images.history import history
        return history(self, ref)

    def inspect_image(self, ref: str) -> dict:
        """docker image inspect's fields (and podman's Digest, Labels and History)."""
        img = self.image(ref)
        return image_inspect(img, self.images.layer_paths(img))

    # -------------------------------------------------------------- stats
    def sample(self, c: Container) -> Optional[CgroupStats]:
        return stats.sample(c)

    @staticmethod
    def stats_between(c: Container, a: Optional[CgroupStats], b: Optional[CgroupStats]) -> stats.ContainerStats:
        """docker's stats figures of C from sample A to sample B (see core/stats.py)."""
        return stats.between(c.id, c.name, a, b)

    @staticmethod
    def forget_samples(cid: str) -> None:
        stats.forget(cid)

    def stats(self, refs: list[str] | None = None, all_: bool = False,
              interval: float = 1.0) -> list[stats.ContainerStats]:
        """docker stats --no-stream: two samples INTERVAL apart."""
        return stats.stats(self, refs, all_, interval)
