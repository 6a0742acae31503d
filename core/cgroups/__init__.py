"""cgroups v1 and v2 behind one interface: open_cgroup(name) picks the host's."""
from __future__ import annotations

import os

from .common import Cgroup, CgroupError, CgroupStats, Limits, cpu_percent
from .v1 import CgroupV1
from .v2 import CgroupV2

PARENT = "dunnage"


_VERSION: dict[str, int] = {}


def host_version(root: str = "/sys/fs/cgroup") -> int:
    if root not in _VERSION:  # fixed at boot: asked once per process
        _VERSION[root] = 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1
    return _VERSION[root]


def open_cgroup(cid: str) -> Cgroup:
    name = f"{PARENT}/{cid}"
    return CgroupV2(name) if host_version() == 2 else CgroupV1(name)


__all__ = ["Cgroup", "CgroupError", "CgroupStats", "Limits", "cpu_percent", "CgroupV1", "CgroupV2", "open_cgroup", "host_version"]
