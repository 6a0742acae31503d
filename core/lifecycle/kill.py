"""docker kill: a signal to the container's PID 1."""
from __future__ import annotations

import os
import signal as _signal

from .. import events
from ..containers import Container
from ..errors import Conflict, InvalidParameter
from .pause import thaw_if_paused


def signal_number(sig: str | int) -> int:
    """KILL, SIGKILL, 9 or 9 as a string -> 9; anything else is docker's invalid signal."""
    if isinstance(sig, int):
        return sig
    s = str(sig).upper()
    if s.isdigit():
        return int(s)
    if not s.startswith("SIG"):
        s = "SIG" + s
    try:
        return int(getattr(_signal.Signals, s))
    except AttributeError:
        raise InvalidParameter(f"invalid signal: {sig}", 1) from None


def kill(e, ref: str, sig: str | int = "KILL") -> Container:
    c = e.container(ref)
    signum = signal_number(sig)
    if not c.running():
        raise Conflict(f"Cannot kill container: {ref}: container {c.id} is not running", 1)
    c.save_state(StopRequested=True)  # a restart policy does not bring it back
    events.emit(e.store, "container", "kill", c.id, {"name": c.name, "signal": str(signum)})  # (before its die)
    try:
        os.kill(c.state["Pid"], signum)
    except ProcessLookupError:
        pass
    thaw_if_paused(c)
    return c
