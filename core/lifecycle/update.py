"""docker update: a container's limits changed in its record, and live in its cgroup
if it runs."""
from __future__ import annotations

from typing import Optional

from .. import events
from ..cgroups import CgroupError, Limits, open_cgroup
from ..containers import Container
from ..errors import InvalidParameter, System, exit_code_of
from ..runtime.spec import limits_of
from ..spec import (_int64_flag, check_memory_reservation, parse_cpus_checked, parse_memory_reservation,
                    parse_size_checked, resource_flags)


def update(e, ref: str, memory: Optional[str] = None, cpus: Optional[str] = None,
           pids_limit: Optional[int] = None, memory_swap: Optional[str] = None,
           memory_reservation: Optional[str] = None, restart: Optional[str] = None) -> Container:
    """RESTART: docker update --restart's policy (the shim reads it at each exit: live)."""
    c = e.container(ref)
    hc = dict(c.config["HostConfig"])
    if restart is not None:
        policy = restart_policy_of(restart)
        if hc.get("AutoRemove") and policy["Name"] != "no":
            raise InvalidParameter(f"Cannot update container {c.id}: Restart policy cannot be updated because "
                                   "AutoRemove is enabled for the container", 1)
        hc["RestartPolicy"] = policy
    if memory_reservation is not None and parse_memory_reservation(memory_reservation):  # docker: 0 changes nothing
        hc["MemoryReservation"] = parse_memory_reservation(memory_reservation)
    else:
        memory_reservation = None
    with exit_code_of(1):
        if memory is not None:
            hc["Memory"] = parse_size_checked(memory)
        if cpus is not None:
            hc["NanoCpus"] = parse_cpus_checked(cpus)
    if memory_swap is not None:
        hc.update(resource_flags(hc.get("Memory") or 0, memory_swap, None, None, None, None, None))
    elif memory is not None and (hc.get("MemorySwap") or 0) > 0 and hc["Memory"] > hc["MemorySwap"]:
        raise InvalidParameter("Memory limit should be smaller than already set memoryswap limit, "
                          "update the memoryswap at the same time", 1)
    if memory is not None or memory_reservation is not None:
        with exit_code_of(1):
            check_memory_reservation(hc.get("Memory") or 0, hc.get("MemoryReservation") or 0)
    if pids_limit is not None:
        hc["PidsLimit"] = _int64_flag("--pids-limit", pids_limit)
    if c.running():
        lim = limits_of(hc)
        if pids_limit is not None and int(pids_limit) <= 0:
            lim.pids = -1
        try:
            open_cgroup(c.id).set_limits(Limits(memory=lim.memory if memory is not None else None,
                                                memory_swap=lim.memory_swap if memory_swap is not None else None,
                                                memory_reservation=lim.memory_reservation
                                                if memory_reservation is not None else None,
                                                cpu_quota=lim.cpu_quota if cpus is not None else None,
                                                pids=lim.pids if pids_limit is not None else None))
        except CgroupError as err:
            raise System(f"Cannot update container {c.id}: {err}", 1) from None
    c.config["HostConfig"] = hc
    with e.store.lock(f"c-{c.id[:16]}"):
        c.save_config()
    events.emit(e.store, "container", "update", c.id, {"name": c.name})
    return c


def restart_policy_of(text: str) -> dict:
    """docker's --restart as its CLI parses it (opts.ParseRestartPolicy) and dockerd checks
    it (validateRestartPolicy), in their words."""
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidParameter("invalid restart policy format", 1)
    count = 0
    if len(parts) == 2:
        try:
            count = int(parts[1], 10)
        except ValueError:
            raise InvalidParameter("maximum retry count must be an integer", 1) from None
    name = parts[0] or "no"
    if name in ("always", "unless-stopped", "no") and count:
        raise InvalidParameter(f"maximum retry count cannot be used with restart policy '{parts[0]}'", 1)
    if name == "on-failure" and count < 0:
        raise InvalidParameter("maximum retry count cannot be negative", 1)
    if name not in ("always", "unless-stopped", "no", "on-failure"):
        raise InvalidParameter(f"invalid restart policy '{name}'", 1)
    return {"Name": name, "MaximumRetryCount": count}
