"""docker create: a ContainerSpec (core/spec.py) made into a container's records.

The spec's values are checked by `spec.validate()`; here is what the engine's state
decides (the image, the name in use, the network, the --volumes-from container, the
host's cgroup features), then the records are written to a temporary directory and
renamed into place, so that a failed create leaves nothing behind."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import stat as _stat
from typing import Optional

from .. import events
from ..cgroups import blkio_weight_support, swap_accounting
from ..containers import Container, all_containers, create_dirs, find, load, new_id, random_name
from ..errors import Conflict, InvalidParameter, NotFound, System, exit_code_of
from ..images.store import now_iso
from ..spec import DEFAULT_PATH, ContainerSpec, exposed_of, flag_lists, host_record, merge_env, merge_health
from ..store import write_record

BUILD_HOSTNAME = "buildkitsandbox"  # what a RUN's `hostname` says under BuildKit (executor/oci/hosts.go)


def create(e, spec: ContainerSpec) -> Container:
    """Make the container SPEC asks for (E: the Engine facade, for its stores); its
    `warnings` are docker's create response's."""
    spec.validate()
    cfg, host = spec.config, spec.host
    hc = host_record(host)
    warnings = []
    if host.port_bindings and host.mode() == "host":  # as dockerd: the container has the host's ports
        warnings.append("Published ports are discarded when using host network mode")
    if hc.get("BlkioWeight") and not blkio_weight_support():  # as dockerd: discarded, with a warning
        warnings.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                        "Weight discarded.")
        hc["BlkioWeight"] = 0
    if hc.get("Memory") and not hc.get("MemorySwap") and swap_accounting():
        hc["MemorySwap"] = 2 * hc["Memory"]  # docker's default: as much swap as memory
    net_configs = _network(e, spec, hc)
    seccomp_profile = _seccomp(host)
    img = e.image(cfg.image)
    icfg = img.config.get("config") or {}
    ep = cfg.entrypoint if cfg.entrypoint is not None else (icfg.get("Entrypoint") or [])
    cmd = list(cfg.cmd) if cfg.cmd else (icfg.get("Cmd") or [] if not cfg.entrypoint else [])
    argv = list(ep) + list(cmd)
    if not argv:
        raise InvalidParameter("No command specified")
    mount_list = _mounts(e, spec, icfg.get("Volumes") or {})
    from ..inspect import docker_record
    cid = new_id()
    hn = cfg.hostname or (socket.gethostname() if "host" in (host.uts_mode, host.network_mode) else
                          BUILD_HOSTNAME if spec.build else cid[:12])
    envs = merge_env(icfg.get("Env") or [DEFAULT_PATH], ([] if spec.build else [f"HOSTNAME={hn}"]) + list(cfg.env))
    flags = flag_lists(host)
    with e.store.lock("names"):
        name = _name(e, spec.name)
        config = {
            "Id": cid, "Name": name, "Created": now_iso(), "Image": img.id,
            "ImageName": cfg.image, "Argv": argv, "Detached": spec.detach, "Seccomp": seccomp_profile,
            "WaitAttach": bool((cfg.tty or cfg.open_stdin) and not spec.detach),
            "Lowers": [str(e.store.container_dir(cid) / "init")] + e.images.layer_paths(img),
            "Config": {"Hostname": hn, "Env": envs, "Cmd": cmd, "Entrypoint": ep or None,
                       "User": cfg.user if cfg.user is not None else (icfg.get("User") or ""),
                       "Image": cfg.image, "WorkingDir": cfg.working_dir or icfg.get("WorkingDir") or "",
                       "Labels": {**(icfg.get("Labels") or {}), **cfg.labels}, "Tty": cfg.tty,
                       "ExposedPorts": {p: {} for p in [*(icfg.get("ExposedPorts") or {}), *exposed_of(spec)]}
                       or None,
                       "OpenStdin": cfg.open_stdin,
                       "StopSignal": cfg.stop_signal or icfg.get("StopSignal") or "SIGTERM",
                       "StopTimeout": cfg.stop_timeout,
                       "Healthcheck": merge_health(icfg.get("Healthcheck"), cfg.healthcheck)},
            "HostConfig": hc, "NetworkConfigs": net_configs, **({"Build": True} if spec.build else {}),
            # what docker records where the working config above differs (inspect shows it);
            # ATTACH: docker create and run without -d are made to be attached
            "Docker": docker_record(user_env=list(cfg.env), image_env=icfg.get("Env"), network=host.network_mode,
                                    stop_signal=cfg.stop_signal, image_stop_signal=icfg.get("StopSignal"),
                                    attach=not spec.detach if cfg.attach is None else cfg.attach,
                                    interactive=cfg.open_stdin, volumes=flags["volumes"],
                                    image_volumes=icfg.get("Volumes"), volumes_from=list(host.volumes_from),
                                    tmpfs=flags["tmpfs"], log_opts=flags["log_opts"]),
        }
        hc["Mounts"] = _make_volumes(e, mount_list) or None
        _write(e, config, e.images.layer_paths(img), host.init, hn, spec.build)
    c = load(e.store, cid)
    create_dirs(c)
    c.warnings = warnings  # docker's create response carries them; the command line prints them
    events.emit(e.store, "container", "create", cid, {"name": name, "image": cfg.image})
    return c


def _name(e, name: Optional[str]) -> str:
    """NAME, free, or a random free one (under the store's "names" lock)."""
    if name is None:
        existing = {c.name for c in all_containers(e.store)}
        name = random_name()
        while name in existing:
            name = random_name() + str(len(existing))
        return name
    other = find(e.store, name)
    if other is not None and other.name == name:
        raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                          f'"{other.id}". You have to remove (or rename) that container to be able to reuse that name.')
    return name


def _write(e, config: dict, lowers: list[str], init: bool, hn: str, build: bool = False) -> None:
    cid = config["Id"]
    d = e.store.container_dir(cid)
    tmp = e.store.tempdir("create-")
    try:
        write_record(tmp / "config.msgpack", config)
        write_record(tmp / "state.msgpack", {"Status": "created", "Pid": 0, "ExitCode": 0,
                                              "AttachFirst": config["WaitAttach"],
                                              "OOMKilled": False, "StartedAt": "", "FinishedAt": "",
                                              "Error": "", "RestartCount": 0})
        init_layer(tmp / "init", lowers, init, hostname=not build)
        (tmp / "hostname").write_text(hn + "\n")
        (tmp / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{hn}\n")
        os.rename(tmp, d)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _seccomp(host) -> dict | str | None:
    """A profile of the user's is read now and kept with the container, as docker does; the
    default is named, and applied as the dunnage that starts it has it (docker's too: and a
    config without 20 KB of profile reads faster)."""
    from ..runtime.seccomp import DEFAULT as DEFAULT_SECCOMP, load_profile
    from ..spec import seccomp_option
    opt = seccomp_option(host.security_opt)
    if opt is None:
        return None if host.privileged else DEFAULT_SECCOMP
    return load_profile(opt)


def _network(e, spec: ContainerSpec, hc: dict) -> dict:
    """The network mode's container or network, which must exist; fills HC's NetworkMode
    with the network's name; returns the NetworkConfigs."""
    from ..net.config import DEFAULT_NETWORK, Networks
    from ..net.sandbox import mode_kind, network_of
    mode = spec.host.mode()
    kind = mode_kind(mode)
    if kind == "container" and find(e.store, mode.split(":", 1)[1]) is None:
        raise NotFound(f"No such container: {mode.split(':', 1)[1]}")
    net = None
    if kind == "bridge" and network_of(mode) != DEFAULT_NETWORK:
        net = Networks(e.store).find(mode)
        if net is None:
            raise NotFound(f"network {mode} not found")
        mode = net["Name"]
    hc["NetworkMode"] = mode
    ip = spec.networking.ipv4_address
    if ip:
        try:
            if ipaddress.ip_address(ip) not in ipaddress.ip_network(net["Subnet"]):
                raise ValueError
        except ValueError:
            raise InvalidParameter(f"invalid IP address {ip}: not in the subnet of network {net['Name']} "
                              f"({net['Subnet']})") from None
    ip6 = spec.networking.ipv6_address
    if ip6:
        try:
            if ipaddress.ip_address(ip6) not in ipaddress.ip_network(net.get("Subnet6") or "::/128"):
                raise ValueError
        except ValueError:
            raise InvalidParameter(f"invalid IP address {ip6}: not in the IPv6 subnet of network {net['Name']} "
                                   f"({net.get('Subnet6') or 'none: it has no IPv6'})") from None
    if kind != "bridge":
        return {}
    return {net["Name"] if net else DEFAULT_NETWORK: {"Aliases": list(spec.networking.aliases), "IPv4Address": ip,
                                                     **({"IPv6Address": ip6} if ip6 else {})}}


def _mounts(e, spec: ContainerSpec, image_volumes: dict) -> list[dict]:
    """The container's mounts: --volumes-from's, the spec's, and the image's VOLUMEs not
    covered (anonymous volumes)."""
    out: list[dict] = []
    for ref in spec.host.volumes_from:
        name, _, mode = ref.partition(":")
        other = find(e.store, name)
        if other is None:
            raise NotFound(f"No such container: {name}")
        for m in other.config["HostConfig"].get("Mounts") or []:
            if m["Type"] != "tmpfs":
                out.append(dict(m, ReadOnly=(mode == "ro") or (mode == "" and m.get("ReadOnly"))))
    out += [dict(m.record) for m in spec.host.mounts]
    seen = set()
    for m in out:
        if m["Target"] in seen:
            raise InvalidParameter(f"Duplicate mount point: {m['Target']}")
        seen.add(m["Target"])
    for target in image_volumes:
        t = os.path.normpath(target)
        if t not in seen:
            out.append({"Type": "volume", "Name": None, "Target": t, "ReadOnly": False, "Anonymous": True})
            seen.add(t)
    return out


def _make_volumes(e, mounts: list[dict]) -> list[dict]:
    """Create what the mounts need: named and anonymous volumes, missing -v host directories."""
    from ..volumes import Volumes
    vols = Volumes(e.store)
    out = []
    for m in mounts:
        m = dict(m)
        try:
            with exit_code_of(125):
                if m["Type"] == "volume":
                    rec = vols.create(m.get("Name"), anonymous=bool(m.get("Anonymous")))
                    m["Name"], m["Source"] = rec["Name"], rec["Mountpoint"]
                elif m["Type"] == "bind" and m.pop("CreateSource", False) and not os.path.exists(m["Source"]):
                    os.makedirs(m["Source"], 0o755, exist_ok=True)
        except OSError as err:
            raise System(str(err)) from None
        out.append(m)
    return out


def init_layer(d, lowers: list[str], init: bool = False, hostname: bool = True) -> None:
    """docker's init layer: empty /etc/hosts, /etc/hostname and /etc/resolv.conf
    over the image's layers, so the container's own files can be bound there
    without writing mount points into its upper layer (diff, commit); /etc/mtab
    a link to /proc/mounts unless the image has one.  Without HOSTNAME (a build's
    RUN, as BuildKit's) the image's /etc/hostname is left as it is, and is not bound."""
    etc = os.path.join(d, "etc")
    os.makedirs(etc)
    for L in lowers:  # /etc keeps the image's mode and owner
        try:
            st = os.lstat(os.path.join(L, "etc"))
        except FileNotFoundError:
            continue
        if _stat.S_ISDIR(st.st_mode):
            os.chmod(etc, _stat.S_IMODE(st.st_mode))
            os.chown(etc, st.st_uid, st.st_gid)
        break
    for n in ("hosts", "hostname", "resolv.conf") if hostname else ("hosts", "resolv.conf"):
        with open(os.path.join(etc, n), "w"):
            pass
        os.chmod(os.path.join(etc, n), 0o644)
    if not any(os.path.lexists(os.path.join(L, "etc", "mtab")) for L in lowers):
        os.symlink("/proc/mounts", os.path.join(etc, "mtab"))  # as docker's init layer has it
    if init:  # where --init's tini is bound
        from ..runtime.spec import INIT_PATH
        os.makedirs(os.path.join(d, os.path.dirname(INIT_PATH).lstrip("/")), 0o755, exist_ok=True)
        with open(os.path.join(d, INIT_PATH.lstrip("/")), "w"):
            pass
        os.chmod(os.path.join(d, INIT_PATH.lstrip("/")), 0o755)
