"""docker pause / unpause: the container's cgroup frozen and thawed."""
from __future__ import annotations

from .. import events
from ..cgroups import CgroupError, open_cgroup
from ..containers import Container
from ..errors import Conflict, exit_code_of


def pause(e, ref: str) -> Container:
    c = e.container(ref)
    if c.status == "paused":
        raise Conflict(f"Container {c.id} is already paused", 1)
    if not c.running():
        raise Conflict(f"Container {c.id} is not running", 1)
    return freeze(e, c, True)


def unpause(e, ref: str) -> Container:
    c = e.container(ref)
    if c.status != "paused":
        raise Conflict(f"Container {c.id} is not paused", 1)
    return freeze(e, c, False)


def freeze(e, c: Container, frozen: bool) -> Container:
    with exit_code_of(1):
        open_cgroup(c.id).freeze(frozen)
    c.save_state(Status="paused" if frozen else "running")
    events.emit(e.store, "container", "pause" if frozen else "unpause", c.id, {"name": c.name})
    return c


def thaw_if_paused(c: Container) -> None:
    """A signal reaches a frozen process only once it thaws."""
    if c.status == "paused":
        try:
            open_cgroup(c.id).freeze(False)
        except (CgroupError, OSError):
            pass
        if c.reload().status == "paused":
            c.save_state(Status="running")
