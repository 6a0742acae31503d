"""docker stop: the stop signal, then SIGKILL after the timeout; a kill event for each
signal sent, then die (the shim's) and stop, in dockerd's order."""
from __future__ import annotations

import os
import signal as _signal
from typing import Optional

from .. import events
from ..containers import Container
from .kill import signal_number
from .pause import thaw_if_paused
from .wait import wait


def stop(e, ref: str, timeout: Optional[float] = None) -> Container:
    c = e.container(ref)
    if c.status == "restarting":
        c.save_state(StopRequested=True)
        c.wait_shim(30)
        return c.reload()
    if not c.running():
        return c
    c.save_state(StopRequested=True)
    default = c.config["Config"].get("StopTimeout")
    t = float(timeout) if timeout is not None else (float(default) if default is not None else 10.0)
    sig = signal_number(c.config["Config"].get("StopSignal") or "SIGTERM")
    pid = c.state["Pid"]
    try:
        events.emit(e.store, "container", "kill", c.id, {"name": c.name, "signal": str(sig)})  # (before its die)
        os.kill(pid, sig)
        thaw_if_paused(c)
        wait(e, c.id, t)
    except ProcessLookupError:
        pass
    except TimeoutError:
        try:
            events.emit(e.store, "container", "kill", c.id, {"name": c.name, "signal": str(int(_signal.SIGKILL))})
            os.kill(pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait(e, c.id, 30)
    events.emit(e.store, "container", "stop", c.id, {"name": c.name})
    return c.reload()
