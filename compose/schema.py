"""The Compose Specification's structure, checked by the model itself.

No maintained PyPI package ships the specification's JSON schema (docker-compose 1.x,
which carried a copy, is unmaintained since 2021), so the keys and the types the
schema allows are written out here, in the schema's terms: an unknown key is named
with its path ("services.web additional properties 'imagee' not allowed", as compose
says it), so is a value of the wrong type, and nothing is created.  `x-` keys are
extensions and allowed wherever the schema allows them."""
from __future__ import annotations

from dunnage.core.errors import InvalidParameter


class SchemaError(InvalidParameter):
    def __init__(self, message: str):
        super().__init__(message, 1)


# the value kinds
STR, INT, NUM, BOOL, ANY = "string", "integer", "number", "boolean", "any"
STR_OR_NUM = "string or number"
STR_OR_LIST = "string or list"
LIST = "list"
LIST_OR_MAP = "list or mapping"
MAP = "mapping"
STR_OR_MAP = "string or mapping"
BOOL_OR_STR = "boolean or string"
LIST_OR_MAP_OR_STR = "string, list or mapping"
SIZE = "string or integer"

BLKIO = {"device_read_bps": LIST, "device_read_iops": LIST, "device_write_bps": LIST,
         "device_write_iops": LIST, "weight": INT, "weight_device": LIST}
HEALTH = {"disable": BOOL, "interval": STR, "retries": NUM, "test": STR_OR_LIST, "timeout": STR,
          "start_period": STR, "start_interval": STR}
RESOURCE = {"cpus": STR_OR_NUM, "memory": SIZE, "pids": INT, "devices": LIST, "generic_resources": LIST}
DEVICE = {"capabilities": LIST, "count": STR_OR_NUM, "device_ids": LIST, "driver": STR, "options": LIST_OR_MAP}
DEPLOY = {"mode": STR, "endpoint_mode": STR, "replicas": INT, "labels": LIST_OR_MAP,
          "rollback_config": MAP, "update_config": MAP,
          "resources": {"limits": RESOURCE, "reservations": RESOURCE},
          "restart_policy": {"condition": STR, "delay": STR, "max_attempts": INT, "window": STR},
          "placement": MAP}
BUILD = {"context": STR, "dockerfile": STR, "dockerfile_inline": STR, "args": LIST_OR_MAP, "ssh": LIST_OR_MAP,
         "labels": LIST_OR_MAP, "cache_from": LIST, "cache_to": LIST, "no_cache": BOOL, "additional_contexts":
         LIST_OR_MAP, "network": STR, "pull": BOOL, "target": STR, "shm_size": SIZE, "extra_hosts": LIST_OR_MAP,
         "isolation": STR, "privileged": BOOL, "secrets": LIST, "tags": LIST, "ulimits": MAP, "platforms": LIST,
         "entitlements": LIST, "provenance": BOOL_OR_STR, "sbom": BOOL_OR_STR}
LOGGING = {"driver": STR, "options": MAP}
SERVICE = {
    "annotations": LIST_OR_MAP, "attach": BOOL, "build": ("string or mapping", BUILD), "blkio_config": BLKIO,
    "cap_add": LIST, "cap_drop": LIST, "cgroup": STR, "cgroup_parent": STR, "command": STR_OR_LIST,
    "configs": LIST, "container_name": STR, "cpu_count": INT, "cpu_percent": INT, "cpu_shares": STR_OR_NUM,
    "cpu_quota": STR_OR_NUM, "cpu_period": STR_OR_NUM, "cpu_rt_period": STR_OR_NUM,
    "cpu_rt_runtime": STR_OR_NUM, "cpus": STR_OR_NUM, "cpuset": STR, "credential_spec": MAP,
    "depends_on": LIST_OR_MAP, "deploy": DEPLOY, "develop": MAP, "device_cgroup_rules": LIST, "devices": LIST,
    "dns": STR_OR_LIST, "dns_opt": LIST, "dns_search": STR_OR_LIST, "domainname": STR,
    "entrypoint": STR_OR_LIST, "env_file": STR_OR_LIST, "label_file": STR_OR_LIST, "environment": LIST_OR_MAP,
    "expose": LIST, "extends": STR_OR_MAP, "external_links": LIST, "extra_hosts": LIST_OR_MAP, "gpus": ANY,
    "group_add": LIST, "healthcheck": HEALTH, "hostname": STR, "image": STR, "init": BOOL, "ipc": STR,
    "isolation": STR, "labels": LIST_OR_MAP, "links": LIST, "logging": LOGGING, "mac_address": STR,
    "mem_limit": SIZE, "mem_reservation": SIZE, "mem_swappiness": INT, "memswap_limit": SIZE,
    "network_mode": STR, "networks": LIST_OR_MAP, "oom_kill_disable": BOOL, "oom_score_adj": INT, "pid": STR,
    "pids_limit": STR_OR_NUM, "platform": STR, "ports": LIST, "post_start": LIST, "pre_stop": LIST,
    "privileged": BOOL, "profiles": LIST, "pull_policy": STR, "read_only": BOOL, "restart": STR,
    "runtime": STR, "scale": INT, "secrets": LIST, "security_opt": LIST, "shm_size": SIZE,
    "stdin_open": BOOL, "stop_grace_period": STR, "stop_signal": STR, "storage_opt": MAP, "sysctls": LIST_OR_MAP,
    "tmpfs": STR_OR_LIST, "tty": BOOL, "ulimits": MAP, "user": STR, "userns_mode": STR, "uts": STR,
    "volumes": LIST, "volumes_from": LIST, "working_dir": STR, "use_api_socket": BOOL, "models": LIST_OR_MAP,
    "provider": MAP,
}
PORT = {"name": STR, "mode": STR, "host_ip": STR, "target": STR_OR_NUM, "published": STR_OR_NUM,
        "protocol": STR, "app_protocol": STR}
VOLUME_MOUNT = {"type": STR, "source": STR, "target": STR, "read_only": BOOL, "consistency": STR,
                "bind": {"propagation": STR, "create_host_path": BOOL, "selinux": STR, "recursive": STR},
                "volume": {"nocopy": BOOL, "subpath": STR}, "tmpfs": {"size": SIZE, "mode": NUM},
                "image": {"subpath": STR}}
DEPENDS = {"condition": STR, "restart": BOOL, "required": BOOL}
SERVICE_NETWORK = {"aliases": LIST, "ipv4_address": STR, "ipv6_address": STR, "link_local_ips": LIST,
                   "mac_address": STR, "driver_opts": MAP, "priority": NUM, "gw_priority": NUM,
                   "interface_name": STR}
NETWORK = {"name": STR, "driver": STR, "driver_opts": MAP, "ipam": {"driver": STR, "config": LIST, "options": MAP},
           "external": (BOOL_OR_STR, {"name": STR}), "internal": BOOL, "enable_ipv4": BOOL, "enable_ipv6": BOOL,
           "attachable": BOOL, "labels": LIST_OR_MAP}
VOLUME = {"name": STR, "driver": STR, "driver_opts": MAP, "external": (BOOL_OR_STR, {"name": STR}),
          "labels": LIST_OR_MAP}
CONFIG = {"name": STR, "content": STR, "environment": STR, "file": STR, "external": ANY, "labels": LIST_OR_MAP,
          "driver": STR, "driver_opts": MAP, "template_driver": STR}
SECRET = {k: v for k, v in CONFIG.items() if k != "content"}
INCLUDE = {"path": STR_OR_LIST, "env_file": STR_OR_LIST, "project_directory": STR}
TOP = {"version": STR, "name": STR, "include": LIST, "services": MAP, "networks": MAP, "volumes": MAP,
       "secrets": MAP, "configs": MAP, "models": MAP}


def _is(v, kind: str) -> bool:
    if v is None:
        return kind == ANY
    return {
        ANY: True, STR: isinstance(v, str), INT: isinstance(v, int) and not isinstance(v, bool),
        NUM: isinstance(v, (int, float)) and not isinstance(v, bool), BOOL: isinstance(v, bool),
        STR_OR_NUM: isinstance(v, (str, int, float)) and not isinstance(v, bool),
        SIZE: isinstance(v, (str, int)) and not isinstance(v, bool),
        STR_OR_LIST: isinstance(v, (str, list)), LIST: isinstance(v, list), MAP: isinstance(v, dict),
        LIST_OR_MAP: isinstance(v, (list, dict)), STR_OR_MAP: isinstance(v, (str, dict)),
        BOOL_OR_STR: isinstance(v, (bool, str)), LIST_OR_MAP_OR_STR: isinstance(v, (str, list, dict)),
    }[kind]


def _fail(where: str, path: str, msg: str) -> None:
    raise SchemaError(f"validating {where}: {path} {msg}")


def _unknown(obj: dict, allowed, path: str, where: str) -> None:
    extra = sorted(str(k) for k in obj if k not in allowed and not str(k).startswith("x-"))
    if extra:
        props = ", ".join(f"'{k}'" for k in extra)
        _fail(where, path, f"additional properties {props} not allowed")


def check_shape(v, shape, path: str, where: str) -> None:
    """V against SHAPE: a kind, a {key: shape} mapping, or (kind, mapping) for a value that
    is either a scalar of that kind or such a mapping."""
    if v is None or _is_reset(v):
        return
    if isinstance(shape, tuple):
        kind, sub = shape
        if isinstance(v, dict):
            check_shape(v, sub, path, where)
        elif not _is(v, kind.split(" or ")[0]) and not _is(v, kind):
            _fail(where, path, f"must be a {kind}")
        return
    if isinstance(shape, dict):
        if not isinstance(v, dict):
            _fail(where, path, "must be a mapping")
        _unknown(v, shape, path, where)
        for k, sv in v.items():
            if k in shape:
                check_shape(sv, shape[k], f"{path}.{k}", where)
        return
    if not _is(v, shape):
        _fail(where, path, f"must be a {shape}")


def _is_reset(v) -> bool:
    return type(v).__name__ in ("Reset", "Override") or getattr(v, "compose_tag", None) is not None


def validate(doc, where: str) -> None:
    """The checks compose's JSON schema makes, on the interpolated document of WHERE."""
    if not isinstance(doc, dict):
        raise SchemaError(f"validating {where}: top-level object must be a mapping")
    _unknown(doc, TOP, "(root)", where)
    for key in ("services", "networks", "volumes", "secrets", "configs"):
        sect = doc.get(key)
        if sect is not None and not isinstance(sect, dict):
            _fail(where, key, "must be a mapping")
    if doc.get("name") is not None and not isinstance(doc["name"], str):
        _fail(where, "name", "must be a string")
    if doc.get("include") is not None:
        if not isinstance(doc["include"], list):
            _fail(where, "include", "must be a list")
        for i, inc in enumerate(doc["include"]):
            check_shape(inc, (STR, INCLUDE), f"include.{i}", where)
    for name, svc in (doc.get("services") or {}).items():
        path = f"services.{name}"
        if svc is None:
            svc = {}
        if not isinstance(svc, dict):
            _fail(where, path, "must be a mapping")
        check_shape(svc, SERVICE, path, where)
        _check_service_items(svc, path, where)
    for name, net in (doc.get("networks") or {}).items():
        check_shape(net, NETWORK, f"networks.{name}", where)
    for name, vol in (doc.get("volumes") or {}).items():
        check_shape(vol, VOLUME, f"volumes.{name}", where)
    for key in ("secrets", "configs"):
        for name, obj in (doc.get(key) or {}).items():
            check_shape(obj, CONFIG if key == "configs" else SECRET, f"{key}.{name}", where)


def _check_service_items(svc: dict, path: str, where: str) -> None:
    for i, p in enumerate(_plain_list(svc.get("ports"))):
        check_shape(p, (STR_OR_NUM, PORT), f"{path}.ports.{i}", where)
    for i, v in enumerate(_plain_list(svc.get("volumes"))):
        check_shape(v, (STR, VOLUME_MOUNT), f"{path}.volumes.{i}", where)
    for key in ("cap_add", "cap_drop", "expose", "profiles", "security_opt", "volumes_from", "dns_opt",
                "group_add", "links", "external_links"):
        for i, item in enumerate(_plain_list(svc.get(key))):
            if not _is(item, STR_OR_NUM if key == "expose" else STR):
                _fail(where, f"{path}.{key}.{i}", "must be a string")
    for key in ("command", "entrypoint", "dns", "dns_search", "tmpfs", "env_file"):
        v = svc.get(key)
        if isinstance(v, list):
            for i, item in enumerate(v):
                ok = _is(item, STR) or (key == "env_file" and isinstance(item, dict))
                if not ok and not (key in ("command", "entrypoint") and _is(item, STR_OR_NUM)):
                    _fail(where, f"{path}.{key}.{i}", "must be a string")
            if key == "env_file":
                for i, item in enumerate(v):
                    if isinstance(item, dict):
                        check_shape(item, {"path": STR, "required": BOOL, "format": STR}, f"{path}.env_file.{i}",
                                    where)
    hc = svc.get("healthcheck")
    if isinstance(hc, dict) and isinstance(hc.get("test"), list):
        for i, item in enumerate(hc["test"]):
            if not isinstance(item, str):
                _fail(where, f"{path}.healthcheck.test.{i}", "must be a string")
    dep = svc.get("depends_on")
    if isinstance(dep, dict):
        for name, d in dep.items():
            check_shape(d, DEPENDS, f"{path}.depends_on.{name}", where)
            if isinstance(d, dict) and d.get("condition") not in (None, "service_started", "service_healthy",
                                                                    "service_completed_successfully"):
                _fail(where, f"{path}.depends_on.{name}.condition",
                      "must be one of the following: \"service_started\", \"service_healthy\", "
                      "\"service_completed_successfully\"")
    elif isinstance(dep, list):
        for i, d in enumerate(dep):
            if not isinstance(d, str):
                _fail(where, f"{path}.depends_on.{i}", "must be a string")
    nets = svc.get("networks")
    if isinstance(nets, dict):
        for name, n in nets.items():
            check_shape(n, SERVICE_NETWORK, f"{path}.networks.{name}", where)
    for key in ("environment", "labels", "annotations", "sysctls"):
        v = svc.get(key)
        if isinstance(v, dict):
            for k, item in v.items():
                if item is not None and not _is(item, STR_OR_NUM) and not isinstance(item, bool):
                    _fail(where, f"{path}.{key}.{k}", "must be a string, number, boolean or null")
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if not isinstance(item, str):
                    _fail(where, f"{path}.{key}.{i}", "must be a string")
    ul = svc.get("ulimits")
    if isinstance(ul, dict):
        for k, u in ul.items():
            check_shape(u, (INT, {"soft": INT, "hard": INT}), f"{path}.ulimits.{k}", where)
    deploy = svc.get("deploy") if isinstance(svc.get("deploy"), dict) else {}
    resources = deploy.get("resources") if isinstance(deploy.get("resources"), dict) else {}
    for kind in ("limits", "reservations"):
        res = resources.get(kind) if isinstance(resources.get(kind), dict) else {}
        for i, dev in enumerate(_plain_list(res.get("devices"))):
            at = f"{path}.deploy.resources.{kind}.devices.{i}"
            check_shape(dev, DEVICE, at, where)
            if "capabilities" not in dev:
                _fail(where, at, "capabilities is required")
            for j, cap in enumerate(_plain_list(dev.get("capabilities"))):
                if not isinstance(cap, str):
                    _fail(where, f"{at}.capabilities.{j}", "must be a string")
    for key in ("secrets", "configs"):
        for i, item in enumerate(_plain_list(svc.get(key))):
            check_shape(item, (STR, {"source": STR, "target": STR, "uid": STR, "gid": STR, "mode": STR_OR_NUM}),
                        f"{path}.{key}.{i}", where)
    ext = svc.get("extends")
    if isinstance(ext, dict):
        check_shape(ext, {"service": STR, "file": STR}, f"{path}.extends", where)
        if "service" not in ext:
            _fail(where, f"{path}.extends", "service is required")
    restart = svc.get("restart")
    if isinstance(restart, str):
        name, _, count = restart.partition(":")
        if name not in ("no", "always", "on-failure", "unless-stopped") or (count and not count.isdigit()):
            _fail(where, f"{path}.restart", f'invalid restart policy "{restart}" '
                                           "(no, always, on-failure[:max-retries], unless-stopped)")


def _plain_list(v) -> list:
    return v if isinstance(v, list) else []
