"""update: a running container's cgroup limits changed, from --resources (OCI's
linux.resources as JSON, `-` for standard input) or runc's flags."""
from __future__ import annotations

import json
import sys

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.errors import Conflict, InvalidParameter
from dunnage.core.runtime.bundle import _limits, unapplied

from . import state

# runc update's flags -> where they go in linux.resources
FLAGS = {"memory": ("memory", "limit"), "memory_swap": ("memory", "swap"),
         "memory_reservation": ("memory", "reservation"), "cpu_shares": ("cpu", "shares"),
         "cpu_quota": ("cpu", "quota"), "cpu_period": ("cpu", "period"), "cpuset_cpus": ("cpu", "cpus"),
         "cpuset_mems": ("cpu", "mems"), "pids_limit": ("pids", "limit"), "blkio_weight": ("blockIO", "weight")}


def resources_from(a) -> dict:
    if a.resources:
        try:
            text = sys.stdin.read() if a.resources == "-" else open(a.resources).read()
            res = json.loads(text)
        except (OSError, ValueError) as e:
            raise InvalidParameter(f"--resources {a.resources}: {e}") from None
        if not isinstance(res, dict):
            raise InvalidParameter(f"--resources {a.resources}: not a JSON object")
        return res
    res: dict = {}
    for flag, (group, key) in FLAGS.items():
        v = getattr(a, flag, None)
        if v is not None:
            res.setdefault(group, {})[key] = v if key in ("cpus", "mems") else _number(flag, v)
    if not res:
        raise InvalidParameter("update needs --resources FILE or a limit flag")
    return res


def _number(flag: str, v: str) -> int:
    from dunnage.core.units import UnitError, parse_size
    if flag.startswith("memory"):
        if str(v) == "-1":
            return -1
        try:
            return parse_size(str(v))
        except (UnitError, ValueError):
            raise InvalidParameter(f"invalid value for --{flag.replace('_', '-')}: {v}") from None
    try:
        return int(v)
    except ValueError:
        raise InvalidParameter(f"invalid value for --{flag.replace('_', '-')}: {v}") from None


def update(root: str, cid: str, a, say=lambda s: None) -> None:
    st = state.load(root, cid)
    if state.status(root, st) == "stopped":
        raise Conflict("container not running")
    res = resources_from(a)
    for w in unapplied(res):
        say(f"warning: {w}")
    limits = _limits(res, [])
    if "devices" not in res:
        limits.devices = None  # untouched
    open_cgroup_path(st.cgroups_path).set_limits(limits)
