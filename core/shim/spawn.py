"""The shim's start, from the front's side (a command, the dashboard, or a command run
in the fork server): the shim forked and its first report awaited."""
from __future__ import annotations

import os

from ..forkserver.client import fork_detached, spawn_shim
from ..store import Store


def spawn(store: Store, cid: str, on_listening=None) -> tuple[int, str]:
    """Fork a detached shim for container CID; wait until its command runs.

    Returns (0, "") once the container runs, or (exit code, message).  For a
    container that waits for an attach, ON_LISTENING() is called once the shim
    listens (it should connect), before the command runs."""
    r, w = os.pipe2(os.O_CLOEXEC)
    if not spawn_shim(store, cid, w):  # forked by the root's fork server, or else here
        from .supervisor import shim_entry
        fork_detached(lambda: shim_entry(store, cid, w), close=(r,))
    os.close(w)
    buf = b""
    rest: list[bytes] = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        buf += b
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line == b"listening" and on_listening is not None:
                on_listening()
            elif line:
                rest.append(line)
    os.close(r)
    buf = b" ".join(rest + [buf])
    msg = buf.decode(errors="replace").strip()
    if msg == "ok":
        return 0, ""
    if not msg:
        return 125, "shim exited before starting the container"
    code, _, text = msg.partition(" ")
    try:
        return int(code), text
    except ValueError:
        return 125, msg
