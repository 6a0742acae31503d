"""docker restart: stop (unpausing first), then start."""
from __future__ import annotations

from typing import Optional

from .. import events
from ..containers import Container
from .pause import unpause
from .start import start
from .stop import stop


def restart(e, ref: str, timeout: Optional[float] = None) -> Container:
    c = e.container(ref)
    if c.status == "paused":
        unpause(e, c.id)
    stop(e, c.id, timeout)
    c = start(e, c.id)  # RestartCount counts restarts by policy only, as docker's
    events.emit(e.store, "container", "restart", c.id, {"name": c.name})
    return c
