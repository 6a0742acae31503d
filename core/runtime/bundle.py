"""An OCI bundle (runtime-spec 1.1's config.json and its root) read as runc reads it,
mapped onto the runtime's own typed spec (core/runtime/spec.py) and cgroup limits, so a
bundle runs through the same namespace, mount, capability, seccomp and cgroup code as
dunnage's own containers.  What the host cannot honour is refused here, one line each,
before anything is made."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

from ..cgroups import Limits
from ..cgroups.common import DEFAULT_DEVICES
from ..errors import InvalidParameter, NotFound
from .capabilities import normalize
from .process import ULIMITS
from .spec import ProcessSpec, RuntimeSpec, env_dict

SPEC_VERSION = "1.1.0"
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
_HOST_NAMES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "cgroup": "cgroup"}
_MOUNT_TYPES = ("bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "")


class BundleError(InvalidParameter):
    pass


@dataclass
class Bundle:
    """What a bundle asks for: the runtime spec, the cgroup and its limits, the hooks."""
    path: str
    spec: RuntimeSpec
    limits: Limits
    cgroups_path: str  # relative to each hierarchy's root
    terminal: bool = False
    pid_namespace_path: Optional[str] = None  # join this pid namespace (else a new one, or the host's)
    new_pid_namespace: bool = True
    hooks: dict[str, list[dict]] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise BundleError(msg)


def load(bundle: str, container_id: str) -> Bundle:
    """Read BUNDLE/config.json; BundleError (one line) for what is missing, malformed or unsupported."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file or directory (is --bundle a bundle?)") from None
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: {e}") from None
    _need(isinstance(config, dict), f"{path}: not a JSON object")
    return from_config(config, os.path.abspath(bundle), container_id)


def _rlimits(items: list) -> list[dict]:
    out = []
    for r in items or []:
        name = str(r.get("type", "")).removeprefix("RLIMIT_").lower()
        _need(name in ULIMITS, f"rlimit {r.get('type')!r} is not known")
        out.append({"Name": name, "Soft": int(r.get("soft", 0)), "Hard": int(r.get("hard", 0))})
    return out


def _process(p: dict, rootfs: str, warnings: list[str]) -> tuple[ProcessSpec, bool, list[dict]]:
    _need(isinstance(p, dict) and p.get("args"), "process.args must name the program to run")
    user = p.get("user") or {}
    _need(not user.get("username"), "process.user.username is for Windows containers")
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    caps = p.get("capabilities") or {}
    bounding = caps.get("bounding") or []
    for k in ("effective", "permitted"):
        if set(caps.get(k) or []) - set(bounding):
            raise BundleError(f"process.capabilities.{k} has capabilities outside the bounding set")
    for k in ("apparmorProfile", "selinuxLabel"):
        if p.get(k):
            warnings.append(f"process.{k} is not supported on this host: ignored")
    try:
        cap_sets = {k: [normalize(c) for c in caps.get(k) or []]
                    for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    except Exception as e:  # noqa: BLE001 - an unknown name
        raise BundleError(f"process.capabilities: {e}") from None
    _need(not any("ALL" in v for v in cap_sets.values()), "process.capabilities: ALL is not a capability")
    caps_list = cap_sets["bounding"]
    spec = ProcessSpec(
        argv=[str(a) for a in p["args"]],
        env=env_dict(p.get("env") or []),
        cwd=p.get("cwd") or "/",
        user=f"{uid}:{gid}",
        groups=[int(g) for g in user.get("additionalGids") or []],
        caps=caps_list,
        cap_sets=cap_sets,
        seccomp=None,
        no_new_privileges=bool(p.get("noNewPrivileges")),
        umask=user.get("umask"),
    )
    _need(spec.cwd.startswith("/"), f"process.cwd {spec.cwd!r} must be an absolute path")
    return spec, bool(p.get("terminal")), _rlimits(p.get("rlimits"))


def _limits(res: dict, nodes: list[dict]) -> Limits:
    """linux.resources as cgroup limits.  Device rules as runc makes them: the bundle's, then
    the devices every container has (runc's AllowedDevices: docker's defaults) and the
    nodes of linux.devices."""
    res = res or {}
    mem = res.get("memory") or {}
    cpu = res.get("cpu") or {}
    pids = res.get("pids") or {}
    blkio = res.get("blockIO") or {}
    devices = None
    if res.get("devices"):
        rules = []
        for d in res["devices"]:
            major = "*" if d.get("major") in (None, -1) else d["major"]
            minor = "*" if d.get("minor") in (None, -1) else d["minor"]
            kind = d.get("type") or "a"
            rule = f"{kind} {major}:{minor} {d.get('access') or 'rwm'}"
            if d.get("allow"):
                rules.append(rule)
            elif kind == "a" and (d.get("access") or "rwm") == "rwm":
                rules = []  # deny everything: start again from nothing
            else:  # one device denied (dockerd's c 10:229): what allowed it before goes; wildcards stay
                rules = [r for r in rules if r.split()[:2] != rule.split()[:2]]
        devices = rules + list(DEFAULT_DEVICES) + [
            f"{'c' if d['type'] == 'u' else d['type']} {d.get('major', 0)}:{d.get('minor', 0)} rwm"
            for d in nodes if d.get("type") in ("c", "b", "u")]
    quota, period = cpu.get("quota"), cpu.get("period")
    limit = mem.get("limit")
    return Limits(
        memory=limit if limit and limit > 0 else None,
        memory_swap=mem.get("swap") if mem.get("swap") not in (None, 0) else None,
        memory_reservation=mem.get("reservation") if (mem.get("reservation") or 0) > 0 else None,
        cpu_quota=quota if quota and quota > 0 else None,
        cpu_period=period or 100_000,
        cpu_shares=cpu.get("shares") or None,
        cpuset_cpus=cpu.get("cpus") or None,
        pids=pids.get("limit") if pids.get("limit", 0) > 0 else None,
        blkio_weight=blkio.get("weight") or None,
        device_read_bps=[(d["major"], d["minor"], d["rate"]) for d in blkio.get("throttleReadBpsDevice") or []]
        or None,
        device_write_bps=[(d["major"], d["minor"], d["rate"]) for d in blkio.get("throttleWriteBpsDevice") or []]
        or None,
        devices=devices,
    )


# linux.resources' keys _limits applies (the rest are reported, not silently dropped)
_APPLIED = {"memory": {"limit", "swap", "reservation"}, "cpu": {"shares", "quota", "period", "cpus"},
            "pids": {"limit"}, "blockIO": {"weight", "throttleReadBpsDevice", "throttleWriteBpsDevice"},
            "devices": None}


def unapplied(res: dict, hugetlb: Optional[bool] = None) -> list[str]:
    """Warnings for what linux.resources sets that dunnage's cgroups do not apply (HUGETLB:
    whether the host has a hugetlb controller; None: look)."""
    out = []
    for key, value in (res or {}).items():
        if not value:
            continue
        if key == "hugepageLimits":
            if hugetlb is None:
                from ..cgroups.v1 import cached_controller_mounts
                hugetlb = "hugetlb" in cached_controller_mounts() or "hugetlb" in _v2_controllers()
            out.append("linux.resources.hugepageLimits is not applied: " +
                       ("dunnage's cgroups do not set hugetlb limits" if hugetlb
                        else "this host has no hugetlb cgroup controller"))
        elif key not in _APPLIED:
            out.append(f"linux.resources.{key} is not applied by dunnage-runtime: ignored")
        elif _APPLIED[key] is not None and isinstance(value, dict):
            for k, v in value.items():
                if k not in _APPLIED[key] and v not in (None, 0, False, [], {}, ""):
                    out.append(f"linux.resources.{key}.{k} is not applied by dunnage-runtime: ignored")
    return out


def _v2_controllers() -> list[str]:
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
            hybrid = f.read().split()
    except OSError:
        hybrid = []
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            return hybrid + f.read().split()
    except OSError:
        return hybrid


def _mappings(linux: dict, key: str) -> list[dict]:
    """linux.uidMappings or gidMappings, checked: whole numbers, a size of at least 1."""
    out = []
    for m in linux.get(key) or []:
        try:
            c, h, n = (int(m[k]) for k in ("containerID", "hostID", "size"))
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"linux.{key}: each mapping needs containerID, hostID and size as numbers") from None
        _need(c >= 0 and h >= 0 and n >= 1, f"linux.{key}: {c} {h} {n} is not a mapping")
        out.append({"containerID": c, "hostID": h, "size": n})
    return out


def _cgroups_path(path: Optional[str], container_id: str) -> str:
    if not path:
        return f"dunnage-runtime/{container_id}"
    _need(":" not in path, f"linux.cgroupsPath {path!r} is a systemd slice:prefix:name path: "
          "use --systemd-cgroup (not supported here) or a cgroupfs path")
    norm = os.path.normpath("/" + path).lstrip("/")
    _need(norm and not norm.startswith(".."), f"linux.cgroupsPath {path!r} is not a cgroup path")
    return norm


def from_config(config: dict, bundle: str, container_id: str) -> Bundle:
    """The Bundle of a parsed config.json (BUNDLE: its directory, for a relative root)."""
    version = str(config.get("ociVersion") or "")
    _need(version.startswith("1."), f"ociVersion {version!r}: only runtime-spec 1.x is supported")
    warnings: list[str] = []
    root = config.get("root") or {}
    _need(root.get("path"), "root.path must name the container's root filesystem")
    rootfs = os.path.join(bundle, root["path"])
    _need(os.path.isdir(rootfs), f"root.path {rootfs}: no such directory")
    process, terminal, rlimits = _process(config.get("process"), rootfs, warnings)
    linux = config.get("linux") or {}
    for k, what in (("intelRdt", "Intel RDT"), ("personality", "personality")):
        _need(not linux.get(k), f"linux.{k}: {what} are not supported by dunnage-runtime")
    if linux.get("mountLabel"):
        warnings.append("linux.mountLabel is not supported on this host: ignored")
    warnings += unapplied(linux.get("resources") or {})
    host, paths = [], {}
    wanted = {}
    for ns in linux.get("namespaces") or []:
        kind = ns.get("type")
        _need(kind in NAMESPACE_TYPES, f"linux.namespaces: unknown type {kind!r}")
        _need(kind != "time", f"linux.namespaces: {kind} namespaces are not supported by dunnage-runtime")
        _need(kind not in wanted, f"linux.namespaces: {kind} given twice")
        wanted[kind] = ns.get("path") or ""
    _need(not wanted.get("user"), "linux.namespaces: joining a user namespace by path is not supported by "
          "dunnage-runtime")
    _need("user" in wanted or not (linux.get("uidMappings") or linux.get("gidMappings")),  # runc's validator's words
          "user namespace mappings specified, but user namespace isn't enabled in the config")
    uid_maps, gid_maps = _mappings(linux, "uidMappings"), _mappings(linux, "gidMappings")
    if "user" in wanted:
        _need(uid_maps, "user namespaces enabled, but no uid mappings found")
        _need(gid_maps, "user namespaces enabled, but no gid mappings found")
    _need("mount" in wanted, "linux.namespaces: a mount namespace is required")
    for kind, name in _HOST_NAMES.items():
        if kind not in wanted:
            host.append(name)
    for kind, p in wanted.items():
        if p and kind not in ("pid", "user"):
            _need(os.path.exists(p), f"linux.namespaces: {kind} namespace {p}: no such file")
            paths[kind] = p
    mounts = []
    for m in config.get("mounts") or []:
        dest = m.get("destination") or ""
        _need(dest.startswith("/"), f"mounts: destination {dest!r} must be an absolute path")
        _need((m.get("type") or "") in _MOUNT_TYPES or "bind" in (m.get("options") or []),
              f"mounts: type {m.get('type')!r} at {dest} is not supported")
        if m.get("type") == "bind" or {"bind", "rbind"} & set(m.get("options") or []):
            src = m.get("source") or ""
            if not src.startswith("/"):
                src = os.path.join(bundle, src)
            _need(os.path.exists(src), f"mounts: bind source {src} (for {dest}): no such file or directory")
            m = dict(m, source=src)
        mounts.append(m)
    for d in linux.get("devices") or []:
        p = os.path.normpath("/" + str(d.get("path", "")).lstrip("/"))  # (normpath keeps a leading "//")
        _need(p.startswith("/dev/") and d.get("type") in ("c", "b", "u", "p"),
              f"linux.devices: {d.get('path')!r} must be a c, b, u or p node under /dev")
    seccomp = linux.get("seccomp")
    if seccomp:
        _need(isinstance(seccomp, dict) and "defaultAction" in seccomp, "linux.seccomp: defaultAction is required")
        process.seccomp = seccomp
    propagation = linux.get("rootfsPropagation") or ""
    from .rootfs import _PROPAGATION
    _need(not propagation or propagation in _PROPAGATION, f"linux.rootfsPropagation {propagation!r} is not known")
    spec = RuntimeSpec(
        process=process,
        rootfs=rootfs,
        hostname=config.get("hostname") or "",
        read_only=bool(root.get("readonly")),
        ulimits=rlimits,
        host_namespaces=host,
        oci_mounts=mounts,
        devices=list(linux.get("devices") or []),
        masked_paths=list(linux.get("maskedPaths") or []),
        readonly_paths=list(linux.get("readonlyPaths") or []),
        namespace_paths=paths,
        sysctl={str(k): str(v) for k, v in (linux.get("sysctl") or {}).items()},
        oom_score_adj=(config.get("process") or {}).get("oomScoreAdj"),
        rootfs_propagation=propagation,
        uid_mappings=uid_maps if "user" in wanted else None,
        gid_mappings=gid_maps if "user" in wanted else None,
    )
    hooks = config.get("hooks") or {}
    for k in hooks:
        _need(k in HOOKS, f"hooks: unknown hook {k!r}")
        for h in hooks[k] or []:
            _need(str(h.get("path", "")).startswith("/"), f"hooks.{k}: path must be absolute")
    return Bundle(path=bundle, spec=spec, limits=_limits(linux.get("resources"), linux.get("devices") or []),
                  cgroups_path=_cgroups_path(linux.get("cgroupsPath"), container_id), terminal=terminal,
                  pid_namespace_path=wanted.get("pid") or None, new_pid_namespace="pid" in wanted,
                  hooks={k: list(v or []) for k, v in hooks.items()},
                  annotations={str(k): str(v) for k, v in (config.get("annotations") or {}).items()},
                  warnings=warnings)
