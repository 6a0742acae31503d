"""cgroup v1: one hierarchy per controller, the container's group in each."""
from __future__ import annotations

import os
import time

from .common import (Cgroup, CgroupError, CgroupStats, Limits, makedirs_racing, prune_empty_parents, read_bytes,
                     read_int, read_key, read_kv, rmdir_retry, write)

CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices")


_MOUNTS: dict[str, str] | None = None


def cached_controller_mounts() -> dict[str, str]:
    """controller_mounts(), read once per process (hierarchies are mounted at boot)."""
    global _MOUNTS
    if _MOUNTS is None:
        _MOUNTS = controller_mounts()
    return _MOUNTS


def controller_mounts(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
    """controller name -> mount point of its v1 hierarchy."""
    out: dict[str, str] = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rf = right.split()
            if not rf or rf[0] != "cgroup":
                continue
            mp = left.split()[4]
            for opt in rf[2].split(","):
                if opt in CONTROLLERS and opt not in out:
                    out[opt] = mp
    return out


class CgroupV1(Cgroup):
    version = 1

    def __init__(self, name: str, mounts: dict[str, str] | None = None):
        self.name = name
        self.mounts = mounts if mounts is not None else cached_controller_mounts()
        self.dirs = {c: os.path.join(mp, name) for c, mp in self.mounts.items()}

    def paths(self) -> dict[str, str]:
        return dict(self.dirs)

    def _f(self, ctrl: str, fname: str) -> str:
        return os.path.join(self.dirs[ctrl], fname)

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs.values())

    def create(self, limits: Limits, on_made=None) -> None:
        made = []
        try:
            for c, d in self.dirs.items():
                makedirs_racing(d)
                made.append(c)
                if c == "cpuset":  # a new cpuset group is empty: give it (and dunnage/) its parent's
                    self._inherit_cpuset(d, self.mounts[c])
            if on_made is not None:
                on_made()
            self.set_limits(limits)
        except BaseException:
            for c in reversed(made):
                try:
                    os.rmdir(self.dirs[c])
                except OSError:
                    continue
                prune_empty_parents(self.dirs[c], self.mounts[c])
            raise

    @staticmethod
    def _inherit_cpuset(d: str, root: str) -> None:
        chain = []
        cur = d
        while cur.startswith(root.rstrip("/") + "/"):
            chain.append(cur)
            cur = os.path.dirname(cur)
        for g in reversed(chain):
            parent = os.path.dirname(g)
            for f in ("cpuset.cpus", "cpuset.mems"):
                try:
                    with open(os.path.join(g, f)) as fh:
                        if fh.read().strip():
                            continue
                    with open(os.path.join(parent, f)) as fh:
                        write(os.path.join(g, f), fh.read().strip())
                except FileNotFoundError:
                    pass

    def _need(self, ctrl: str, fname: str, what: str) -> str:
        path = self._f(ctrl, fname) if ctrl in self.dirs else ""
        if not path or not os.path.exists(path):
            raise CgroupError(f"{what}: this kernel does not support it ({ctrl}/{fname} is missing)")
        return path

    def set_limits(self, limits: Limits) -> None:
        if limits.memory_swap is not None and limits.memory is not None and limits.memory_swap != -1 \
                and limits.memory_swap < limits.memory:
            raise CgroupError("--memory-swap must be at least --memory")
        if limits.memory is not None and "memory" in self.dirs:
            # memsw must stay >= memory: order the two writes so each is valid when made
            memsw = self._f("memory", "memory.memsw.limit_in_bytes")
            cur = read_int(memsw)
            if limits.memory_swap is not None and os.path.exists(memsw) and cur is not None \
                    and limits.memory > cur and limits.memory_swap != -1:
                write(memsw, str(limits.memory_swap))
            write(self._f("memory", "memory.limit_in_bytes"), str(limits.memory))
        if limits.memory_swap is not None:
            path = self._need("memory", "memory.memsw.limit_in_bytes", "--memory-swap")
            write(path, "-1" if limits.memory_swap == -1 else str(limits.memory_swap))
        if limits.memory_reservation is not None:
            write(self._need("memory", "memory.soft_limit_in_bytes", "--memory-reservation"),
                  str(limits.memory_reservation))
        if limits.cpu_shares is not None:
            write(self._need("cpu", "cpu.shares", "--cpu-shares"), str(limits.cpu_shares))
        if limits.cpuset_cpus is not None:
            write(self._need("cpuset", "cpuset.cpus", "--cpuset-cpus"), limits.cpuset_cpus)
        if limits.blkio_weight is not None:
            for f in ("blkio.weight", "blkio.bfq.weight"):
                if "blkio" in self.dirs and os.path.exists(self._f("blkio", f)):
                    write(self._f("blkio", f), str(limits.blkio_weight))
                    break
            else:
                raise CgroupError("--blkio-weight: this kernel does not support it "
                                  "(no blkio.weight: the disk's I/O scheduler has no weights)")
        if limits.devices is not None and "devices" in self.dirs:
            write(self._f("devices", "devices.deny"), "a")
            for rule in limits.devices:
                write(self._f("devices", "devices.allow"), rule)
        for flag, fname, devs in (("--device-read-bps", "blkio.throttle.read_bps_device", limits.device_read_bps),
                                  ("--device-write-bps", "blkio.throttle.write_bps_device", limits.device_write_bps)):
            for ma, mi, bps in devs or []:
                write(self._need("blkio", fname, flag), f"{ma}:{mi} {bps}")
        if limits.cpu_quota is not None and "cpu" in self.dirs:
            write(self._f("cpu", "cpu.cfs_period_us"), str(limits.cpu_period))
            write(self._f("cpu", "cpu.cfs_quota_us"), str(limits.cpu_quota))
        if limits.pids is not None and "pids" in self.dirs:
            write(self._f("pids", "pids.max"), str(limits.pids) if limits.pids > 0 else "max")

    def own_procs_file(self, line: str) -> str | None:
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(","):
            if c in self.mounts:
                return os.path.join(self.mounts[c], path.lstrip("/"), "cgroup.procs")
        return None

    def join_self(self) -> None:
        for c, d in self.dirs.items():
            write(os.path.join(d, "cgroup.procs"), "0")

    def procs(self) -> list[int]:
        d = self.dirs.get("pids") or next(iter(self.dirs.values()))
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def stats(self) -> CgroupStats:
        s = CgroupStats(time_ns=time.monotonic_ns())
        if "cpuacct" in self.dirs:
            s.cpu_usage_ns = read_int(self._f("cpuacct", "cpuacct.usage"), 0) or 0
        if "memory" in self.dirs:
            usage = read_int(self._f("memory", "memory.usage_in_bytes"), 0) or 0
            s.mem_usage = max(0, usage - read_key(self._f("memory", "memory.stat"), b"total_inactive_file"))
            lim = read_int(self._f("memory", "memory.limit_in_bytes"))
            host = self.host_memory()
            s.mem_limit = min(lim, host) if lim else host
            s.oom_kills = read_key(self._f("memory", "memory.oom_control"), b"oom_kill")
        if "pids" in self.dirs:
            s.pids_current = read_int(self._f("pids", "pids.current"), 0) or 0
            s.pids_limit = read_int(self._f("pids", "pids.max"))
        if "cpu" in self.dirs:
            cs = read_kv(self._f("cpu", "cpu.stat"))
            s.nr_periods, s.nr_throttled = cs.get("nr_periods", 0), cs.get("nr_throttled", 0)
        if "blkio" in self.dirs:
            for line in (read_bytes(self._f("blkio", "blkio.throttle.io_service_bytes_recursive")) or b"").split(b"\n"):
                p = line.split()
                if len(p) == 3 and p[1] == b"Read":
                    s.io_read += int(p[2])
                elif len(p) == 3 and p[1] == b"Write":
                    s.io_write += int(p[2])
        return s

    def freeze(self, frozen: bool) -> None:
        """The freezer controller: FROZEN stops every task of the group at once."""
        if "freezer" not in self.dirs:
            raise CgroupError("the freezer controller is not mounted")
        f = self._f("freezer", "freezer.state")
        write(f, "FROZEN" if frozen else "THAWED")
        end = time.monotonic() + 5
        want = "FROZEN" if frozen else "THAWED"
        while time.monotonic() < end:
            with open(f) as fh:
                if fh.read().strip() == want:
                    return
            time.sleep(0.005)
        raise CgroupError(f"the freezer did not reach {want}")

    def destroy(self) -> None:
        self.forget_files()
        for c, d in self.dirs.items():
            if os.path.isdir(d):
                rmdir_retry(d)
            prune_empty_parents(d, self.mounts[c])
