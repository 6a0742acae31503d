"""docker rm [-f] [-v]: the container's records, mounts, cgroup and (with -v or --rm)
anonymous volumes go; its image's layers too if the image went before it."""
from __future__ import annotations

import os
import signal as _signal

from ..containers import Container
from ..errors import Conflict, System
from .discard import discard
from .pause import thaw_if_paused
from .wait import wait


def remove(e, ref: str, force: bool = False, volumes: bool = False) -> Container:
    c = e.container(ref)
    if c.status == "restarting":
        if not force:
            raise Conflict(f"You cannot remove a restarting container {c.id}. Stop the container "
                              "before attempting removal or force remove", 1)
        c.save_state(StopRequested=True)
        c.wait_shim(30)
        c.reload()
    if c.running():
        c.save_state(StopRequested=True)
        if not force:
            raise Conflict(f"You cannot remove a running container {c.id}. Stop the container "
                              "before attempting removal or force remove", 1)
        try:
            os.kill(c.state["Pid"], _signal.SIGKILL)
        except ProcessLookupError:
            pass
        thaw_if_paused(c)
        try:
            wait(e, c.id, 30)
        except TimeoutError:
            raise System(f"could not kill container {c.id}", 1) from None
        except FileNotFoundError:
            return c  # a --rm container's shim removed it meanwhile: gone, as asked
    # a shim may still be tearing down: let it finish
    c.wait_shim(10)
    try:
        c.reload()
    except FileNotFoundError:
        return c  # its shim (--rm) removed it meanwhile
    discard(e.store, e.images, c, volumes)
    return c
