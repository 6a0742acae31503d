"""The fork server: one process per dunnage root from which the shims are forked,
and in which commands run.

A shim (whose thread serves the container's root) is a Python process; forked from
the front that ran the container, it shares only with itself what the front had
imported.  Forked from this long-lived process instead, every shim shares its pages
(the interpreter, every module they use, imported and frozen here so the collector
never writes to them) with all the others.

Commands: the `dunnage` script (bin/dunnage) hands its command here when a server
is up, and the command runs in a child forked for it, with the script's arguments,
environment, working directory, umask and stdin/stdout/stderr: no interpreter start
and no imports on the command's path (a command run by its own process spends about
120 ms on those before it does anything).  The script forwards signals to the child;
the child ends the command (as ctrl-c does) if the script goes away.  The child is
forked ahead: a spare (SPARE_NAME) waits for the next command, so that fork is off
the command's path; it does not keep the server up, and leaves when the server does.

It is started by the first front that needs one (forked from it, so no new
interpreter), lives while any shim or command it forked does (it is the shims'
subreaper, so they stay its children), and leaves LINGER seconds after the last one
ended.  A front whose dunnage differs from the server's (an upgrade) is refused, and
the server leaves at once; without a server (or refused) a front forks the shim
itself, and the script runs its command itself.  Nothing depends on it: the shims
do not notice it going.

Protocol, on `<run>/forkserver.sock` (root's only, and the server serves only its
own user):
  - a shim: the front sends one msgpack record {stamp, root, run, cid} with the
    write end of its ready pipe (SCM_RIGHTS); the server answers b"ok" once the shim is
    forked, or b"stale".
  - a command: b"C", a 4-byte little-endian length, then a marshal record
    {argv, env (bytes to bytes), cwd, umask}, with fds 0, 1 and 2 (SCM_RIGHTS).  The
    answer is b"P" and the command process's pid (4 bytes), later b"X" and its exit
    code (1 byte); anything else before b"P" means the command did not run.
"""
from __future__ import annotations

import marshal
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from pathlib import Path

import msgpack

from .store import Store, locked

SOCK = "forkserver.sock"
LOCK = "forkserver.lock"
NAME = "dunnage-forksrv"  # (15 characters: the kernel's limit for a process name)
SPARE_NAME = "dunnage-spare"  # the child waiting for the next command (Server.fork_spare)
LINGER = 5.0  # seconds without shims and requests before the server leaves
_PACKAGE = Path(__file__).resolve().parent.parent  # the directory holding core/ and fuse/


def code_stamp() -> str:
    """What identifies this dunnage's code: the size and mtime of its Python files and of
    its data (the default seccomp profile, which the server compiles once)."""
    import hashlib
    h = []
    for sub in ("core", "core/runtime", "core/cgroups", "core/net", "core/images", "core/shim", "core/forkserver",
                "core/lifecycle", "fuse", "tui"):
        try:
            with os.scandir(_PACKAGE / sub) as it:
                for e in it:
                    if e.name.endswith((".py", ".json")):
                        st = e.stat()
                        h.append(f"{sub}/{e.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            pass
    return hashlib.sha256("\n".join(sorted(h)).encode()).hexdigest()


# in a command forked from the server: its code is the server's, whose stamp this is
_SERVED_STAMP: str | None = None


def spawn_shim(store: Store, cid: str, ready_w: int) -> bool:
    """Have the root's fork server fork the shim of CID, which reports on READY_W.
    False when no server can do it (the caller then forks the shim itself)."""
    if os.environ.get("DUNNAGE_FORKSERVER") == "0":
        return False
    stamp = _SERVED_STAMP or code_stamp()
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


def _start(store: Store) -> bool:
    """Fork a fork server for STORE's root (detached); True once it listens."""
    r, w = os.pipe2(os.O_CLOEXEC)
    fork_detached(lambda: _server_entry(store, w), close=(r,))
    os.close(w)
    try:
        return bool(select.select([r], [], [], 20)[0]) and os.read(r, 1) == b"1"
    finally:
        os.close(r)


def _server_entry(store: Store, ready_w: int) -> None:
    code = 1
    try:
        from .runtime.linux import PR_SET_CHILD_SUBREAPER, prctl, set_process_name
        set_process_name(NAME)
        nul = os.open("/dev/null", os.O_RDWR)
        logfd = os.open(store.run / "forkserver.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(nul, 0)
        os.dup2(nul, 1)
        os.dup2(logfd, 2)
        os.closerange(3, ready_w)  # nothing of the front's: its locks, terminal, sockets
        os.closerange(ready_w + 1, 65536)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.chdir("/")
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        code = Server(store).run(ready_w)
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        os._exit(code)


class Server:
    def __init__(self, store: Store):
        self.store = store
        self.stamp = code_stamp()
        self.spare: tuple[int, socket.socket] | None = None  # (pid, our end): fork_spare

    def preload(self) -> None:
        """Import what shims and FUSE servers use, then freeze it all: the pages stay shared."""
        import gc
        import importlib
        for m in ("shim.supervisor", "health", "runtime.exec", "net.sandbox", "runtime.process", "runtime.rootfs", "runtime.seccomp", "volumes"):
            importlib.import_module(f"dunnage.core.{m}")
        importlib.import_module("dunnage.fuse.mount")  # pyfuse3 with it
        from dunnage.tui import cli
        self.parser = cli.build_parser()  # every command's, built once
        from .runtime import seccomp
        from .runtime.capabilities import effective_set
        seccomp.precompile(effective_set([], [], False))  # docker's default filter for docker's default caps
        gc.collect()
        gc.freeze()

    def run(self, ready_w: int) -> int:
        self.preload()
        path = self.store.run / SOCK
        try:
            path.unlink()  # a dead server's (the front holds the lock: no live one is there)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(64)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        os.write(ready_w, b"1")
        os.close(ready_w)
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        sel.register(wake_r, selectors.EVENT_READ)
        self.own_fds = [listener.fileno(), wake_r, wake_w, sel.fileno()]  # none of them for a shim
        idle_since = time.monotonic()
        while True:
            if self.spare is None:
                self.fork_spare()
            children = self.reap()
            if children:
                idle_since = time.monotonic()
            timeout = None if children else max(0.0, idle_since + LINGER - time.monotonic())
            events = sel.select(timeout)
            if not events and not self.reap() and self.leave(listener):
                return 0
            for key, _ in events:
                if key.fileobj is listener:
                    idle_since = time.monotonic()
                    if not self.serve_one(listener):
                        self.leave(listener, stale=True)
                        return 0
                else:
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass

    def reap(self) -> bool:
        """Reap ended children; whether any are left (the spare does not count)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                break
            if self.spare is not None and pid == self.spare[0]:
                self.spare[1].close()
                self.spare = None
        try:
            with open(f"/proc/self/task/{os.getpid()}/children") as f:
                children = {int(p) for p in f.read().split()}
        except OSError:  # a kernel without CONFIG_PROC_CHILDREN: the spare keeps us up
            return True
        return bool(children - {self.spare[0] if self.spare else 0})

    def child_fds(self) -> list[int]:
        """Our descriptors, which no child of ours keeps (the spare's end among them:
        the spare leaves when it reads EOF there)."""
        return self.own_fds + ([self.spare[1].fileno()] if self.spare is not None else [])

    def fork_spare(self) -> None:
        """A child forked ahead of the next command, waiting for it (SPARE_NAME): the
        fork (2 ms here) is then off the command's path.  It leaves when we do."""
        ours, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                ours.close()
                _as_child(self.own_fds)
                from .runtime.linux import set_process_name
                set_process_name(SPARE_NAME)
                msg, fds, _, _ = socket.recv_fds(its, 1 << 21, 4, socket.MSG_CMSG_CLOEXEC)
                if msg and len(fds) == 4:
                    code = 125
                    code = _run_command(socket.socket(fileno=fds[0]), marshal.loads(msg), fds[1:], self.parser,
                                        self.stamp)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                os._exit(code)
        its.close()
        self.spare = (pid, ours)

    def leave(self, listener: socket.socket, stale: bool = False) -> bool:
        """Stop serving, unless (idle) a front connected meanwhile."""
        if not self.store.run.is_dir():  # the root was reset (system reset): nothing left to tidy
            listener.close()
            return True
        with locked(self.store.run / LOCK):
            if not stale and select.select([listener], [], [], 0)[0]:
                return False
            try:
                os.unlink(self.store.run / SOCK)
            except FileNotFoundError:
                pass
            listener.close()
            return True

    def serve_one(self, listener: socket.socket) -> bool:
        """Answer one front; False if its code is not ours (this server must go)."""
        conn, _ = listener.accept()
        fds: list[int] = []
        with conn:
            try:
                conn.settimeout(10)
                msg, fds, _, _ = socket.recv_fds(conn, 65536, 3, socket.MSG_CMSG_CLOEXEC)
                if msg[:1] == b"C":
                    return self.command(conn, msg, fds)
                req = msgpack.unpackb(msg)
                if req.get("stamp") != self.stamp:
                    conn.sendall(b"stale")
                    return False
                if len(fds) != 1:
                    return True
                self.fork_shim(Store(req["root"], req["run"]), req["cid"], fds[0], self.child_fds())
                conn.sendall(b"ok")
            except Exception:  # noqa: BLE001 - one bad request does not end the server
                traceback.print_exc()
            finally:
                for fd in fds:
                    os.close(fd)
        return True

    def command(self, conn: socket.socket, msg: bytes, fds: list[int]) -> bool:
        """Fork a child to run the command the `dunnage` script sent (see the module's
        docstring); False if our code is stale."""
        _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid() or len(fds) != 3 or len(msg) < 5:
            conn.sendall(b"no")
            return True
        size = int.from_bytes(msg[1:5], "little")
        while len(msg) < 5 + size:
            more = conn.recv(5 + size - len(msg))
            if not more:
                return True
            msg += more
        if code_stamp() != self.stamp:
            conn.sendall(b"stale")
            return False
        for _ in range(2):  # the spare, or (if it died) one forked now (which inherits this
            # connection and these descriptors: harmless, it is the process that uses them)
            if self.spare is None:
                self.fork_spare()
            _, sock = self.spare
            self.spare = None
            try:
                socket.send_fds(sock, [msg[5:5 + size]], [conn.fileno(), *fds])
                return True
            except OSError:
                continue
            finally:
                sock.close()
        conn.sendall(b"no")
        return True

    @staticmethod
    def fork_shim(store: Store, cid: str, ready_w: int, own_fds: list[int]) -> None:
        """The shim: our child, in a session of its own (one fork: we are long-lived and
        reap it, so it needs no intermediate to detach it from a front)."""
        from .shim.supervisor import shim_entry
        if os.fork() == 0:
            try:
                _as_child(own_fds)
                for sig in (signal.SIGINT, signal.SIGPIPE):
                    signal.signal(sig, signal.SIG_DFL)
                os.setsid()
            except BaseException:  # noqa: BLE001
                os._exit(1)
            shim_entry(store, cid, ready_w)  # never returns


def _as_child(own_fds: list[int]) -> None:
    """In a child (a shim, a command's): none of the server's descriptors or signal settings."""
    signal.set_wakeup_fd(-1)  # (before its pipe is closed)
    for fd in own_fds:
        os.close(fd)
    for sig in (signal.SIGCHLD, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # SIGPIPE stays ignored, as in any Python


def _run_command(conn: socket.socket, req: dict, fds: list[int], parser, stamp: str) -> int:
    """In the command's child: take on the script's process (fds, environment,
    directory), run the command, send its code."""
    import fcntl
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environb.update(req["env"])
    os.chdir(req["cwd"])
    os.umask(req["umask"])
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
    from .runtime.linux import set_process_name
    set_process_name("dunnage")

    def client_gone(*_):  # SIGIO: the script closed its end (it sends nothing after its request)
        try:
            if conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b"":
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        raise KeyboardInterrupt
    conn.settimeout(None)
    signal.signal(signal.SIGIO, client_gone)
    fcntl.fcntl(conn, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(conn, fcntl.F_SETFL, fcntl.fcntl(conn, fcntl.F_GETFL) | os.O_ASYNC)
    global _SERVED_STAMP
    _SERVED_STAMP = stamp
    conn.sendall(b"P" + os.getpid().to_bytes(4, "little"))
    from dunnage.tui import cli
    try:
        code = cli.main(list(req["argv"]), parser)
    except SystemExit as e:  # argparse's --help
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    try:
        conn.sendall(b"X" + bytes([code & 0xFF]))
    except OSError:
        pass
    return code
