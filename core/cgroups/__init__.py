"""cgroups v1 and v2 behind one interface: open_cgroup(name) picks the host's."""
from __future__ import annotations

import functools
import os

from .common import Cgroup, CgroupError, CgroupStats, Limits, cpu_percent
from .v1 import CgroupV1
from .v2 import CgroupV2

PARENT = "dunnage"


@functools.cache  # fixed at boot: asked once per process
def host_version(root: str = "/sys/fs/cgroup") -> int:
    return 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1


@functools.cache
def blkio_weight_support() -> bool:
    """Whether the disks' I/O schedulers take weights (BFQ, or CFQ on old kernels): docker's
    sysinfo.BlkioWeight.  Without it docker discards --blkio-weight with a warning."""
    if host_version() == 1:
        from .v1 import cached_controller_mounts
        d = cached_controller_mounts().get("blkio")
        return bool(d) and any(os.path.exists(os.path.join(d, f)) for f in ("blkio.weight", "blkio.bfq.weight"))
    root = "/sys/fs/cgroup"  # the root group has no io.weight: look at its children
    return any(os.path.exists(os.path.join(root, d, f)) for d in os.listdir(root)
               if os.path.isdir(os.path.join(root, d)) for f in ("io.weight", "io.bfq.weight"))


@functools.cache
def swap_accounting() -> bool:
    """Whether the kernel can limit a group's swap (docker gives --memory twice as much memory+swap then)."""
    if host_version() == 1:
        from .v1 import cached_controller_mounts
        mem = cached_controller_mounts().get("memory")
        return bool(mem) and os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes"))
    root = "/sys/fs/cgroup"  # the root group has no memory.swap.max: look at its children
    return any(os.path.exists(os.path.join(root, d, "memory.swap.max")) for d in os.listdir(root)
               if os.path.isdir(os.path.join(root, d)))


def open_cgroup(cid: str) -> Cgroup:
    return open_cgroup_path(f"{PARENT}/{cid}")


def open_cgroup_path(path: str) -> Cgroup:
    """The group at PATH under each hierarchy's root (an OCI bundle's cgroupsPath)."""
    return CgroupV2(path) if host_version() == 2 else CgroupV1(path)


__all__ = ["Cgroup", "CgroupError", "CgroupStats", "Limits", "cpu_percent", "CgroupV1", "CgroupV2", "open_cgroup", "open_cgroup_path", "host_version", "swap_accounting"]
