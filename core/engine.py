"""dunnage.core.Engine: the one facade the command line and the dashboard call."""
from __future__ import annotations

import errno
import ipaddress
import os
import re
import shutil
import socket
import signal as _signal
import time
from typing import BinaryIO, Iterator, Optional

from . import events, files, stats
from .cgroups import CgroupError, CgroupStats, blkio_weight_support, cpu_percent, open_cgroup, swap_accounting
from .containers import Container, all_containers, create_dirs, find, load, new_id, pid_alive, random_name
from .errors import EngineError
from .images.store import Image, ImageError, ImageStore, now_iso
from .inspect import published_ports
from .lifecycle import kill, pause, remove, repair, restart, start, stop, wait
from .lifecycle.kill import signal_number as _signal_number
from .logs import read_logs
from .net import host_net_counters
from .runtime.linux import is_mountpoint, lazy_unmount
from .runtime.rootfs import MASKED_PATHS, READONLY_PATHS
from .store import Store, atomic_file, write_record
from .units import UnitError, bytes_binary, bytes_decimal, human_duration, since

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024  # docker's minimum


class Engine:
    def __init__(self, root: Optional[str] = None):
        if os.geteuid() != 0:
            raise EngineError("dunnage needs root (namespaces, cgroups and FUSE mounts): run it with sudo")
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
        try:
            img = self.images.import_tarball(stream, ref, changes)
        except ImageError as e:
            raise EngineError(str(e)) from None
        events.emit(self.store, "image", "import", img.id, {"name": ref or ""})
        return img

    def tag_image(self, src: str, target: str) -> Image:
        try:
            img = self.images.tag(src, target)
        except ImageError as e:
            raise EngineError(str(e), 1) from None
        events.emit(self.store, "image", "tag", img.id, {"name": target})
        return img

    def prune_images(self, all_: bool = False) -> list[str]:
        in_use = {c.config["Image"] for c in all_containers(self.store)}
        return self.images.prune(in_use, all_, self._container_lowers())

    def load_images(self, source) -> list[tuple[Image, list[str]]]:
        """docker load: docker archives and OCI layouts (a path, a directory, or a stream)."""
        from .images.archive import load
        try:
            out = load(self.images, source)
        except ImageError as e:
            raise EngineError(str(e)) from None
        for img, tags in out:
            events.emit(self.store, "image", "load", img.id, {"name": ",".join(tags)})
        return out

    def credentials(self):
        from .images.registry import Credentials
        return Credentials(self.store.root / "auth.json")

    def pull(self, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None, progress=None,
             platform: Optional[str] = None) -> Image:
        """PROGRESS(layer, bytes so far, size), from the download threads, as layers come.
        PLATFORM (os/arch[/variant]) picks from a multi-platform index; this machine's by default."""
        from .images.registry import pull
        try:
            img = pull(self.images, ref, self.credentials(), tls_verify, say, progress=progress, platform=platform)
        except ImageError as e:
            raise EngineError(str(e)) from None
        events.emit(self.store, "image", "pull", img.id, {"name": ref})
        return img

    def push(self, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None) -> str:
        from .images.registry import push
        try:
            digest = push(self.images, ref, self.credentials(), tls_verify, say)
        except ImageError as e:
            raise EngineError(str(e)) from None
        events.emit(self.store, "image", "push", ref, {"name": ref})
        return digest

    def login(self, registry: str, user: str, password: str, tls_verify: Optional[bool] = None) -> None:
        """Check the credentials against the registry's /v2/, then keep them (root-only file)."""
        from .images.registry import Client, Reference
        cl = Client(Reference(registry, "x/x", "latest", None), (user, password), tls_verify)
        try:
            cl.request("").close()
        except ImageError as e:
            raise EngineError(f"login to {registry} failed: {e}") from None
        self.credentials().set(registry, user, password)

    def logout(self, registry: str) -> bool:
        return self.credentials().remove(registry)

    def save_images(self, refs: list[str], path: Optional[str], fmt: str = "docker-archive", stream=None) -> None:
        """docker save: to PATH (written to a temporary name, then renamed) or to STREAM."""
        from .images.archive import save
        try:
            if path is None:
                save(self.images, refs, stream, fmt)
                return
            with atomic_file(path) as f:
                save(self.images, refs, f, fmt)
        except ImageError as e:
            raise EngineError(str(e)) from None
        except OSError as e:
            raise EngineError(f"save: {path}: {e.strerror}") from None

    def list_images(self) -> list[Image]:
        return sorted(self.images.list(), key=lambda i: i.created, reverse=True)

    def image(self, ref: str) -> Image:
        try:
            return self.images.get(ref)
        except ImageError as e:
            raise EngineError(str(e)) from None

    def _container_lowers(self, cs: Optional[list[Container]] = None) -> frozenset:
        """The layer directories containers stand on (rmi must not delete those)."""
        if cs is None:
            cs = all_containers(self.store, shared=True)
        return frozenset(lo for c in cs for lo in c.config.get("Lowers", []))

    def remove_image(self, ref: str, force: bool = False) -> list[str]:
        cs = self.containers(all_=True)
        in_use: dict[str, bool] = {}  # image id -> whether a container on it runs
        for c in cs:
            in_use[c.config["Image"]] = in_use.get(c.config["Image"], False) or c.status in (
                "running", "paused", "restarting")
        try:
            out = self.images.remove(ref, in_use, force, self._container_lowers(cs))
        except ImageError as e:
            raise EngineError(str(e), 1) from None
        events.emit(self.store, "image", "delete", ref)
        return out

    def ensure_demo_image(self) -> Image:
        from .images.demo import DEMO_IMAGE, busybox_rootfs_tar
        try:
            return self.images.get(DEMO_IMAGE)
        except ImageError:
            pass
        import io
        return self.import_image(io.BytesIO(busybox_rootfs_tar()), DEMO_IMAGE, {"Cmd": ["sh"]})

    # -------------------------------------------------------------- containers
    def container(self, ref: str, code: int = 1) -> Container:
        c = find(self.store, ref)
        if c is None:
            raise EngineError(f"No such container: {ref}", code)
        self._repair(c)
        return c

    def containers(self, all_: bool = False) -> list[Container]:
        """For listing: the containers' configs are shared (read-only); to change one, take it
        with container(ref)."""
        out = []
        for c in all_containers(self.store, shared=True):
            self._repair(c)
            if all_ or c.status in ("running", "paused", "restarting"):
                out.append(c)
        return out

    def _repair(self, c: Container) -> None:
        repair.repair(self, c)

    def create(self, image: str, command: list[str] | None = None, *, name: Optional[str] = None,
               env: list[str] | None = None, memory: Optional[str] = None, cpus: Optional[str] = None,
               pids_limit: Optional[int] = None, hostname: Optional[str] = None, auto_remove: bool = False,
               detach: bool = False, workdir: Optional[str] = None, entrypoint: Optional[str] = None,
               cap_add: list[str] | None = None, cap_drop: list[str] | None = None, privileged: bool = False,
               security_opt: list[str] | None = None, user: Optional[str] = None,
               group_add: list[str] | None = None, read_only: bool = False, ulimits: list[str] | None = None,
               labels: list[str] | None = None, stop_signal: Optional[str] = None,
               stop_timeout: Optional[int] = None, tty: bool = False, interactive: bool = False,
               restart: Optional[str] = None, health: Optional[dict] = None, no_healthcheck: bool = False,
               log_opts: list[str] | None = None, pid_mode: Optional[str] = None, ipc_mode: Optional[str] = None,
               uts_mode: Optional[str] = None, network: Optional[str] = None,
               publish: list[str] | None = None, publish_all: bool = False, expose: list[str] | None = None,
               ip: Optional[str] = None, network_aliases: list[str] | None = None,
               dns: list[str] | None = None, dns_search: list[str] | None = None,
               dns_options: list[str] | None = None, add_hosts: list[str] | None = None,
               volumes: list[str] | None = None, mounts: list[str] | None = None,
               tmpfs: list[str] | None = None, volumes_from: list[str] | None = None,
               init: bool = False, memory_swap: Optional[str] = None, cpu_shares: Optional[int] = None,
               cpuset_cpus: Optional[str] = None, blkio_weight: Optional[int] = None,
               device_read_bps: list[str] | None = None, device_write_bps: list[str] | None = None,
               attach: Optional[bool] = None) -> Container:
        # validate everything before anything is written
        hc: dict = {"AutoRemove": auto_remove, "Memory": 0, "NanoCpus": 0, "PidsLimit": None,
                    "NetworkMode": "bridge", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
        try:
            if memory is not None:
                hc["Memory"] = parse_size_checked(memory)
            if cpus is not None:
                hc["NanoCpus"] = parse_cpus_checked(cpus)
        except UnitError as e:
            raise EngineError(str(e)) from None
        if pids_limit is not None:
            hc["PidsLimit"] = _int64_flag("--pids-limit", pids_limit)
        if stop_timeout is not None:
            _int64_flag("--stop-timeout", stop_timeout)
        hc.update(_resource_flags(hc.get("Memory") or 0, memory_swap, cpu_shares, cpuset_cpus, blkio_weight,
                                  device_read_bps, device_write_bps))
        warnings = []
        if hc.get("BlkioWeight") and not blkio_weight_support():  # as dockerd: discarded, with a warning
            warnings.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                            "Weight discarded.")
            hc["BlkioWeight"] = 0
        if hc.get("Memory") and not hc.get("MemorySwap") and swap_accounting():
            hc["MemorySwap"] = 2 * hc["Memory"]  # docker's default: as much swap as memory
        from .runtime.capabilities import CapabilityError, effective_set, normalize
        try:
            hc["CapAdd"] = [normalize(x) for x in cap_add or []] or None
            hc["CapDrop"] = [normalize(x) for x in cap_drop or []] or None
            effective_set(cap_add or [], cap_drop or [], privileged)
        except CapabilityError as e:
            raise EngineError(f"invalid capability: {e}") from None
        hc["Privileged"] = bool(privileged)
        hc["ReadonlyRootfs"] = bool(read_only)
        if restart:
            pname, _, count = restart.partition(":")
            if pname not in ("no", "always", "unless-stopped", "on-failure") or (count and (
                    pname != "on-failure" or not count.isdigit())):
                raise EngineError(f"invalid restart policy: {restart} (no, always, unless-stopped, on-failure[:N])")
            if auto_remove and pname != "no":
                raise EngineError("conflicting options: cannot specify both --restart and --rm")
            hc["RestartPolicy"] = {"Name": pname, "MaximumRetryCount": int(count or 0)}
        hc["Ulimits"] = [parse_ulimit(u) for u in ulimits or []] or None
        if stop_signal is not None:
            try:
                if _signal_number(stop_signal) <= 0:
                    raise EngineError(f"invalid signal: {stop_signal}")
            except EngineError as e:
                raise EngineError(str(e)) from None  # a bad value of a flag: 125, not 1
        if user:
            _check_user(user)
        from .logs import MAX_FILE, MAX_SIZE  # bounded by default, as docker's local driver
        log_config = {"Type": "dunnage-msgpack", "MaxSize": MAX_SIZE, "MaxFile": MAX_FILE}
        for o in log_opts or []:
            k, sep, v = o.partition("=")
            try:
                if k == "max-size" and sep:
                    log_config["MaxSize"] = parse_size_checked_log(v)
                elif k == "max-file" and sep and int(v) >= 1:
                    log_config["MaxFile"] = int(v)
                else:
                    raise ValueError
            except (ValueError, UnitError):
                raise EngineError(f'invalid --log-opt: "{o}" (max-size=10m, max-file=3)') from None
        hc["LogConfig"] = log_config
        for flag, key, val, allowed in (("--pid", "PidMode", pid_mode, ("", "host")),
                                        ("--ipc", "IpcMode", ipc_mode, ("", "private", "host")),
                                        ("--uts", "UTSMode", uts_mode, ("", "host"))):
            if val is not None and val not in allowed:
                raise EngineError(f'invalid {flag}: "{val}" (one of: {", ".join(a or "empty" for a in allowed)})')
            hc[key] = val if val is not None else ("private" if key == "IpcMode" else "")
        net_configs, exposed = self._network_options(hc, network, publish, publish_all, expose, ip,
                                                     network_aliases, dns, dns_search, dns_options, add_hosts)
        if hostname and (uts_mode == "host" or network == "host"):
            raise EngineError("Conflicting options: hostname and the UTS mode (or --network host)")
        if hostname and not valid_hostname(hostname):
            raise EngineError(f"invalid hostname format: {hostname!r}"[:200])
        healthcheck = None
        if no_healthcheck:
            healthcheck = {"Test": ["NONE"]}
        elif health:
            from .units import parse_duration
            try:
                healthcheck = {"Test": ["CMD-SHELL", health["cmd"]] if health.get("cmd") else None}
                for key, flag in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period")):
                    if health.get(flag) is not None:
                        healthcheck[key] = parse_duration(health[flag])
                if health.get("retries") is not None:
                    if int(health["retries"]) < 0:
                        raise UnitError("--health-retries cannot be negative")
                    healthcheck["Retries"] = int(health["retries"])
            except UnitError as e:
                raise EngineError(str(e)) from None
        label_map = _labels(labels)
        hc["GroupAdd"] = list(group_add or []) or None
        if init:
            from .shim import INIT_BINARY
            if not os.access(INIT_BINARY, os.X_OK):
                raise EngineError(f"--init needs {INIT_BINARY} (Debian: apt-get install tini)")
        hc["Init"] = bool(init)
        if user is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?", user):
            raise EngineError(f'invalid user: "{user}"')
        from .runtime.seccomp import DEFAULT as DEFAULT_SECCOMP, SeccompError, load_profile
        seccomp_opt = None
        for o in security_opt or []:
            key, sep, val = o.replace(":", "=", 1).partition("=")
            if key == "seccomp" and sep and val:
                seccomp_opt = val
            elif key != "no-new-privileges" or val not in ("", "true", "false"):
                raise EngineError(f'invalid --security-opt: "{o}" (supported: no-new-privileges, seccomp=unconfined|FILE)')
        hc["SecurityOpt"] = list(security_opt or []) or None
        try:
            # a profile of the user's is read now and kept with the container, as docker
            # does; the default is named, and applied as the dunnage that starts it has it
            # (docker's too: and a config without 20 KB of profile reads faster)
            if seccomp_opt is None:
                seccomp_profile = None if privileged else DEFAULT_SECCOMP
            else:
                seccomp_profile = load_profile(seccomp_opt)
        except SeccompError as e:
            raise EngineError(str(e)) from None
        if name is not None:
            name = name.lstrip("/")
        if name is not None and not _valid_name(name):
            raise EngineError(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        for e in env or []:
            if not e or e.startswith("="):
                raise EngineError(f"invalid environment variable: {e}")
        img = self.image(image)
        icfg = img.config.get("config") or {}
        ep = [entrypoint] if entrypoint else (icfg.get("Entrypoint") or [])
        if entrypoint == "":
            ep = []
        cmd = list(command) if command else (icfg.get("Cmd") or [] if not entrypoint else [])
        argv = list(ep) + list(cmd)
        if not argv:
            raise EngineError("No command specified")
        mount_list = self._mount_options(volumes, mounts, tmpfs, volumes_from, icfg.get("Volumes") or {})
        from .inspect import docker_record
        cid = new_id()
        hn = hostname or (socket.gethostname() if "host" in (uts_mode, network) else cid[:12])
        envs = _merge_env(icfg.get("Env") or [DEFAULT_PATH], [f"HOSTNAME={hn}"] + list(env or []))
        with self.store.lock("names"):
            if name is None:
                existing = {c.name for c in all_containers(self.store)}
                name = random_name()
                while name in existing:
                    name = random_name() + str(len(existing))
            else:
                other = find(self.store, name)
                if other is not None and other.name == name:
                    raise EngineError(f'Conflict. The container name "/{name}" is already in use by container '
                                      f'"{other.id}". You have to remove (or rename) that container to be able to reuse that name.')
            config = {
                "Id": cid, "Name": name, "Created": now_iso(), "Image": img.id,
                "ImageName": image, "Argv": argv, "Detached": detach, "Seccomp": seccomp_profile,
                "WaitAttach": bool((tty or interactive) and not detach),
                "Lowers": [str(self.store.container_dir(cid) / "init")] + self.images.layer_paths(img),
                "Config": {"Hostname": hn, "Env": envs, "Cmd": cmd, "Entrypoint": ep or None,
                           "User": user if user is not None else (icfg.get("User") or ""),
                           "Image": image, "WorkingDir": workdir or icfg.get("WorkingDir") or "",
                           "Labels": {**(icfg.get("Labels") or {}), **label_map}, "Tty": bool(tty),
                           "ExposedPorts": {p: {} for p in [*(icfg.get("ExposedPorts") or {}), *exposed]} or None,
                           "OpenStdin": bool(interactive),
                           "StopSignal": stop_signal or icfg.get("StopSignal") or "SIGTERM",
                           "StopTimeout": stop_timeout,
                           "Healthcheck": _merge_health(icfg.get("Healthcheck"), healthcheck)},
                "HostConfig": hc, "NetworkConfigs": net_configs,
                # what docker records where the working config above differs (inspect shows it);
                # ATTACH: docker create and run without -d are made to be attached
                "Docker": docker_record(user_env=list(env or []), image_env=icfg.get("Env"), network=network,
                                        stop_signal=stop_signal, image_stop_signal=icfg.get("StopSignal"),
                                        attach=not detach if attach is None else attach, interactive=interactive,
                                        volumes=list(volumes or []), image_volumes=icfg.get("Volumes"),
                                        volumes_from=list(volumes_from or []), tmpfs=list(tmpfs or []),
                                        log_opts=list(log_opts or [])),
            }
            hc["Mounts"] = self._make_volumes(mount_list) or None
            d = self.store.container_dir(cid)
            tmp = self.store.tempdir("create-")
            try:
                write_record(tmp / "config.msgpack", config)
                write_record(tmp / "state.msgpack", {"Status": "created", "Pid": 0, "ExitCode": 0,
                                                      "AttachFirst": config["WaitAttach"],
                                                      "OOMKilled": False, "StartedAt": "", "FinishedAt": "",
                                                      "Error": "", "RestartCount": 0})
                _init_layer(tmp / "init", self.images.layer_paths(img), init)
                (tmp / "hostname").write_text(hn + "\n")
                (tmp / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{hn}\n")
                os.rename(tmp, d)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        c = load(self.store, cid)
        create_dirs(c)
        c.warnings = warnings  # docker's create response carries them; the command line prints them
        events.emit(self.store, "container", "create", cid, {"name": name, "image": image})
        return c

    def _mount_options(self, volumes, mounts, tmpfs, volumes_from, image_volumes: dict) -> list[dict]:
        """Check -v, --mount, --tmpfs, --volumes-from and the image's VOLUMEs: the container's mounts."""
        from .volumes import VolumeError, parse_mount_flag, parse_tmpfs_flag, parse_volume_flag
        out: list[dict] = []
        try:
            for ref in volumes_from or []:
                name, _, mode = ref.partition(":")
                if mode not in ("", "ro", "rw"):
                    raise EngineError(f'invalid --volumes-from "{ref}": mode must be ro or rw')
                other = find(self.store, name)
                if other is None:
                    raise EngineError(f"No such container: {name}")
                for m in other.config["HostConfig"].get("Mounts") or []:
                    if m["Type"] != "tmpfs":
                        out.append(dict(m, ReadOnly=(mode == "ro") or (mode == "" and m.get("ReadOnly"))))
            out += [parse_volume_flag(v) for v in volumes or []]
            out += [parse_mount_flag(m) for m in mounts or []]
            out += [parse_tmpfs_flag(t) for t in tmpfs or []]
        except VolumeError as e:
            raise EngineError(str(e)) from None
        seen = set()
        for m in out:
            if m["Target"] in seen:
                raise EngineError(f"Duplicate mount point: {m['Target']}")
            seen.add(m["Target"])
        for target in image_volumes:  # the image's VOLUMEs not covered: anonymous volumes
            t = os.path.normpath(target)
            if t not in seen:
                out.append({"Type": "volume", "Name": None, "Target": t, "ReadOnly": False, "Anonymous": True})
                seen.add(t)
        return out

    def _make_volumes(self, mounts: list[dict]) -> list[dict]:
        """Create what the mounts need: named and anonymous volumes, missing -v host directories."""
        from .volumes import VolumeError, Volumes
        vols = Volumes(self.store)
        out = []
        for m in mounts:
            m = dict(m)
            try:
                if m["Type"] == "volume":
                    rec = vols.create(m.get("Name"), anonymous=bool(m.get("Anonymous")))
                    m["Name"], m["Source"] = rec["Name"], rec["Mountpoint"]
                elif m["Type"] == "bind" and m.pop("CreateSource", False) and not os.path.exists(m["Source"]):
                    os.makedirs(m["Source"], 0o755, exist_ok=True)
            except (VolumeError, OSError) as e:
                raise EngineError(str(e)) from None
            out.append(m)
        return out

    def _network_options(self, hc: dict, network, publish, publish_all, expose, ip, aliases, dns, dns_search,
                         dns_options, add_hosts) -> tuple[dict, list[str]]:
        """Check the network flags of create; fills HC; returns (NetworkConfigs, exposed ports)."""
        from .net.config import DEFAULT_NETWORK, Networks
        from .net.ports import PortError, key, parse_expose, parse_publish
        from .net.sandbox import mode_kind, network_of
        mode = network or "bridge"
        if mode == "default":
            mode = "bridge"
        kind = mode_kind(mode)
        if kind == "container":
            if find(self.store, mode.split(":", 1)[1]) is None:
                raise EngineError(f"No such container: {mode.split(':', 1)[1]}")
        net = None
        if kind == "bridge" and network_of(mode) != DEFAULT_NETWORK:
            net = Networks(self.store).find(mode)
            if net is None:
                raise EngineError(f"network {mode} not found")
            mode = net["Name"]
        hc["NetworkMode"] = mode
        try:
            bindings = [b for spec in publish or [] for b in parse_publish(spec)]
            exposed = [p for spec in expose or [] for p in parse_expose(spec)]
        except PortError as e:
            raise EngineError(str(e)) from None
        if (bindings or publish_all) and kind == "container":
            raise EngineError("conflicting options: port publishing and the container type network mode")
        if kind in ("host", "none"):
            bindings, publish_all = [], False  # docker discards them: there is nothing to publish to
        seen = set()
        for b in bindings:
            hp = (b["Proto"], b["HostIp"], b["HostPort"])
            if b["HostPort"] and hp in seen:
                raise EngineError(f"Bind for {b['HostIp']}:{b['HostPort']} failed: port is already allocated")
            seen.add(hp)
        hc["PortBindings"] = bindings or None
        hc["PublishAllPorts"] = bool(publish_all)
        exposed = exposed + [key(b) for b in bindings if key(b) not in exposed]
        if (ip or aliases) and net is None:
            what = "user specified IP address" if ip else "network-scoped alias"
            raise EngineError(f"{what} is supported only for containers in user defined networks")
        if ip:
            try:
                if ipaddress.ip_address(ip) not in ipaddress.ip_network(net["Subnet"]):
                    raise ValueError
            except ValueError:
                raise EngineError(f"invalid IP address {ip}: not in the subnet of network {net['Name']} "
                                  f"({net['Subnet']})") from None
        for d in dns or []:
            try:
                ipaddress.ip_address(d)
            except ValueError:
                raise EngineError(f"invalid --dns: {d} is not an IP address") from None
        for h in add_hosts or []:
            name, _, addr = h.partition(":")
            try:
                if not name or any(ch.isspace() or not ch.isprintable() for ch in name):
                    raise ValueError  # a newline or a space would add lines or names to /etc/hosts
                ipaddress.ip_address(addr)
            except ValueError:
                raise EngineError(f'invalid --add-host "{h}" (NAME:IP)') from None
        for d in dns_search or []:  # docker's ValidateDNSSearch; each goes into resolv.conf's search line
            if d != "." and (len(d) > 255 or not _HOSTNAME.fullmatch(d.removesuffix("."))):
                raise EngineError(f"invalid argument {d!r} for --dns-search: {d} is not a valid domain")
        for o in dns_options or []:  # docker takes them as they are; a newline would add lines to resolv.conf
            if not o or any(ch.isspace() or not ch.isprintable() for ch in o):
                raise EngineError(f"invalid argument {o!r} for --dns-option")
        hc["Dns"] = list(dns or []) or None
        hc["DnsSearch"] = list(dns_search or []) or None
        hc["DnsOptions"] = list(dns_options or []) or None
        hc["ExtraHosts"] = list(add_hosts or []) or None
        configs = {}
        if kind == "bridge":
            configs[net["Name"] if net else DEFAULT_NETWORK] = {"Aliases": list(aliases or []), "IPv4Address": ip or ""}
        return configs, exposed

    def start(self, ref: str, code_missing: int = 1, on_listening=None, attach: bool = False) -> Container:
        """Start REF.  For a container that is to wait for an attach before its
        command runs (run -i/-t in the foreground, or ATTACH: start -a), ON_LISTENING()
        is called when it can be attached to."""
        return start.start(self, ref, code_missing, on_listening, attach)

    def run(self, image: str, command: list[str] | None = None, **kw) -> Container:
        c = self.create(image, command, **kw)
        try:
            return self.start(c.id)
        except EngineError:
            if kw.get("auto_remove"):
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
    def _vol_call(self, fn, *args, **kw):
        from .volumes import VolumeError
        try:
            return fn(*args, **kw)
        except VolumeError as e:
            raise EngineError(str(e), e.code) from None

    def volume_create(self, name: Optional[str] = None, labels: list[str] | None = None) -> dict:
        from .volumes import Volumes
        rec = self._vol_call(Volumes(self.store).create, name, _labels(labels))
        events.emit(self.store, "volume", "create", rec["Name"], {"driver": "local"})
        return rec

    def volumes(self) -> list[dict]:
        from .volumes import Volumes
        return Volumes(self.store).list()

    def volume_inspect(self, name: str) -> dict:
        from .volumes import Volumes
        rec = self._vol_call(Volumes(self.store).get, name)
        return {k: v for k, v in rec.items() if k not in ("Anonymous", "Populated")}

    def volume_remove(self, name: str) -> None:
        """A volume in use is refused, -f or not (as docker, which only quiets a missing one)."""
        from .volumes import Volumes
        self._vol_call(Volumes(self.store).remove, name)
        events.emit(self.store, "volume", "destroy", name, {"driver": "local"})

    def volume_prune(self, all_: bool = False) -> list[str]:
        from .volumes import Volumes
        return Volumes(self.store).prune(all_)

    def exec(self, ref: str, argv: list[str], *, tty: bool = False, interactive: bool = False,
             detach: bool = False, user: Optional[str] = None, workdir: Optional[str] = None,
             env: list[str] | None = None) -> int:
        """docker exec: run ARGV in the running container REF; returns its exit code."""
        from .runtime.exec import exec_spec, run_exec
        from .runtime.users import UserError
        c = self.container(ref)
        if not argv:
            raise EngineError("exec needs a command", 1)
        if c.status == "paused":
            raise EngineError(f"container {c.id} is paused, unpause the container before exec", 1)
        if not c.running():
            raise EngineError(f"container {c.id} is not running", 1)
        if user:
            _check_user(user)
        spec = exec_spec(c.config, argv, user=user, workdir=workdir, env=env or [], tty=tty)
        events.emit(self.store, "container", "exec_start: " + " ".join(argv), c.id, {"name": c.name})
        try:
            code, msg = run_exec(c.state["Pid"], open_cgroup(c.id), spec, tty=tty, interactive=interactive,
                                 detach=detach)
        except UserError as e:
            raise EngineError(str(e), 126) from None
        if msg:
            raise EngineError(msg, code)
        return code

    def attach_socket(self, ref: str):
        """A connection to REF's attach socket (its output from now on, our input to it)."""
        from .attach import address, connect
        c = self.container(ref)
        if not c.running():
            raise EngineError("You cannot attach to a stopped container, start it first", 1)
        try:
            return connect(address(self.store, c.id), timeout=5)
        except OSError as e:
            raise EngineError(f"attach: {e}", 1) from None

    def pause(self, ref: str) -> Container:
        return pause.pause(self, ref)

    def unpause(self, ref: str) -> Container:
        return pause.unpause(self, ref)

    def restart(self, ref: str, timeout: Optional[float] = None) -> Container:
        return restart.restart(self, ref, timeout)

    def rename(self, ref: str, new: str) -> Container:
        new = new.lstrip("/")
        if not _valid_name(new):
            raise EngineError(f'Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed', 1)
        with self.store.lock("names"):
            c = self.container(ref)
            other = find(self.store, new)
            if other is not None and other.name == new:
                raise EngineError(f'Error when allocating new name: Conflict. The container name "/{new}" is '
                                  f'already in use by container "{other.id}".', 1)
            old = c.name
            c.config["Name"] = new
            with self.store.lock(f"c-{c.id[:16]}"):
                c.save_config()
        events.emit(self.store, "container", "rename", c.id, {"name": new, "oldName": "/" + old})
        return c

    def update(self, ref: str, memory: Optional[str] = None, cpus: Optional[str] = None,
               pids_limit: Optional[int] = None, memory_swap: Optional[str] = None) -> Container:
        """docker update: change the limits of a container, live if it runs."""
        from .cgroups import Limits
        from .shim import limits_of
        c = self.container(ref)
        hc = dict(c.config["HostConfig"])
        try:
            if memory is not None:
                hc["Memory"] = parse_size_checked(memory)
            if cpus is not None:
                hc["NanoCpus"] = parse_cpus_checked(cpus)
        except UnitError as e:
            raise EngineError(str(e), 1) from None
        if memory_swap is not None:
            hc.update(_resource_flags(hc.get("Memory") or 0, memory_swap, None, None, None, None, None))
        elif memory is not None and (hc.get("MemorySwap") or 0) > 0 and hc["Memory"] > hc["MemorySwap"]:
            raise EngineError("Memory limit should be smaller than already set memoryswap limit, "
                              "update the memoryswap at the same time", 1)
        if pids_limit is not None:
            hc["PidsLimit"] = _int64_flag("--pids-limit", pids_limit)
        if c.running():
            lim = limits_of(hc)
            if pids_limit is not None and int(pids_limit) <= 0:
                lim.pids = -1
            try:
                open_cgroup(c.id).set_limits(Limits(memory=lim.memory if memory is not None else None,
                                                    memory_swap=lim.memory_swap if memory_swap is not None else None,
                                                    cpu_quota=lim.cpu_quota if cpus is not None else None,
                                                    pids=lim.pids if pids_limit is not None else None))
            except CgroupError as e:
                raise EngineError(f"Cannot update container {c.id}: {e}", 1) from None
        c.config["HostConfig"] = hc
        with self.store.lock(f"c-{c.id[:16]}"):
            c.save_config()
        events.emit(self.store, "container", "update", c.id, {"name": c.name})
        return c

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """docker top: the container's processes, as the host's ps shows them; PS_ARGS go to
        ps as dockerd passes them (aux, -o pid,comm, ...), its lines kept for the container's pids."""
        import subprocess
        c = self.container(ref)
        if not c.running():
            raise EngineError(f"Container {c.id} is not running", 1)
        pids = open_cgroup(c.id).procs()
        if ps_args:
            return _ps_top(ps_args, pids)
        if not pids:
            return ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], []
        out = subprocess.run(["ps", "-o", "user:12,pid,ppid,c,stime,tty,time,args", "-p", ",".join(map(str, pids))],
                             capture_output=True, text=True).stdout.splitlines()
        titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        rows = [line.split(None, 7) for line in out[1:] if line.strip()]
        return titles, rows

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

    def copy_to(self, ref: str, src: str, dest: str) -> None:
        files.copy_to(self, ref, src, dest)

    def prune_containers(self) -> list[str]:
        return self.prune("containers")[0]

    def prune(self, what: str, all_: bool = False) -> tuple[list[str], int]:
        """container, image or volume prune: what went, and the bytes on disk that freed."""
        from . import system
        fn = {"containers": system.prune_containers, "images": system.prune_images,
              "volumes": system.prune_volumes}[what]
        return fn(self) if what == "containers" else fn(self, all_)

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
        c = self.container(ref)

        def alive() -> bool:
            if stop is not None and stop():
                return False
            c.reload()
            return c.status in ("running", "paused", "restarting") or bool(c.shim_alive())

        def idle() -> None:
            # the writer is the shim: look again after 50 ms, or the moment it exits (pidfd)
            if c.shim_alive():
                c.wait_shim(0.05)
            else:  # no shim to wait on (one that died: the next look repairs the state)
                time.sleep(0.05)

        return read_logs(str(c.log_path), follow=follow, alive=alive, idle=idle)

    # -------------------------------------------------------------- events
    def events_since(self, offset: int = 0) -> tuple[list[dict], int]:
        """The event records from byte OFFSET of the events log on, and the offset to ask
        from next (0: all of them)."""
        return events.read(self.store, offset)

    def follow_events(self, since_ns: int = 0) -> Iterator[dict]:
        """docker events: the records from time SINCE_NS on, then new ones as they come."""
        return events.follow(self.store, since_ns)

    # -------------------------------------------------------------- inspect
    def inspect(self, ref: str) -> dict:
        from .inspect import container_inspect
        from .volumes import docker_mounts
        return container_inspect(self.container(ref), docker_mounts)

    @staticmethod
    def published_ports(c: Container) -> dict:
        """docker's NetworkSettings.Ports of C: what it publishes while it runs."""
        return published_ports(c)

    # -------------------------------------------------------------- networks
    def _networks(self):
        from .net.config import Networks
        return Networks(self.store)

    def _net_call(self, fn, *args, **kw):
        from .net.config import NetworkError
        try:
            return fn(*args, **kw)
        except NetworkError as e:
            raise EngineError(str(e), e.code) from None

    def networks(self) -> list[dict]:
        """Records of every network (the default bridge is made on first look, as docker always has one)."""
        nets = self._networks()
        self._net_call(nets.ensure_default)
        self._net_call(nets.gc)
        return nets.list()

    def network_create(self, name: str, subnet: Optional[str] = None, gateway: Optional[str] = None,
                       internal: bool = False, labels: list[str] | None = None) -> dict:
        rec = self._net_call(self._networks().create, name, subnet, gateway, internal, _labels(labels))
        events.emit(self.store, "network", "create", rec["Id"], {"name": name, "type": "bridge"})
        return rec

    def network_inspect(self, ref: str) -> dict:
        nets = self._networks()
        if ref in ("bridge", "default"):
            self._net_call(nets.ensure_default)
        self._net_call(nets.gc)
        r = self._net_call(nets.get, ref)
        import ipaddress as _ip
        plen = _ip.ip_network(r["Subnet"]).prefixlen
        from .inspect import endpoint_id
        return {"Name": r["Name"], "Id": r["Id"], "Created": r["Created"], "Scope": "local", "Driver": "bridge",
                "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {},
                                             "Config": [{"Subnet": r["Subnet"], "Gateway": r["Gateway"]}]},
                "Internal": r["Internal"], "Attachable": False, "Ingress": False,
                "Containers": {cid: {"Name": ep["Name"], "EndpointID": endpoint_id(cid, r["Id"]),
                                     "MacAddress": ep["MacAddress"],
                                     "IPv4Address": f"{ep['IPAddress']}/{plen}", "IPv6Address": ""}
                               for cid, ep in r["Endpoints"].items()},
                "Options": {"com.docker.network.bridge.name": r["Bridge"]}, "Labels": r["Labels"]}

    def network_remove(self, ref: str) -> dict:
        if ref in ("host", "none"):
            raise EngineError(f"{ref} is a pre-defined network and cannot be removed", 1)
        nets = self._networks()
        r = self._net_call(nets.get, ref)
        users = [c.name for c in all_containers(self.store) if r["Name"] in (c.config.get("NetworkConfigs") or {})]
        if users and not r.get("Default"):
            raise EngineError(f"error while removing network: network {r['Name']} is used by containers "
                              f"({', '.join(sorted(users))})", 1)
        r = self._net_call(nets.remove, ref)
        events.emit(self.store, "network", "destroy", r["Id"], {"name": r["Name"], "type": "bridge"})
        return r

    def network_prune(self) -> list[str]:
        nets = self._networks()
        used = {n for c in all_containers(self.store) for n in (c.config.get("NetworkConfigs") or {})}
        out = []
        for r in nets.list():
            if not r.get("Default") and r["Name"] not in used:
                self._net_call(nets.remove, r["Id"])
                out.append(r["Name"])
        return out

    def network_connect(self, net_ref: str, ref: str, aliases: list[str] | None = None,
                        ip: Optional[str] = None) -> None:
        """Attach a container to a network: now if it runs, and at each start."""
        from .net.sandbox import endpoint_settings, mode_kind
        nets = self._networks()
        r = self._net_call(nets.get, net_ref)
        c = self.container(ref)
        if mode_kind(c.config["HostConfig"].get("NetworkMode") or "bridge") != "bridge":
            raise EngineError(f"container {c.name} cannot be connected: it uses network mode "
                              f"{c.config['HostConfig']['NetworkMode']}")
        confs = c.config.setdefault("NetworkConfigs", {})
        if r["Name"] in confs:
            raise EngineError(f"endpoint with name {c.name} already exists in network {r['Name']}")
        if (aliases or ip) and r.get("Default"):
            raise EngineError("network-scoped aliases and addresses are supported only for user defined networks")
        if c.running():
            fd = os.open(f"/proc/{c.state['Pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                ep = self._net_call(nets.attach, r["Id"], c.id, c.name, fd, index=len(nets.endpoints_of(c.id)),
                                    ip=ip, aliases=tuple(aliases or ()))
            finally:
                os.close(fd)
            ns = dict(c.state.get("NetworkSettings") or {})
            ns["Networks"] = {**(ns.get("Networks") or {}), r["Name"]: endpoint_settings(ep)}
            c.save_state(NetworkSettings=ns)
        confs[r["Name"]] = {"Aliases": list(aliases or []), "IPv4Address": ip or ""}
        c.save_config()
        events.emit(self.store, "network", "connect", r["Id"], {"name": r["Name"], "container": c.id})

    def network_disconnect(self, net_ref: str, ref: str, force: bool = False) -> None:
        """Detach a container from a network. FORCE, as dockerd's: a container that is gone
        loses the endpoint left under its name, and a network that is gone is dropped from
        the container's settings."""
        nets = self._networks()
        r = nets.find(net_ref)
        if r is None and not force:
            r = self._net_call(nets.get, net_ref)
        if force and find(self.store, ref) is None:
            if r is None:
                self._net_call(nets.get, net_ref)
            ep = next((cid for cid, ep in r["Endpoints"].items() if ref in (ep["Name"], cid) or
                       (len(ref) >= 3 and cid.startswith(ref))), None)
            if ep is None:
                raise EngineError(f"endpoint {ref} not found", 1)
            self._net_call(nets.release, ep, r["Id"])
            events.emit(self.store, "network", "disconnect", r["Id"], {"name": r["Name"], "container": ep})
            return
        c = self.container(ref)
        confs = c.config.get("NetworkConfigs") or {}
        name = r["Name"] if r is not None else net_ref
        if name not in confs:
            raise EngineError(f"container {c.name} is not connected to network {name}", 1)
        if r is not None:  # forced with the network gone, only the container's settings name it
            try:
                self._net_call(nets.release, c.id, r["Id"])
            except EngineError:
                if not force:
                    raise
        del confs[name]
        c.save_config()
        if c.state.get("NetworkSettings"):
            ns = dict(c.state["NetworkSettings"])
            ns["Networks"] = {k: v for k, v in (ns.get("Networks") or {}).items() if k != name}
            c.save_state(NetworkSettings=ns)
        if r is not None:
            events.emit(self.store, "network", "disconnect", r["Id"], {"name": name, "container": c.id})

    def ports(self, ref: str) -> list[tuple[str, str, str]]:
        """(container port/proto, host ip, host port) of a running container's published ports."""
        c = self.container(ref)
        out = []
        for k, binds in published_ports(c).items():
            for b in binds or []:
                out.append((k, b["HostIp"], b["HostPort"]))
        return sorted(out, key=lambda t: (int(t[0].split("/")[0]), t[0], t[2]))

    def inspect_image(self, ref: str) -> dict:
        """docker image inspect's fields (and podman's Digest, Labels and History)."""
        img = self.image(ref)
        cfg = img.config
        conf = cfg.get("config") or {}
        history = cfg.get("history") or []
        out = {
            "Id": img.id, "RepoTags": img.tags, "RepoDigests": list(img.digests or []), "Parent": "",
            "Comment": next((h.get("comment", "") for h in reversed(history) if h.get("comment")), ""),
            "Created": img.created, "DockerVersion": cfg.get("docker_version", ""), "Author": cfg.get("author", ""),
            "Config": conf, "Architecture": cfg.get("architecture"), "Os": cfg.get("os"), "Size": img.size,
            "GraphDriver": {"Name": "dunnage-fuse", "Data": {"Layers": ":".join(self.images.layer_paths(img))}},
            "RootFS": {"Type": "layers", "Layers": cfg["rootfs"]["diff_ids"]},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
            "Digest": img.digests[0].split("@", 1)[1] if img.digests else "",
            "Labels": conf.get("Labels") or None,
            "History": history,
        }
        if cfg.get("variant"):
            out["Variant"] = cfg["variant"]
        if cfg.get("os.version"):
            out["OsVersion"] = cfg["os.version"]
        return out

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


def _ps_top(args: list[str], pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """dockerd's top with ps options: ps ARGS -q PIDS (again without -q for options that
    refuse it, such as f), the lines whose PID column is one of PIDS, the overhanging
    fields of each joined into its last column."""
    import subprocess
    for k, v in re.findall(r"\s+(\S*)=\s*(PID\S*)", " " + " ".join(args)):
        if k != "pid":
            raise EngineError(f'specifying "{k}={v}" is not allowed', 1)
    try:
        r = subprocess.run(["ps", *args, "-q", ",".join(map(str, pids or [0]))], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            r = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EngineError(f"ps: {e}", 1) from None
    if r.returncode != 0:
        raise EngineError(f"ps: {(r.stderr.strip() or 'failed').splitlines()[0]}", 1)
    lines = r.stdout.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise EngineError("Couldn't find PID field in ps output", 1)
    at = titles.index("PID")
    want = set(pids)
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= at:
            continue
        try:
            pid = -1 if fields[at] == "-" else int(fields[at])
        except ValueError:
            raise EngineError(f"Unexpected pid '{fields[at]}'", 1) from None
        if pid in want:
            rows.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return titles, rows


def parse_ulimit(s: str) -> dict:
    """--ulimit name=soft[:hard], checked against what this host lets us set."""
    import resource
    from .runtime.process import ULIMITS, rlimit
    name, sep, val = s.partition("=")
    if not sep or name not in ULIMITS:
        raise EngineError(f'invalid ulimit argument: "{s}" (name=soft[:hard], names: {", ".join(sorted(ULIMITS))})')
    soft_s, colon, hard_s = val.partition(":")
    try:  # as go-units: -1 and infinity are unlimited (RLIM_INFINITY)
        soft = -1 if soft_s == "infinity" else int(soft_s)
        hard = soft if not colon else -1 if hard_s == "infinity" else int(hard_s)
    except ValueError:
        raise EngineError(f'invalid ulimit argument: "{s}"') from None
    if hard != -1 and soft == -1:
        raise EngineError(f"ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}")
    if hard != -1 and soft > hard:
        raise EngineError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    _, host_hard = resource.getrlimit(rlimit(name))
    if host_hard != resource.RLIM_INFINITY and (hard == -1 or hard > host_hard):
        raise EngineError(f"ulimit {name}: hard limit {'unlimited' if hard == -1 else hard} is above this host's {host_hard} "
                          "(raising it needs CAP_SYS_RESOURCE)")
    return {"Name": name, "Soft": soft, "Hard": hard}


_HOSTNAME = re.compile(r"(([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])")


def valid_hostname(name: str) -> bool:
    """docker's check (RFC 1123, at most 63 bytes): the name goes into /etc/hosts
    and /etc/hostname, where a newline or a space would add lines or names."""
    return len(name) <= 63 and _HOSTNAME.fullmatch(name) is not None


def _int64_flag(flag: str, v) -> int:
    """An integer flag's value as docker's int64 flags take it."""
    v = int(v)
    if not -(1 << 63) <= v < 1 << 63:
        raise EngineError(f'invalid argument "{v}" for "{flag}" flag: strconv.ParseInt: parsing "{v}": '
                          "value out of range")
    return v


MAX_ID = (1 << 31) - 1


def _check_user(user: str) -> None:
    """Numeric uids and gids of -u as runc takes them, so that a bad one is refused
    here and not by the container's init."""
    for part in user.split(":", 1):
        if part.isdigit() and int(part) > MAX_ID:
            raise EngineError(f"invalid user {user!r}: uids and gids must be in range 0-{MAX_ID}")


def parse_size_checked_log(s: str) -> int:
    from .units import parse_size
    v = parse_size(s)
    if v <= 0:
        raise UnitError("max-size must be positive")
    return v


def parse_size_checked(s: str) -> int:
    from .units import parse_size
    v = parse_size(s)
    if 0 < v < MIN_MEMORY:
        raise UnitError("Minimum memory limit allowed is 6MB")
    return v


def parse_cpus_checked(s: str) -> int:
    from .units import parse_cpus
    v = parse_cpus(s)
    n = os.cpu_count() or 1
    if v > n * 10**9 or (0 < v < 10**7):
        raise UnitError(f"range of CPUs is from 0.01 to {n:.2f}, as there are only {n} CPUs available")
    return v


def _merge_health(image: Optional[dict], flags: Optional[dict]) -> Optional[dict]:
    """The image's HEALTHCHECK, with the --health-* flags over it."""
    if flags is None:
        return image
    out = dict(image or {})
    out.update({k: v for k, v in flags.items() if v is not None})
    return out if out.get("Test") else None


def _valid_name(n: str) -> bool:
    import re
    return bool(re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+", n))


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    out: dict[str, str] = {}
    for e in base + extra:
        k, _, v = e.partition("=")
        if "=" not in e:
            v = os.environ.get(k)
            if v is None:
                continue
        out[k] = v
    return [f"{k}={v}" for k, v in out.items()]


def _docker_bindings(bindings: list[dict]) -> dict:
    out: dict = {}
    for b in bindings:
        out.setdefault(f"{b['Port']}/{b['Proto']}", []).append(
            {"HostIp": "" if b["HostIp"] == "0.0.0.0" else b["HostIp"], "HostPort": str(b["HostPort"] or "")})
    return out


def _init_layer(d, lowers: list[str], init: bool = False) -> None:
    """docker's init layer: empty /etc/hosts, /etc/hostname and /etc/resolv.conf
    over the image's layers, so the container's own files can be bound there
    without writing mount points into its upper layer (diff, commit); /etc/mtab
    a link to /proc/mounts unless the image has one."""
    etc = os.path.join(d, "etc")
    os.makedirs(etc)
    for L in lowers:  # /etc keeps the image's mode and owner
        try:
            st = os.lstat(os.path.join(L, "etc"))
        except FileNotFoundError:
            continue
        import stat as _stat
        if _stat.S_ISDIR(st.st_mode):
            os.chmod(etc, _stat.S_IMODE(st.st_mode))
            os.chown(etc, st.st_uid, st.st_gid)
        break
    for n in ("hosts", "hostname", "resolv.conf"):
        with open(os.path.join(etc, n), "w"):
            pass
        os.chmod(os.path.join(etc, n), 0o644)
    if not any(os.path.lexists(os.path.join(L, "etc", "mtab")) for L in lowers):
        os.symlink("/proc/mounts", os.path.join(etc, "mtab"))  # as docker's init layer has it
    if init:  # where --init's tini is bound
        from .shim import INIT_PATH
        os.makedirs(os.path.join(d, os.path.dirname(INIT_PATH).lstrip("/")), 0o755, exist_ok=True)
        with open(os.path.join(d, INIT_PATH.lstrip("/")), "w"):
            pass
        os.chmod(os.path.join(d, INIT_PATH.lstrip("/")), 0o755)


def _online_cpus() -> set[int]:
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return _cpu_list(f.read().strip())
    except OSError:
        return set(range(os.cpu_count() or 1))


def _cpu_list(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def _resource_flags(memory: int, memory_swap, cpu_shares, cpuset_cpus, blkio_weight, read_bps, write_bps) -> dict:
    """--memory-swap, --cpu-shares, --cpuset-cpus, --blkio-weight, --device-read/write-bps, checked."""
    import stat as _stat
    from .units import parse_size
    out: dict = {}
    if memory_swap is not None:
        if str(memory_swap) == "-1":
            out["MemorySwap"] = -1
        else:
            try:
                out["MemorySwap"] = parse_size(memory_swap)
            except UnitError as e:
                raise EngineError(f"invalid --memory-swap: {e}") from None
            if not memory:
                raise EngineError("You should always set the Memory limit when using Memoryswap limit, "
                                  "see usage")
            if out["MemorySwap"] < memory:
                raise EngineError("Minimum memoryswap limit should be larger than memory limit, see usage")
    if cpu_shares is not None:
        if not 2 <= int(cpu_shares) <= 262144:
            raise EngineError(f"invalid --cpu-shares {cpu_shares}: between 2 and 262144")
        out["CpuShares"] = int(cpu_shares)
    if cpuset_cpus is not None:
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", cpuset_cpus):
            raise EngineError(f'invalid --cpuset-cpus "{cpuset_cpus}" (e.g. 0-1 or 0,2)')
        want, have = _cpu_list(cpuset_cpus), _online_cpus()
        if not want <= have:
            raise EngineError(f"Requested CPUs are not available - requested {cpuset_cpus}, available: "
                              f"{min(have)}-{max(have)}")
        out["CpusetCpus"] = cpuset_cpus
    if blkio_weight is not None:
        if not 10 <= int(blkio_weight) <= 1000:
            raise EngineError(f"invalid --blkio-weight {blkio_weight}: between 10 and 1000")
        out["BlkioWeight"] = int(blkio_weight)
    for flag, key, items in (("--device-read-bps", "BlkioDeviceReadBps", read_bps),
                             ("--device-write-bps", "BlkioDeviceWriteBps", write_bps)):
        devs = []
        for item in items or []:
            path, sep, rate = item.rpartition(":")
            try:
                st = os.stat(path) if sep else None
                if st is None or not _stat.S_ISBLK(st.st_mode):
                    raise ValueError(f"{path or item} is not a block device")
                bps = parse_size(rate)
                if bps <= 0:
                    raise ValueError("the rate must be positive")
            except (OSError, ValueError) as e:
                raise EngineError(f'invalid {flag} "{item}" (DEVICE:RATE, e.g. /dev/sda:1mb): {e}') from None
            devs.append({"Path": path, "Major": os.major(st.st_rdev), "Minor": os.minor(st.st_rdev), "Rate": bps})
        if devs:
            out[key] = devs
    return out


def _labels(items: list[str] | None) -> dict:
    """--label k=v (of containers, networks, volumes) -> {k: v}."""
    out = {}
    for x in items or []:
        k, _, v = x.partition("=")
        if not k:
            raise EngineError(f'invalid label: "{x}"')
        out[k] = v
    return out
