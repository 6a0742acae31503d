"""The runtime spec: what the shim hands the container's PID 1, typed, as OCI's config.json
is for runc.  A ProcessSpec is what a process of the container gets (its `process`
section: argv, environment, directory, user, capabilities, seccomp), shared by PID 1
and exec; a RuntimeSpec adds what only PID 1 sets up (its root, hostname, mounts,
namespaces, limits).  Both are built once from the container's record and are plain
data: to_record() gives a msgpack-serialisable dict, from_record() takes it back."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Union

from ..cgroups import Limits
from ..cgroups.common import DEFAULT_DEVICES

# --init: tini, as docker's docker-init, bound into the container
INIT_BINARY = "/usr/bin/tini-static"
INIT_PATH = "/sbin/docker-init"


@dataclass
class ProcessSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: str = "/"
    user: str = ""  # docker's --user: name or uid, [:group]
    group_add: list[str] = field(default_factory=list)
    caps: list[str] = field(default_factory=list)  # the effective set, CAP_ names
    seccomp: Union[dict, str, None] = None  # a profile, "default" (seccomp.DEFAULT) or "unconfined"
    no_new_privileges: bool = False
    umask: Optional[int] = None  # OCI's process.user.umask (None: the one inherited)
    # OCI's process.capabilities, its five sets as given (bounding, effective, permitted, inheritable,
    # ambient: CAP_-less names), applied instead of CAPS for every user; None: docker's way with CAPS
    cap_sets: Optional[dict] = None
    groups: Optional[list[int]] = None  # OCI's additionalGids: exactly these supplementary groups (runc's)
    session_keyring: Optional[str] = None  # a new session keyring of this name (OCI's, unless --no-new-keyring)


@dataclass
class RuntimeSpec:
    process: ProcessSpec
    rootfs: str
    hostname: str = ""
    binds: list[tuple[str, str]] = field(default_factory=list)  # (host file, container path), read-write
    mounts: list[dict] = field(default_factory=list)  # HostConfig.Mounts
    privileged: bool = False
    read_only: bool = False
    ulimits: list[dict] = field(default_factory=list)  # [{Name, Soft, Hard}]
    host_namespaces: list[str] = field(default_factory=list)  # of pid, ipc, uts, net, cgroup: the host's shared
    netns_fd: Optional[int] = None  # a network namespace made (and wired) by the shim, else a new one
    # what an OCI bundle says instead of docker's defaults (core/runtime/bundle.py); None/empty for
    # dunnage's own containers
    oci_mounts: Optional[list[dict]] = None  # config.json's mounts, in order (then no docker defaults)
    devices: list[dict] = field(default_factory=list)  # linux.devices: nodes made in /dev
    masked_paths: Optional[list[str]] = None  # None: docker's (rootfs.MASKED_PATHS)
    readonly_paths: Optional[list[str]] = None  # None: docker's (rootfs.READONLY_PATHS)
    namespace_paths: dict[str, str] = field(default_factory=dict)  # OCI type -> a namespace file to join
    sysctl: dict[str, str] = field(default_factory=dict)
    oom_score_adj: Optional[int] = None
    rootfs_propagation: str = ""  # "", private, rprivate, slave, rslave, shared, rshared
    exec_fifo: Optional[str] = None  # OCI create: wait here (a reader: `start`) just before exec
    # OCI's linux.uidMappings/gidMappings ([{containerID, hostID, size}]): the init in a new user
    # namespace with them (initfork.py), as runc's; None: the host's user namespace
    uid_mappings: Optional[list[dict]] = None
    gid_mappings: Optional[list[dict]] = None

    def to_record(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, d: dict) -> RuntimeSpec:
        d = dict(d)
        d["process"] = ProcessSpec(**d["process"])
        d["binds"] = [tuple(b) for b in d.get("binds") or []]
        return cls(**d)


def env_dict(env: list[str]) -> dict[str, str]:
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in env)


def process_spec(config: dict, argv: list[str]) -> ProcessSpec:
    """The container's process settings (its record's Config and HostConfig) for ARGV."""
    from .capabilities import effective_set
    from .seccomp import for_spec as seccomp_for_spec
    hc = config["HostConfig"]
    return ProcessSpec(
        argv=list(argv),
        env=env_dict(config["Config"]["Env"]),
        cwd=config["Config"].get("WorkingDir") or "/",
        user=config["Config"].get("User") or "",
        group_add=hc.get("GroupAdd") or [],
        caps=effective_set(hc.get("CapAdd") or [], hc.get("CapDrop") or [], bool(hc.get("Privileged"))),
        seccomp=seccomp_for_spec(config.get("Seccomp")),
        no_new_privileges=any(o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
                              for o in hc.get("SecurityOpt") or []),
    )


def runtime_spec(config: dict, rootfs: str, container_dir: str, netns_fd: Optional[int] = None) -> RuntimeSpec:
    """PID 1's spec from the container's record: its root at ROOTFS, the hostname, hosts
    and resolv.conf files from CONTAINER_DIR bound over the image's (a build's RUN, as
    BuildKit's, keeps the image's /etc/hostname)."""
    hc = config["HostConfig"]
    init = bool(hc.get("Init"))
    return RuntimeSpec(
        process=process_spec(config, ([INIT_PATH, "--"] if init else []) + config["Argv"]),
        rootfs=rootfs,
        hostname=config["Config"]["Hostname"],
        binds=([] if config.get("Build") else [(f"{container_dir}/hostname", "/etc/hostname")]) +
              [(f"{container_dir}/hosts", "/etc/hosts"), (f"{container_dir}/resolv.conf", "/etc/resolv.conf")] +
              ([(INIT_BINARY, INIT_PATH)] if init else []),
        mounts=hc.get("Mounts") or [],
        privileged=bool(hc.get("Privileged")),
        read_only=bool(hc.get("ReadonlyRootfs")),
        ulimits=hc.get("Ulimits") or [],
        host_namespaces=[n for n, k in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode"),
                                        ("net", "NetworkMode")) if hc.get(k) == "host"],
        netns_fd=netns_fd,
    )


def limits_of(hc: dict) -> Limits:
    """The cgroup limits of a HostConfig (OCI's linux.resources)."""
    nano = hc.get("NanoCpus") or 0
    return Limits(
        memory=hc.get("Memory") or None,
        memory_swap=hc.get("MemorySwap") or None,
        memory_reservation=hc.get("MemoryReservation") or None,
        cpu_quota=(nano * 100_000 // 1_000_000_000) if nano else None,
        cpu_shares=hc.get("CpuShares") or None,
        cpuset_cpus=hc.get("CpusetCpus") or None,
        pids=hc.get("PidsLimit") or None,
        blkio_weight=hc.get("BlkioWeight") or None,
        device_read_bps=[(d["Major"], d["Minor"], d["Rate"]) for d in hc.get("BlkioDeviceReadBps") or []] or None,
        device_write_bps=[(d["Major"], d["Minor"], d["Rate"]) for d in hc.get("BlkioDeviceWriteBps") or []] or None,
        devices=None if hc.get("Privileged") else list(DEFAULT_DEVICES),
    )
