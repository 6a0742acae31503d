"""The one cgroup interface (v1 and v2 implement it) and the one stats type."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Optional

from ..errors import System


class CgroupError(System):
    pass


@dataclass
class Limits:
    memory: Optional[int] = None       # bytes
    memory_swap: Optional[int] = None  # docker's --memory-swap: memory + swap, bytes; -1 unlimited
    memory_reservation: Optional[int] = None  # bytes: v1 memory.soft_limit_in_bytes, v2 memory.low
    cpu_quota: Optional[int] = None    # microseconds per period
    cpu_period: int = 100_000
    cpu_shares: Optional[int] = None   # v1 cpu.shares (2-262144); v2 maps it to cpu.weight
    cpuset_cpus: Optional[str] = None  # "0-1", "0,2"
    pids: Optional[int] = None
    blkio_weight: Optional[int] = None  # 10-1000
    # [(major, minor, bytes per second)]
    device_read_bps: Optional[list] = None
    device_write_bps: Optional[list] = None
    devices: Optional[list] = None     # device access allowed ("c 1:3 rwm"); None: no restriction


# runc's default device rules, as docker applies them: mknod of anything, and
# access to null, zero, full, random, urandom, tty, ptmx and the pts
DEFAULT_DEVICES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                   "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"]


def shares_to_weight(shares: int) -> int:
    """cpu.shares (v1) -> cpu.weight (v2), the conversion runc uses."""
    return 1 + ((shares - 2) * 9999) // 262142


@dataclass
class CgroupStats:
    """One sample of a container's cgroup, in docker's terms."""
    time_ns: int = 0                 # monotonic time of the sample
    cpu_usage_ns: int = 0            # total CPU time used
    mem_usage: int = 0               # usage minus inactive file cache
    mem_limit: Optional[int] = None  # None = unlimited
    pids_current: int = 0
    pids_limit: Optional[int] = None
    io_read: int = 0
    io_write: int = 0
    nr_periods: int = 0
    nr_throttled: int = 0
    oom_kills: int = 0
    # not from the cgroup: the container's network namespace (engine.sample fills them)
    net_rx: int = 0
    net_tx: int = 0
    net_rx_packets: int = 0
    net_tx_packets: int = 0


def cpu_percent(a: Optional["CgroupStats"], b: Optional["CgroupStats"]) -> float:
    """docker's CPU %: CPU time used between two samples over the wall time between
    them, times 100 (100 % = one whole core)."""
    if not a or not b or b.time_ns <= a.time_ns:
        return 0.0
    return max(0.0, (b.cpu_usage_ns - a.cpu_usage_ns) / (b.time_ns - a.time_ns) * 100.0)


_FDS: dict[str, int] = {}  # cgroup file -> an open descriptor, re-read with pread
_FDS_MAX = 4096
_FDS_LOCK = threading.Lock()


def _forget_fds() -> None:
    for fd in _FDS.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _FDS.clear()


os.register_at_fork(after_in_child=_forget_fds)  # a forked shim does not keep the dashboard's


def forget_files(dirs) -> None:
    """Close the kept descriptors of files under DIRS (a group that stopped being watched:
    a descriptor left open would pin a removed group in the kernel)."""
    prefixes = tuple(d.rstrip("/") + "/" for d in dirs)
    with _FDS_LOCK:
        for path in [p for p in _FDS if p.startswith(prefixes)]:
            os.close(_FDS.pop(path))


def read_bytes(path: str) -> Optional[bytes]:
    """A small kernel file, read whole. The descriptor stays open and the file is read
    again with pread(2) at offset 0, which makes the kernel generate it afresh: the
    dashboard reads about ten of these per container per second, and an open per read
    was a third of a sampling round. A descriptor of a group that went away reads
    ENODEV: it is dropped and the path opened again (a restarted container's group)."""
    with _FDS_LOCK:
        fd = _FDS.get(path)
        if fd is not None:
            try:
                return os.pread(fd, 65536, 0)
            except OSError:
                del _FDS[path]
                os.close(fd)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            data = os.pread(fd, 65536, 0)
        except OSError:
            os.close(fd)
            return None
        if len(_FDS) >= _FDS_MAX:
            _forget_fds()
        _FDS[path] = fd
        return data


def read_int(path: str, default: Optional[int] = None) -> Optional[int]:
    raw = read_bytes(path)
    if raw is None:
        return default
    v = raw.strip()
    if v in (b"max", b""):
        return None
    try:
        return int(v.split()[0])
    except ValueError:
        return default


def read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    raw = read_bytes(path)
    if raw is None:
        return out
    for line in raw.split(b"\n"):
        parts = line.split()
        if len(parts) >= 2:
            try:
                out[parts[0].decode()] = int(parts[1])
            except ValueError:
                pass
    return out


def read_key(path: str, key: bytes, default: int = 0) -> int:
    """One value of a "key value" file (memory.stat has dozens; we want one)."""
    raw = read_bytes(path)
    if raw is None:
        return default
    if raw.startswith(key + b" "):
        start = len(key) + 1
    else:
        i = raw.find(b"\n" + key + b" ")
        if i == -1:
            return default
        start = i + len(key) + 2
    end = raw.find(b"\n", start)
    try:
        return int(raw[start:end if end != -1 else None])
    except ValueError:
        return default


def write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise CgroupError(f"cannot write {value!r} to {path}: {e.strerror}") from None


def makedirs_racing(path: str, tries: int = 5) -> None:
    """makedirs, tolerating a sibling's teardown removing the shared, empty
    parent (dunnage/) between our making it and our making the group in it."""
    for _ in range(tries - 1):
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    os.makedirs(path, exist_ok=True)


def prune_empty_parents(path: str, root: str) -> None:
    """Remove PATH's ancestors below ROOT while they are empty groups, so that the
    last container leaves no dunnage/ behind (a busy or non-empty one stays)."""
    root = root.rstrip("/")
    parent = os.path.dirname(path.rstrip("/"))
    while parent.startswith(root + "/"):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)


def rmdir_retry(path: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


_HOST_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class Cgroup:
    """A container's cgroup, whatever the hierarchy behind it."""
    version: int

    def create(self, limits: Limits, on_made=None) -> None:
        """Make the group with LIMITS; ON_MADE() is called once its directories exist,
        before the limits are written (a failure after it removes the group again)."""
    def set_limits(self, limits: Limits) -> None: ...
    def join_self(self) -> None: ...
    def procs(self) -> list[int]: ...
    def stats(self) -> CgroupStats: ...
    def exists(self) -> bool: ...
    def destroy(self) -> None: ...
    def freeze(self, frozen: bool) -> None: ...
    def paths(self) -> dict[str, str]: ...

    def own_procs_file(self, line: str) -> str | None:
        """The cgroup.procs file of this process's own group named by LINE of
        /proc/self/cgroup, if it is in a hierarchy of ours."""
        ...

    def prepare_join(self) -> None:
        """Move this process into the group it is in already: a move that changes nothing.
        Every move into a cgroup (join_self) takes the kernel's cgroup_threadgroup_rwsem
        for writing, which first waits out an RCU grace period unless one passed during
        (or just after) the previous move: 5-25 ms on this kind of host, most of what a
        container's start waited for.  Done on a thread while the shim prepares the
        container, the wait is over by the time PID 1 joins its group.  (Called every
        few ms: the file is found once.)"""
        try:
            path = getattr(self, "_own_procs", None)
            if path is None:
                with open("/proc/self/cgroup") as f:
                    path = next(filter(None, map(self.own_procs_file, f.read().splitlines())), "")
                self._own_procs = path
            if path:
                write(path, str(os.getpid()))
        except OSError:
            pass

    def kill_all(self) -> None:
        """SIGKILL every process in the group (those that already went are no error)."""
        import signal
        for p in self.procs():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def forget_files(self) -> None:
        """Close the descriptors kept for this group's files (see read_bytes)."""
        forget_files(self.paths().values())

    def host_memory(self) -> int:
        return _HOST_MEMORY
