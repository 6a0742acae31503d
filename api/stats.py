"""GET /containers/{id}/stats: docker's stats document from the engine's samples.

docker's clients compute their figures from the document: CPU % is
(cpu delta / system delta) x online CPUs x 100, memory the usage less the inactive
file cache, block I/O the sum of io_service_bytes_recursive.  dunnage's CPU % is the
CPU time used over the wall time between two samples (core/stats.py), so the
document's system_cpu_usage is the sample's monotonic time times the online CPUs
(what the host's CPUs could have used meanwhile, /proc/stat's total in a world
without suspend): docker stats then shows the same figure as dunnage stats, and the
memory usage is already without the inactive file cache."""
from __future__ import annotations

import datetime as _dt
import json
import os
import time

from .errors import ApiError, container_of
from .router import qbool
from .responses import Stream

INTERVAL = 1.0
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cpu(s, ncpu: int) -> dict:
    if s is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return {"cpu_usage": {"total_usage": s.cpu_usage_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": s.time_ns * ncpu, "online_cpus": ncpu,
            "throttling_data": {"periods": s.nr_periods, "throttled_periods": s.nr_throttled, "throttled_time": 0}}


def document(c, figures, a, b, read: str, preread: str) -> dict:
    """docker's stats document of container C from sample A (None: the first of a
    stream) to sample B (None: it does not run); FIGURES are the engine's between them."""
    ncpu = _cpus()
    doc = {"read": read, "preread": preread, "id": c.id, "name": "/" + c.name, "num_procs": 0,
           "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None,
                                             "io_queue_recursive": None, "io_service_time_recursive": None,
                                             "io_wait_time_recursive": None, "io_merged_recursive": None,
                                             "io_time_recursive": None, "sectors_recursive": None},
           "storage_stats": {}, "cpu_stats": _cpu(b, ncpu), "precpu_stats": _cpu(a, ncpu), "memory_stats": {}}
    if b is None:
        return doc
    doc["pids_stats"] = {"current": figures.pids, **({"limit": figures.pids_limit} if figures.pids_limit else {})}
    doc["blkio_stats"]["io_service_bytes_recursive"] = [
        {"major": 0, "minor": 0, "op": "read", "value": figures.io_read},
        {"major": 0, "minor": 0, "op": "write", "value": figures.io_write}]
    doc["memory_stats"] = {"usage": figures.mem_usage, "limit": figures.mem_limit,
                           "failcnt": 0, "stats": {"oom_kill": b.oom_kills}}
    doc["networks"] = {"eth0": {"rx_bytes": figures.net_rx, "rx_packets": figures.net_rx_packets, "rx_errors": 0,
                                "rx_dropped": 0, "tx_bytes": figures.net_tx, "tx_packets": figures.net_tx_packets,
                                "tx_errors": 0, "tx_dropped": 0}}
    return doc


def stats(req):
    from dunnage.core import EngineError
    e = req.engine()
    ref = req.params["id"]
    c = container_of(e, ref)
    stream = qbool(req.query, "stream", True)
    one_shot = qbool(req.query, "one-shot")
    if one_shot and stream:
        raise ApiError(400, "cannot have stream=true and one-shot=true")

    def figures(a, b):
        return e.stats_between(c, a, b)

    if not stream:
        a, pre = (None, _ZERO_TIME) if one_shot else (e.sample(c), _now())
        if a is not None:
            time.sleep(INTERVAL)  # two samples, as dockerd takes them, so precpu_stats is there
        else:
            pre = _ZERO_TIME
        b = e.sample(c)
        e.forget_samples(c.id)  # the service keeps no cgroup file open between requests
        return document(c, figures(a, b), a, b, _now(), pre)

    def body():
        a, pre = None, _ZERO_TIME
        try:
            while True:
                try:
                    c.refresh()  # (its state afresh; the config unpacked again only once its file changed)
                except (OSError, EngineError):
                    return  # removed
                b = e.sample(c)
                now = _now()
                yield json.dumps(document(c, figures(a, b), a, b, now, pre)).encode() + b"\n"
                if b is None:
                    return
                a, pre = b, now
                if req.gone(INTERVAL):  # (one wait, not a poll every 0.1 s: 50 streams are many wake-ups)
                    return
        finally:
            e.forget_samples(c.id)
    return Stream(body())


def register(r) -> None:
    r.add("GET", "/containers/{id}/stats", stats)
