"""docker wait: until the container's command has exited, its exit code."""
from __future__ import annotations

import time
from typing import Optional

from .repair import repair


def wait(e, ref: str, timeout: Optional[float] = None) -> int:
    """Raises TimeoutError after TIMEOUT seconds."""
    c = e.container(ref)
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        c.reload()
        if c.status not in ("running", "paused", "restarting"):
            return int(c.state.get("ExitCode") or 0)
        repair(e, c)
        if end is not None and time.monotonic() > end:
            raise TimeoutError
        if c.wait_shim(0.02):  # shim gone: the state is final, or the shim died (repair)
            time.sleep(0.005)
