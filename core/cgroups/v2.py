"""cgroup v2: one unified hierarchy; controllers enabled down the path."""
from __future__ import annotations

import os
import time

from .common import (Cgroup, CgroupError, CgroupStats, Limits, prune_empty_parents, read_int, read_kv, rmdir_retry,
                     shares_to_weight, write)

WANTED = ("cpu", "cpuset", "memory", "pids", "io")


class CgroupV2(Cgroup):
    version = 2

    def __init__(self, name: str, root: str = "/sys/fs/cgroup"):
        self.name = name
        self.root = root
        self.dir = os.path.join(root, name)

    def paths(self) -> dict[str, str]:
        return {"unified": self.dir}

    def _f(self, fname: str) -> str:
        return os.path.join(self.dir, fname)

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def _enable_controllers(self) -> None:
        """Enable our controllers in every ancestor's subtree_control."""
        parts = self.name.strip("/").split("/")
        cur = self.root
        for p in parts:
            try:
                with open(os.path.join(cur, "cgroup.controllers")) as f:
                    avail = set(f.read().split())
            except OSError:
                avail = set()
            want = " ".join(f"+{c}" for c in WANTED if c in avail)
            if want:
                write(os.path.join(cur, "cgroup.subtree_control"), want)
            cur = os.path.join(cur, p)
            os.makedirs(cur, exist_ok=True)

    def create(self, limits: Limits, on_made=None) -> None:
        for attempt in range(5):
            try:
                self._enable_controllers()
                break
            except FileNotFoundError:  # a sibling's teardown removed the empty parent meanwhile
                if attempt == 4:
                    raise
        try:
            if on_made is not None:
                on_made()
            self.set_limits(limits)
        except BaseException:
            self.destroy()
            raise

    def _need(self, fname: str, what: str) -> str:
        if not os.path.exists(self._f(fname)):
            raise CgroupError(f"{what}: this kernel does not support it ({fname} is missing)")
        return self._f(fname)

    def set_limits(self, limits: Limits) -> None:
        if limits.memory_swap is not None and limits.memory is not None and limits.memory_swap != -1 \
                and limits.memory_swap < limits.memory:
            raise CgroupError("--memory-swap must be at least --memory")
        if limits.memory is not None:
            write(self._f("memory.max"), str(limits.memory))
        if limits.memory_swap is not None:
            # v2 limits swap alone: docker's memory+swap total minus the memory limit
            swap = "max" if limits.memory_swap == -1 else str(max(0, limits.memory_swap - (limits.memory or 0)))
            write(self._need("memory.swap.max", "--memory-swap"), swap)
        if limits.memory_reservation is not None:
            write(self._need("memory.low", "--memory-reservation"), str(limits.memory_reservation))
        if limits.cpu_shares is not None:
            write(self._need("cpu.weight", "--cpu-shares"), str(shares_to_weight(limits.cpu_shares)))
        if limits.cpuset_cpus is not None:
            write(self._need("cpuset.cpus", "--cpuset-cpus"), limits.cpuset_cpus)
        if limits.blkio_weight is not None:
            for f in ("io.weight", "io.bfq.weight"):
                if os.path.exists(self._f(f)):
                    write(self._f(f), f"default {limits.blkio_weight}")
                    break
            else:
                raise CgroupError("--blkio-weight: this kernel does not support it (no io.weight)")
        devs: dict = {}
        for key, lst in (("rbps", limits.device_read_bps), ("wbps", limits.device_write_bps)):
            for ma, mi, bps in lst or []:
                devs.setdefault(f"{ma}:{mi}", []).append(f"{key}={bps}")
        for dev, parts in devs.items():
            write(self._need("io.max", "--device-read-bps/--device-write-bps"), f"{dev} {' '.join(parts)}")
        if limits.cpu_quota is not None:
            write(self._f("cpu.max"), f"{limits.cpu_quota} {limits.cpu_period}")
        if limits.pids is not None:
            write(self._f("pids.max"), str(limits.pids) if limits.pids > 0 else "max")
        if limits.devices is not None:  # v2 has no devices controller: an eBPF program decides
            from . import devices_bpf  # ctypes: loaded on v2 hosts only
            devices_bpf.apply(self.dir, limits.devices)

    def own_procs_file(self, line: str) -> str | None:
        hid, _, path = line.split(":", 2)
        return os.path.join(self.root, path.lstrip("/"), "cgroup.procs") if hid == "0" else None

    def join_self(self) -> None:
        write(self._f("cgroup.procs"), "0")

    def procs(self) -> list[int]:
        try:
            with open(self._f("cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def stats(self) -> CgroupStats:
        s = CgroupStats(time_ns=time.monotonic_ns())
        cs = read_kv(self._f("cpu.stat"))
        s.cpu_usage_ns = cs.get("usage_usec", 0) * 1000
        s.nr_periods, s.nr_throttled = cs.get("nr_periods", 0), cs.get("nr_throttled", 0)
        usage = read_int(self._f("memory.current"), 0) or 0
        ms = read_kv(self._f("memory.stat"))
        s.mem_usage = max(0, usage - ms.get("inactive_file", 0))
        lim = read_int(self._f("memory.max"))
        host = self.host_memory()
        s.mem_limit = min(lim, host) if lim else host
        s.oom_kills = read_kv(self._f("memory.events")).get("oom_kill", 0)
        s.pids_current = read_int(self._f("pids.current"), 0) or 0
        s.pids_limit = read_int(self._f("pids.max"))
        try:
            with open(self._f("io.stat")) as f:
                for line in f:
                    for kv in line.split()[1:]:
                        k, _, v = kv.partition("=")
                        if k == "rbytes":
                            s.io_read += int(v)
                        elif k == "wbytes":
                            s.io_write += int(v)
        except OSError:
            pass
        return s

    def freeze(self, frozen: bool) -> None:
        write(self._f("cgroup.freeze"), "1" if frozen else "0")
        want = "frozen 1" if frozen else "frozen 0"
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                with open(self._f("cgroup.events")) as fh:
                    if want in fh.read():
                        return
            except FileNotFoundError:
                return  # a recorded tree has no events file
            time.sleep(0.005)
        raise CgroupError(f"cgroup.freeze did not reach {want}")

    def destroy(self) -> None:
        self.forget_files()
        if os.path.isdir(self.dir):
            rmdir_retry(self.dir)
        prune_empty_parents(self.dir, self.root)
