"""The FUSE thread: the container root's union filesystem, served from a thread of
the shim (named dunnage-fuse).  One process per container, not two: each Python
process has a few MiB of its own however little it does.  The shim's own work never
waits for the mount while holding the interpreter (every call that may touch the
mount is a system call, which lets the FUSE thread run)."""
from __future__ import annotations

import os
import selectors
import threading
import traceback

from ..containers import Container
from ..runtime.linux import set_process_name


def start_fuse(c: Container) -> tuple[threading.Thread, int, int]:
    """Start serving C's root.  Returns (the thread, a pipe that says when it is
    mounted (wait_fuse), a pipe at whose EOF the server has ended)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    told = []

    def ready() -> None:
        os.write(w, b"1")
        os.close(w)
        told.append(True)

    def serve_root() -> None:
        try:
            set_process_name("dunnage-fuse")  # this thread's name
            from dunnage.fuse.mount import serve
            serve(c.config["Lowers"], str(c.upper), str(c.merged), fsname=f"dunnage-{c.id[:12]}", on_ready=ready)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            if not told:
                os.close(w)  # the shim sees EOF: it did not come up
            os.close(done_w)  # EOF on done_r: the root's server has ended
    thread = threading.Thread(target=serve_root, name="dunnage-fuse", daemon=True)
    thread.start()
    return thread, r, done_r


def wait_fuse(r: int) -> None:
    """Until start_fuse's server is mounted (raises if it did not come up)."""
    sel = selectors.DefaultSelector()
    sel.register(r, selectors.EVENT_READ)
    ok = sel.select(timeout=20) and os.read(r, 1) == b"1"
    sel.close()
    os.close(r)
    if not ok:
        raise RuntimeError("the FUSE server did not come up (see shim.log)")
