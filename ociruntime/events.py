"""events: the container's resource use as runc's `events --stats` prints it (libcontainer's
types.Stats), once, or as runc's event stream: every --interval, and an OOM kill when it happens."""
from __future__ import annotations

import json
import time

from dunnage.core.cgroups import open_cgroup_path

from . import state


def stats(root: str, cid: str, raw=None) -> dict:
    """The stats event of container CID (RAW: its cgroup's stats, if read already)."""
    if raw is None:
        st = state.load(root, cid)
        raw = open_cgroup_path(st.cgroups_path).stats()
    s = raw
    return {"type": "stats", "id": cid, "data": {
        "cpu": {"usage": {"total": s.cpu_usage_ns}, "throttling": {"periods": s.nr_periods,
                                                                   "throttledPeriods": s.nr_throttled}},
        "memory": {"usage": {"usage": s.mem_usage, "limit": s.mem_limit or 0}},
        "pids": {"current": s.pids_current, "limit": s.pids_limit or 0},
        "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": s.io_read},
                                              {"op": "Write", "value": s.io_write}]},
    }}


def events(root: str, cid: str, once: bool, interval: float, write=print) -> None:
    """Stats now (ONCE), else runc's event stream until the container stops: its stats every
    INTERVAL seconds and an "oom" event as soon as the OOM killer has killed in its cgroup
    (looked for every 0.1 s; runc waits on the cgroup's eventfd)."""
    st = state.load(root, cid)
    cgroup = open_cgroup_path(st.cgroups_path)
    raw = cgroup.stats()
    write(json.dumps(stats(root, cid, raw)))
    if once:
        return
    ooms = raw.oom_kills
    next_stats = time.monotonic() + interval
    while True:
        time.sleep(max(0.0, min(0.1, next_stats - time.monotonic())))
        if state.status(root, state.load(root, cid)) == "stopped":
            return
        raw = cgroup.stats()
        if raw.oom_kills > ooms:
            ooms = raw.oom_kills
            write(json.dumps({"type": "oom", "id": cid}))
        if time.monotonic() >= next_stats:
            write(json.dumps(stats(root, cid, raw)))
            next_stats = time.monotonic() + interval
