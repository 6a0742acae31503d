"""start: let a created container's init go on to exec the user's program."""
from __future__ import annotations

import os
import select
import time

from dunnage.core.errors import Conflict, System

from . import hooks, state


def start(root: str, cid: str, say=lambda s: None) -> None:
    st = state.load(root, cid)
    now = state.status(root, st)
    if now != "created":
        raise Conflict(f"cannot start a container that is {now}" if now != "stopped"
                       else "cannot start a container that has stopped")
    try:  # in the container's namespaces, before its program (runc's init runs them just before exec)
        hooks.run(st.hooks, "startContainer", st.oci("created"), in_container=st.pid)
    except System:
        os.kill(st.pid, 9)  # as runc's init, which exits when one fails
        raise
    fifo = state.fifo_path(root, cid)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:  # the init opens its end for writing once it is waiting (it already is)
            r, _, _ = select.select([fd], [], [], 0.05)
            if r and os.read(fd, 1):
                break
            if state.start_time(st.pid) != st.start_time:
                raise System("the container's init exited before it was started")
            time.sleep(0)
    finally:
        os.close(fd)
    os.unlink(fifo)
    for w in hooks.run(st.hooks, "poststart", st.oci("running"), fatal=False):
        say(f"warning: {w}")
