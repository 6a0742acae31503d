"""docker start: the container's shim spawned (it mounts, forks PID 1 and supervises)."""
from __future__ import annotations

from ..containers import Container, create_dirs
from ..errors import run_failure


def start(e, ref: str, code_missing: int = 1, on_listening=None, attach: bool = False) -> Container:
    """Start REF.  For a container that is to wait for an attach before its
    command runs (run -i/-t in the foreground, or ATTACH: start -a), ON_LISTENING()
    is called when it can be attached to."""
    from ..shim import spawn
    c = e.container(ref, code_missing)
    if c.running():
        return c
    if attach:
        c.save_state(AttachFirst=True)  # one start only: the shim clears it
    # (docker's daemon makes its default bridge as it starts; here the first start on it
    # does, in the child of the shim that sets up its network: core/net/sandbox.py)
    create_dirs(c)
    code, msg = spawn(e.store, c.id, on_listening)
    if code:
        raise run_failure(msg, code)
    try:
        return c.reload()
    except FileNotFoundError:  # a --rm container that already ran, ended and was removed: started all the same
        return c
