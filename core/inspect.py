"""`docker inspect`'s document for a container, built from its records.

dockerd 20.10's field names, order and values, checked field by field against a
real dockerd by tests/test_inspect.py, which lists (and says why) where dunnage
answers otherwise: ids, times, pids, addresses and paths are its own, and so are
the names of what does the work (Driver "dunnage-fuse", Runtime "dunnage", the
log driver "dunnage-msgpack").

The container's record keeps dunnage's working config (Config.Env as the process
gets it, with PATH and HOSTNAME; StopSignal always set; NetworkMode "bridge" for
the default); what docker records instead was asked is kept under "Docker" at
create and shown here.  Records made before that key existed show what can be
told from the working config."""
from __future__ import annotations

import hashlib
import ipaddress
import os

from .runtime.rootfs import MASKED_PATHS, READONLY_PATHS

ZERO_TIME = "0001-01-01T00:00:00Z"
ACTIVE = ("running", "paused", "restarting")


def docker_env(user_env: list[str], image_env: list[str] | None) -> list[str] | None:
    """dockerd's Config.Env: the user's entries first, then the image's that they do
    not set; null for neither.  PATH and HOSTNAME are added to the process's
    environment at start, never here."""
    if not user_env:
        return list(image_env) if image_env else None
    keys = {e.partition("=")[0] for e in user_env}
    return list(user_env) + [e for e in image_env or [] if e.partition("=")[0] not in keys]


def docker_record(*, user_env: list[str], image_env: list[str] | None, network: str | None,
                  stop_signal: str | None, image_stop_signal: str | None, attach: bool, interactive: bool,
                  volumes: list[str], image_volumes: dict | None, volumes_from: list[str], tmpfs: list[str],
                  log_opts: list[str] = ()) -> dict:
    """What docker records from the flags, where dunnage's working config differs (kept
    in the container's config as "Docker")."""
    return {
        "Env": docker_env(user_env, image_env),
        "NetworkMode": network or "default",
        "StopSignal": stop_signal or image_stop_signal or None,
        "AttachStdin": bool(attach and interactive), "AttachStdout": bool(attach), "AttachStderr": bool(attach),
        "StdinOnce": bool(attach and interactive),
        # -v with a source (named volume or host path) is a bind in docker's words;
        # without one an anonymous volume, which Config.Volumes lists
        "Binds": [v for v in volumes if ":" in v] or None,
        "Volumes": _sorted({**{os.path.normpath(v): {} for v in volumes if ":" not in v},
                            **(image_volumes or {})}) or None,
        "VolumesFrom": list(volumes_from) or None,
        # the --log-opt options as given (the log is bounded without them too, as docker's local driver)
        "LogOpts": _sorted(dict(o.partition("=")[::2] for o in log_opts)),
        "Tmpfs": _sorted({t.partition(":")[0]: t.partition(":")[2] for t in tmpfs}) or None,
    }


def _sorted(d: dict) -> dict:
    """A map as Go's JSON writes it: keys in order."""
    return dict(sorted(d.items()))


def _id(*parts: str) -> str:
    """A stable 64-hex id for what dockerd gives a random one (sandbox, endpoint)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def endpoint_id(cid: str, network_id: str) -> str:
    return _id("endpoint", cid, network_id)


def _size_opt(n: int) -> str:
    for unit, mult in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def _legacy_docker(cfg: dict) -> dict:
    """The "Docker" record of a container made before it was kept."""
    env = [e for e in cfg["Config"].get("Env") or [] if e != f"HOSTNAME={cfg['Config'].get('Hostname')}"]
    attach = not cfg.get("Detached")
    return {"Env": env or None, "NetworkMode": cfg["HostConfig"].get("NetworkMode") or "default",
            "StopSignal": cfg["Config"].get("StopSignal"), "AttachStdin": False, "AttachStdout": attach,
            "AttachStderr": attach, "StdinOnce": False, "Binds": None,
            "Volumes": {m["Target"]: {} for m in cfg["HostConfig"].get("Mounts") or [] if m.get("Anonymous")} or None,
            "VolumesFrom": None, "Tmpfs": None}


def container_inspect(c, docker_mounts) -> dict:
    """docker inspect CONTAINER for C (a containers.Container); DOCKER_MOUNTS makes
    the Mounts list from the records (volumes.docker_mounts)."""
    cfg, st = c.config, c.state
    hc, conf = cfg["HostConfig"], cfg["Config"]
    dk = cfg.get("Docker") or _legacy_docker(cfg)
    status = c.status
    restarting = status == "restarting"
    running = status in ACTIVE  # dockerd: a restarting container is Running too, with no pid
    privileged = bool(hc.get("Privileged"))
    started = bool(st.get("StartedAt"))
    lc = hc.get("LogConfig") or {}
    log_opts = dk.get("LogOpts")
    if log_opts is None:
        log_opts = {}
        if lc.get("MaxSize"):
            log_opts["max-size"] = _size_opt(int(lc["MaxSize"]))
        if int(lc.get("MaxFile") or 1) > 1:
            log_opts["max-file"] = str(lc["MaxFile"])
    state = {
        "Status": status, "Running": running, "Paused": status == "paused", "Restarting": restarting,
        "OOMKilled": bool(st.get("OOMKilled")), "Dead": False,
        "Pid": int(st.get("Pid") or 0) if status in ("running", "paused") else 0,
        "ExitCode": int(st.get("ExitCode") or 0), "Error": st.get("Error") or "",
        "StartedAt": st.get("StartedAt") or ZERO_TIME, "FinishedAt": st.get("FinishedAt") or ZERO_TIME,
    }
    if st.get("Health") and conf.get("Healthcheck"):
        state["Health"] = st["Health"]
    user_mounts = hc.get("Mounts") or []
    host_config = {
        "Binds": dk["Binds"], "ContainerIDFile": "",
        "LogConfig": {"Type": lc.get("Type") or "dunnage-msgpack", "Config": log_opts},
        "NetworkMode": dk["NetworkMode"],
        "PortBindings": _sorted(_port_bindings(hc.get("PortBindings") or [])),
        "RestartPolicy": hc.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": bool(hc.get("AutoRemove")), "VolumeDriver": "", "VolumesFrom": dk["VolumesFrom"],
        "CapAdd": hc.get("CapAdd"), "CapDrop": hc.get("CapDrop"),
        # every container gets a cgroup namespace of its own, on v1 as on v2 (docker's
        # --cgroupns private; its default on a v1 host is host)
        "CgroupnsMode": "private",
        "Dns": hc.get("Dns") or [], "DnsOptions": hc.get("DnsOptions") or [], "DnsSearch": hc.get("DnsSearch") or [],
        "ExtraHosts": hc.get("ExtraHosts"), "GroupAdd": hc.get("GroupAdd"),
        "IpcMode": hc.get("IpcMode") or "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0,
        "PidMode": hc.get("PidMode") or "", "Privileged": privileged,
        "PublishAllPorts": bool(hc.get("PublishAllPorts")), "ReadonlyRootfs": bool(hc.get("ReadonlyRootfs")),
        "SecurityOpt": hc.get("SecurityOpt"),
        **({"Tmpfs": dk["Tmpfs"]} if dk.get("Tmpfs") else {}),
        "UTSMode": hc.get("UTSMode") or "", "UsernsMode": "",
        "ShmSize": 64 << 20,  # /dev/shm's size=65536k
        "Runtime": "dunnage", "ConsoleSize": [0, 0], "Isolation": "",
        "CpuShares": hc.get("CpuShares") or 0, "Memory": hc.get("Memory") or 0, "NanoCpus": hc.get("NanoCpus") or 0,
        "CgroupParent": "", "BlkioWeight": hc.get("BlkioWeight") or 0, "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": hc.get("BlkioDeviceReadBps"), "BlkioDeviceWriteBps": hc.get("BlkioDeviceWriteBps"),
        "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None,
        # --cpus is NanoCpus; CpuPeriod and CpuQuota stay what --cpu-period/--cpu-quota asked
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": hc.get("CpusetCpus") or "", "CpusetMems": "",
        "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None,
        "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": hc.get("MemoryReservation") or 0,
        "MemorySwap": hc.get("MemorySwap") or 0, "MemorySwappiness": None, "OomKillDisable": False,
        "PidsLimit": hc.get("PidsLimit"), "Ulimits": hc.get("Ulimits"),
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": [] if privileged else list(MASKED_PATHS),
        "ReadonlyPaths": [] if privileged else list(READONLY_PATHS),
        **({"Init": True} if hc.get("Init") else {}),
    }
    config = {
        "Hostname": conf["Hostname"], "Domainname": "", "User": conf.get("User") or "",
        "AttachStdin": dk["AttachStdin"], "AttachStdout": dk["AttachStdout"], "AttachStderr": dk["AttachStderr"],
        **({"ExposedPorts": _sorted(conf["ExposedPorts"])} if conf.get("ExposedPorts") else {}),
        "Tty": bool(conf.get("Tty")), "OpenStdin": bool(conf.get("OpenStdin")), "StdinOnce": dk["StdinOnce"],
        "Env": dk["Env"], "Cmd": conf.get("Cmd") or None,
        **({"Healthcheck": conf["Healthcheck"]} if conf.get("Healthcheck") else {}),
        "Image": conf["Image"], "Volumes": dk["Volumes"], "WorkingDir": conf.get("WorkingDir") or "",
        "Entrypoint": conf.get("Entrypoint"), "OnBuild": None, "Labels": _sorted(conf.get("Labels") or {}),
        **({"StopSignal": dk["StopSignal"]} if dk.get("StopSignal") else {}),
        **({"StopTimeout": conf["StopTimeout"]} if conf.get("StopTimeout") is not None else {}),
    }
    return {
        "Id": c.id, "Created": cfg["Created"], "Path": cfg["Argv"][0], "Args": cfg["Argv"][1:],
        "State": state, "Image": cfg["Image"],
        # as dockerd: empty until the first start
        "ResolvConfPath": str(c.dir / "resolv.conf") if started else "",
        "HostnamePath": str(c.dir / "hostname") if started else "",
        "HostsPath": str(c.dir / "hosts") if started else "", "LogPath": str(c.log_path) if started else "",
        "Name": "/" + c.name, "RestartCount": int(st.get("RestartCount") or 0),
        "Driver": "dunnage-fuse", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config,
        "GraphDriver": {"Data": {"LowerDir": ":".join(cfg.get("Lowers", [])), "MergedDir": str(c.merged),
                                 "UpperDir": str(c.upper)},
                        "Name": "dunnage-fuse"},
        "Mounts": [_mount(m, r) for m, r in zip(docker_mounts(user_mounts), user_mounts)],
        "Config": config,
        "NetworkSettings": network_settings(c, dk["NetworkMode"]),
    }


def image_inspect(img, layer_paths: list[str]) -> dict:
    """docker image inspect's fields (and podman's Digest, Labels and History) for IMG (an
    images.store.Image), whose layer directories, topmost first, are LAYER_PATHS."""
    cfg = img.config
    conf = cfg.get("config") or {}
    history = cfg.get("history") or []
    out = {
        "Id": img.id, "RepoTags": img.tags, "RepoDigests": list(img.digests or []), "Parent": "",
        "Comment": next((h.get("comment", "") for h in reversed(history) if h.get("comment")), ""),
        "Created": img.created, "DockerVersion": cfg.get("docker_version", ""), "Author": cfg.get("author", ""),
        "Config": conf, "Architecture": cfg.get("architecture"), "Os": cfg.get("os"), "Size": img.size,
        "GraphDriver": {"Name": "dunnage-fuse", "Data": {"Layers": ":".join(layer_paths)}},
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


def network_inspect(r: dict) -> dict:
    """docker network inspect's document from a network's record (core/net/config.py)."""
    plen = ipaddress.ip_network(r["Subnet"]).prefixlen
    return {"Name": r["Name"], "Id": r["Id"], "Created": r["Created"], "Scope": "local", "Driver": "bridge",
            "EnableIPv6": bool(r.get("EnableIPv6")), "IPAM": {"Driver": "default", "Options": {}, "Config": [
                {"Subnet": r["Subnet"], "Gateway": r["Gateway"]},
                *([{"Subnet": r["Subnet6"], "Gateway": r["Gateway6"]}] if r.get("Subnet6") else [])]},
            "Internal": r["Internal"], "Attachable": False, "Ingress": False,
            "Containers": {cid: {"Name": ep["Name"], "EndpointID": endpoint_id(cid, r["Id"]),
                                 "MacAddress": ep["MacAddress"],
                                 "IPv4Address": f"{ep['IPAddress']}/{plen}",
                                 "IPv6Address": f"{ep['GlobalIPv6Address']}/{ep['GlobalIPv6PrefixLen']}"
                                 if ep.get("GlobalIPv6Address") else ""}
                           for cid, ep in r["Endpoints"].items()},
            # dockerd's: the driver options a network was made with (the default bridge: its name)
            "Options": {"com.docker.network.bridge.name": r["Bridge"]} if r.get("Default") else
            dict(r.get("Options") or {}), "Labels": r["Labels"]}


def published_ports(c) -> dict:
    """docker's NetworkSettings.Ports of C (a containers.Container): its published ports
    while it runs, none once it stopped."""
    live = c.state.get("NetworkSettings") if c.status in ACTIVE else None
    return (live or {}).get("Ports") or {}


def _port_bindings(bindings: list[dict]) -> dict:
    out: dict = {}
    for b in bindings:
        out.setdefault(f"{b['Port']}/{b['Proto']}", []).append(
            {"HostIp": "" if b["HostIp"] == "0.0.0.0" else b["HostIp"], "HostPort": str(b["HostPort"] or "")})
    return out


def _mount(m: dict, rec: dict) -> dict:
    """One of Mounts in docker's key order; a volume's Propagation is empty in docker's,
    and so is an anonymous volume's Mode."""
    out = {"Type": m["Type"]}
    if "Name" in m:
        out["Name"] = m["Name"]
    out.update(Source=m.get("Source", ""), Destination=m["Destination"])
    if "Driver" in m:
        out["Driver"] = m["Driver"]
    out.update(Mode="" if rec.get("Anonymous") and m.get("RW", True) else m.get("Mode", ""), RW=m.get("RW", True),
               Propagation="" if m["Type"] in ("volume", "tmpfs") else m.get("Propagation", "rprivate"))
    return out


def _endpoint(ns: dict | None, *, network_id: str = "", endpoint: str = "", aliases=None, ip: str = "") -> dict:
    """One of NetworkSettings.Networks; while it is up, dunnage adds the container's
    Interface (eth0, eth1, ...), which docker does not tell."""
    ns = ns or {}
    return {"IPAMConfig": {"IPv4Address": ip} if ip else None, "Links": None, "Aliases": aliases or None,
            "NetworkID": network_id, "EndpointID": endpoint,
            "Gateway": ns.get("Gateway", ""), "IPAddress": ns.get("IPAddress", ""),
            "IPPrefixLen": ns.get("IPPrefixLen", 0), "IPv6Gateway": ns.get("IPv6Gateway", ""),
            "GlobalIPv6Address": ns.get("GlobalIPv6Address", ""),
            "GlobalIPv6PrefixLen": ns.get("GlobalIPv6PrefixLen", 0), "MacAddress": ns.get("MacAddress", ""),
            "DriverOpts": None,
            **({"Interface": ns["Interface"]} if ns.get("Interface") else {})}


def network_settings(c, mode: str) -> dict:
    """docker's NetworkSettings: each network's endpoint while the container runs (the
    network's id kept after), the default bridge's address at the top as docker does."""
    from .net.config import DEFAULT_NETWORK
    from .net.sandbox import mode_kind
    live_states = ("running", "paused")
    live = (c.state.get("NetworkSettings") or {}) if c.status in live_states else {}
    pid = int(c.state.get("Pid") or 0) if c.status in live_states else 0
    kind = mode_kind(c.config["HostConfig"].get("NetworkMode") or "bridge")
    nets: dict = {}
    if kind in ("none", "host"):
        nets[kind] = _endpoint(None, network_id=_id("network", kind) if pid else "",
                               endpoint=endpoint_id(c.id, kind) if pid else "")
    elif kind == "bridge":
        live_nets = live.get("Networks") or {}
        for name, conf in (c.config.get("NetworkConfigs") or {}).items():
            ln = live_nets.get(name)
            nid = (ln or {}).get("NetworkID") or ""
            nets[name] = _endpoint(ln, network_id=nid, endpoint=endpoint_id(c.id, nid) if ln else "",
                                   aliases=conf.get("Aliases"), ip=conf.get("IPv4Address") or "")
    # the top-level address: the default bridge's (docker's legacy fields), else the
    # first network's, which dunnage has always shown there (docker leaves them empty)
    top = nets.get(DEFAULT_NETWORK) or next((n for n in nets.values() if n["IPAddress"]
                                             and n["IPAddress"] == live.get("IPAddress")), None) or _endpoint(None)
    bridge = ""
    if pid and mode == "bridge":  # dockerd names the default bridge only when --network bridge was given
        from .net.config import Networks
        bridge = Networks(c.store).default_bridge
    return {
        "Bridge": bridge, "SandboxID": _id("sandbox", c.id, c.state.get("StartedAt") or "") if pid else "",
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": _sorted(live.get("Ports") or {}),
        # the network namespace as any process can open it (docker: a bind mount of it)
        "SandboxKey": f"/proc/{pid}/ns/net" if pid and kind != "host" else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": top["EndpointID"] if kind == "bridge" else "",
        "Gateway": top["Gateway"] if kind == "bridge" else "",
        "GlobalIPv6Address": top["GlobalIPv6Address"] if kind == "bridge" else "",
        "GlobalIPv6PrefixLen": top["GlobalIPv6PrefixLen"] if kind == "bridge" else 0,
        "IPAddress": top["IPAddress"] if kind == "bridge" else "",
        "IPPrefixLen": top["IPPrefixLen"] if kind == "bridge" else 0,
        "IPv6Gateway": top["IPv6Gateway"] if kind == "bridge" else "",
        "MacAddress": top["MacAddress"] if kind == "bridge" else "",
        "Networks": _sorted(nets),
    }
