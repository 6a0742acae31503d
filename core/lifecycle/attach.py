"""docker attach: a connection to a running container's attach socket (its output from
now on, our input to it; the shim's pump serves it)."""
from __future__ import annotations

from ..errors import Conflict, System


def attach_socket(e, ref: str):
    from ..attach import address, connect
    c = e.container(ref)
    if not c.running():
        raise Conflict("You cannot attach to a stopped container, start it first", 1)
    try:
        return connect(address(e.store, c.id), timeout=5)
    except OSError as err:
        raise System(f"attach: {err}", 1) from None
