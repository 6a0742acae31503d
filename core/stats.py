"""docker stats: samples of a container's cgroup and network namespace, and docker's
figures between two of them.  Numbers only; the fronts format them
(dunnage.tui.rows).

docker's formulas: CPU % is the CPU time used between two samples over the wall time
between them, times 100 (100 % = one whole core: cgroups.cpu_percent); memory is the
usage without the inactive file cache (the cgroup reader subtracts it), over the limit
(the host's memory when there is none)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from .cgroups import CgroupStats, cpu_percent, open_cgroup
from .containers import Container
from .net import host_net_counters


@dataclass
class ContainerStats:
    """One container's figures between two samples; totals are the later sample's, rates
    (per second) are 0 without an earlier sample."""
    id: str
    name: str
    cpu_percent: float = 0.0
    mem_usage: int = 0
    mem_limit: int = 0
    pids: int = 0
    pids_limit: Optional[int] = None
    net_rx: int = 0
    net_tx: int = 0
    net_rx_packets: int = 0
    net_tx_packets: int = 0
    io_read: int = 0
    io_write: int = 0
    net_rx_rate: float = 0.0
    net_tx_rate: float = 0.0
    io_read_rate: float = 0.0
    io_write_rate: float = 0.0

    @property
    def mem_percent(self) -> float:
        return self.mem_usage / self.mem_limit * 100 if self.mem_limit else 0.0


def between(cid: str, name: str, a: Optional[CgroupStats], b: Optional[CgroupStats]) -> ContainerStats:
    """The figures from sample A to sample B (B alone: totals, no CPU % or rates; neither:
    a container that does not run, all zeros)."""
    out = ContainerStats(cid, name, cpu_percent=cpu_percent(a, b))
    if b is None:
        return out
    out.mem_usage, out.mem_limit = b.mem_usage, b.mem_limit or 0
    out.pids, out.pids_limit = b.pids_current, b.pids_limit
    out.net_rx, out.net_tx, out.net_rx_packets, out.net_tx_packets = (b.net_rx, b.net_tx, b.net_rx_packets,
                                                                      b.net_tx_packets)
    out.io_read, out.io_write = b.io_read, b.io_write
    if a is not None and b.time_ns > a.time_ns:
        dt = (b.time_ns - a.time_ns) / 1e9
        out.net_rx_rate = max(0, b.net_rx - a.net_rx) / dt
        out.net_tx_rate = max(0, b.net_tx - a.net_tx) / dt
        out.io_read_rate = max(0, b.io_read - a.io_read) / dt
        out.io_write_rate = max(0, b.io_write - a.io_write) / dt
    return out


def sample(c: Container) -> Optional[CgroupStats]:
    """A running container's cgroup counters and its network namespace's traffic; None
    for one that does not run."""
    if not c.running():
        return None
    try:
        s = open_cgroup(c.id).stats()
    except OSError:
        return None
    s.net_rx, s.net_tx, s.net_rx_packets, s.net_tx_packets = host_net_counters(c.state.get("Pid") or 0)
    return s


def forget(cid: str) -> None:
    """Sampling of container CID is over (it stopped or went): the cgroup files kept open
    for it are closed, so they do not pin a removed group in the kernel."""
    open_cgroup(cid).forget_files()


def stats(engine, refs: list[str] | None = None, all_: bool = False, interval: float = 1.0) -> list[ContainerStats]:
    """docker stats --no-stream: two samples INTERVAL apart."""
    cs = [engine.container(r) for r in refs] if refs else engine.containers(all_)
    first = {c.id: sample(c) for c in cs}
    if any(first.values()):
        time.sleep(interval)
    return [between(c.id, c.name, first[c.id], sample(c)) for c in cs]
