"""cgroup v2: one unified hierarchy; controllers enabled down the path."""
from __future__ import annotations

import os
import time

from .common import Cgroup, CgroupError, CgroupStats, Limits, prune_empty_parents, read_int, read_kv, rmdir_retry, write

WANTED = ("cpu", "memory", "pids", "io")


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

    def create(self, limits: Limits) -> None:
        for attempt in range(5):
            try:
                self._enable_controllers()
                break
            except FileNotFoundError:  # a sibling's teardown removed the empty parent meanwhile
                if attempt == 4:
                    raise
        try:
            self.set_limits(limits)
        except BaseException:
            self.destroy()
            raise

    def set_limits(self, limits: Limits) -> None:
        if limits.memory is not None:
            write(self._f("memory.max"), str(limits.memory))
        if limits.cpu_quota is not None:
            write(self._f("cpu.max"), f"{limits.cpu_quota} {limits.cpu_period}")
        if limits.pids is not None:
            write(self._f("pids.max"), str(limits.pids) if limits.pids > 0 else "max")

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
        if os.path.isdir(self.dir):
            rmdir_retry(self.dir)
        prune_empty_parents(self.dir, self.root)
