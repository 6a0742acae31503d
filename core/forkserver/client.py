"""The fork server's client: what a front uses to have the root's fork server fork a
shim, starting the server first if none is up (see the package's docstring).
bin/dunnage talks to the server through its own copy of the command request, so
that it imports nothing."""
from __future__ import annotations

import os
import select
import socket
from typing import Optional

import msgpack

from ..store import Store, locked
from . import common
from .common import LOCK, SOCK, code_stamp

# the front whose commands a server started here runs: ("module:main", "module:prepare"),
# main(argv, prepare()) -> exit code; prepare() runs once in the server (register_front)
FRONT: Optional[tuple[str, str]] = None


def register_front(main: str, prepare: str) -> None:
    """Name (as "module:function") the command entry point of this process's front,
    for the fork servers it starts: they import MAIN's and PREPARE's modules, call
    PREPARE() once and run each command the `dunnage` script hands them as
    MAIN(argv, prepared)."""
    global FRONT
    FRONT = (main, prepare)


def spawn_shim(store: Store, cid: str, ready_w: int) -> bool:
    """Have the root's fork server fork the shim of CID, which reports on READY_W.
    False when no server can do it (the caller then forks the shim itself)."""
    if os.environ.get("DUNNAGE_FORKSERVER") == "0":
        return False
    stamp = common.SERVED_STAMP or code_stamp()
    # under the lock: a server only leaves holding it, after it looked for
    # waiting connections, so one connected here will be served
    with locked(store.run / LOCK):
        conn = _connect(store)
        if conn is None:
            import threading
            if threading.active_count() > 1:
                # a front with threads (the dashboard) is no parent for a long-lived
                # server: whatever lock another thread holds stays held in it
                return False
            if not _start(store):
                return False
            conn = _connect(store)
            if conn is None:
                return False
    with conn:
        try:
            conn.settimeout(20)
            msg = msgpack.packb({"stamp": stamp, "root": str(store.root), "run": str(store.run), "cid": cid})
            socket.send_fds(conn, [msg], [ready_w])
            conn.shutdown(socket.SHUT_WR)
            return conn.recv(16) == b"ok"
        except OSError:
            return False


def _connect(store: Store) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(str(store.run / SOCK))
        return s
    except OSError:
        s.close()
        return None


def fork_detached(child, close: tuple[int, ...] = (), prepare=None) -> None:
    """Run CHILD() (which never returns) in a grandchild of this process, in a session
    of its own; return once the intermediate has exited, so the grandchild belongs to
    our subreaper (the fork server's shims) or to init, never to a front.  The
    intermediate closes CLOSE and calls PREPARE() first."""
    pid = os.fork()
    if pid == 0:
        try:
            if prepare is not None:
                prepare()
            for fd in close:
                os.close(fd)
            os.setsid()
            if os.fork() == 0:
                child()
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    os.waitpid(pid, 0)


def start_for_next(store: Store) -> None:
    """After a command that ran in its own process because no server was up: fork one
    for the commands that follow (a script's next line, a rebuild), without waiting
    for it, so that they skip the ~100 ms of interpreter start and imports that this
    one paid.  It leaves LINGER seconds after its last command, as any server does;
    nothing is started for another user's root, a root that is gone, with
    DUNNAGE_FORKSERVER=0, or while a server is up.  It is a new interpreter (``python -I
    -m dunnage.core.forkserver``), started in the background."""
    import sys
    if (os.environ.get("DUNNAGE_FORKSERVER") == "0" or FRONT is None or os.geteuid() != 0
            or not store.run.is_dir()):
        return
    conn = _connect(store)
    if conn is not None:
        conn.close()
        return
    argv = [sys.executable, "-I", "-m", "dunnage.core.forkserver", str(store.root), str(store.run), *FRONT]

    def server() -> None:
        nul = os.open("/dev/null", os.O_RDWR)  # (the caller's pipes are not held: `$(dunnage ...)` ends now)
        for fd in (0, 1, 2):
            os.dup2(nul, fd)
        os.closerange(3, 65536)
        os.execv(sys.executable, argv)
    try:  # (a new interpreter, not this process's heap: see __main__.py)
        fork_detached(server)
    except OSError:
        pass  # (no fork now: the next command runs in its own process, as this one did)


def _start(store: Store) -> bool:
    """Fork a fork server for STORE's root (detached); True once it listens."""
    from .server import server_entry
    r, w = os.pipe2(os.O_CLOEXEC)
    front = FRONT
    fork_detached(lambda: server_entry(store, w, front), close=(r,))
    os.close(w)
    try:
        return bool(select.select([r], [], [], 20)[0]) and os.read(r, 1) == b"1"
    finally:
        os.close(r)
