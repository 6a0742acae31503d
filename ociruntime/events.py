"""events: the container's resource use as runc's `events --stats` prints it (libcontainer's
types.Stats), once or every --interval."""
from __future__ import annotations

import json
import time

from dunnage.core.cgroups import open_cgroup_path

from . import state


def stats(root: str, cid: str) -> dict:
    st = state.load(root, cid)
    s = open_cgroup_path(st.cgroups_path).stats()
    return {"type": "stats", "id": cid, "data": {
        "cpu": {"usage": {"total": s.cpu_usage_ns}, "throttling": {"periods": s.nr_periods,
                                                                   "throttledPeriods": s.nr_throttled}},
        "memory": {"usage": {"usage": s.mem_usage, "limit": s.mem_limit or 0}},
        "pids": {"current": s.pids_current, "limit": s.pids_limit or 0},
        "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": s.io_read},
                                              {"op": "Write", "value": s.io_write}]},
    }}


def events(root: str, cid: str, once: bool, interval: float, write=print) -> None:
    """Stats now (ONCE), else every INTERVAL seconds until the container stops."""
    while True:
        write(json.dumps(stats(root, cid)))
        if once:
            return
        time.sleep(interval)
        if state.status(root, state.load(root, cid)) == "stopped":
            return
