"""The fork server itself (see the package's docstring): it forks shims for fronts and
runs the `dunnage` script's commands in children forked ahead."""
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
from typing import Callable, Optional

import msgpack

from ..store import Store, locked
from . import common
from .common import LOCK, SOCK, code_stamp

NAME = "dunnage-forksrv"  # (15 characters: the kernel's limit for a process name)
SPARE_NAME = "dunnage-spare"  # the child waiting for the next command (Server.fork_spare)
LINGER = 5.0  # seconds without shims and requests before the server leaves


def server_entry(store: Store, ready_w: int, front: Optional[tuple[str, str]] = None) -> None:
    """The server process, forked detached (client.py); never returns.  FRONT: the
command entry the front that starts it named (client.register_front).  READY_W -1:
nobody waits for it, nor holds the lock for it (client.start_for_next)."""
    code = 1
    if ready_w < 0:  # (what goes wrong from here on is not the finished command's to print)
        nul = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(nul, fd)
    try:
        from ..runtime.linux import PR_SET_CHILD_SUBREAPER, prctl, set_process_name
        set_process_name(NAME)
        set_cmdline(["dunnage", "forkserver", str(store.root)])
        nul = os.open("/dev/null", os.O_RDWR)
        logfd = os.open(store.run / "forkserver.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(nul, 0)
        os.dup2(nul, 1)
        os.dup2(logfd, 2)
        os.closerange(3, ready_w if ready_w >= 0 else 65536)  # nothing of the front's: its locks, terminal, sockets
        if ready_w >= 0:
            os.closerange(ready_w + 1, 65536)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.chdir("/")
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        code = Server(store, front).run(ready_w)
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        os._exit(code)


_KEPT: list = []  # the environment's strings, moved out of the way of a long title


def set_cmdline(args: list[str]) -> None:
    """What ps shows as this process's command line: a forked server would otherwise
    show the command line of its first client for as long as it lives.  ARGS are
    written over the memory of the argv it was started with (arg_start..arg_end in
    /proc/self/stat; Python keeps its own copy of argv, so nothing reads it), as
    setproctitle does without its C extension.  A title longer than that room runs
    on over the environment's strings, which are first copied elsewhere and pointed
    at (the kernel then reads the title as one string up to its NUL).  Without
    CAP_SYS_RESOURCE (this host's root lacks it) prctl's PR_SET_MM cannot move argv."""
    import ctypes
    from ..runtime.linux import libc
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields 48 to 51 (the first after the name is field 3)
        arg_start, arg_end, env_start, env_end = (int(x) for x in fields[45:49])
        parts = [a if isinstance(a, bytes) else a.encode(errors="replace") for a in args]
        room = arg_end - arg_start
        data = b"\0".join(parts)
        if len(data) < room:
            data += b"\0" * (room - len(data))
        elif env_start == arg_end:  # (the kernel reads on only into an environment right behind)
            environ = ctypes.POINTER(ctypes.c_void_p).in_dll(libc, "environ")
            i = 0
            while environ[i]:
                if env_start <= environ[i] < env_end:
                    copy = ctypes.create_string_buffer(ctypes.string_at(environ[i]))
                    _KEPT.append(copy)
                    environ[i] = ctypes.addressof(copy)
                i += 1
            data = b" ".join(parts)[:env_end - arg_start - 1] + b"\0"
        else:
            data = data[:room - 1] + b"\0"
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(arg_start)
            mem.write(data)
    except (OSError, IndexError, ValueError):
        pass  # a kernel that refuses: ps shows the old line, nothing else changes


def resolve(name: str) -> Callable:
    """The function a "module:function" names."""
    import importlib
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def fill_free_blocks() -> list:
    """Objects that take every free block of the allocator's partly used pools, kept for good.

    After the collection above, pymalloc's pools are full of holes; a forked child's first small
    allocations would land in them, one object per shared page, and copy each such page.  With
    the holes taken here (once, in this one process), the children allocate in pools of their own."""
    keep: list = []
    for size, avail in free_blocks().items():
        if size == 32:
            keep.extend(float(i) for i in range(avail))  # a float is 24 bytes
        elif size > 32:
            keep.extend(bytes(size - 33) for _ in range(avail))  # a bytes of n is 33 + n
    return keep


def free_blocks() -> dict[int, int]:
    """pymalloc's free blocks by size class (CPython's sys._debugmallocstats, which writes to fd 2)."""
    r, w = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(w, 2)
        os.close(w)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    with os.fdopen(r, "rb") as f:
        stats = f.read().decode("ascii", "replace")
    out = {}
    for line in stats.splitlines():
        parts = line.split()
        if len(parts) == 5 and all(p.isdigit() for p in parts):
            out[int(parts[1])] = int(parts[4])
    return out


class Server:
    def __init__(self, store: Store, front: Optional[tuple[str, str]] = None):
        self.store = store
        self.stamp = code_stamp()
        self.spare: tuple[int, socket.socket] | None = None  # (pid, our end): fork_spare
        self.front = front
        self.main: Optional[Callable] = None  # the front's command entry (none: commands are refused)
        self.prepared = None
        self.ballast: list = []

    def preload(self) -> None:
        """Import what shims and FUSE servers use, then freeze it all: the pages stay shared."""
        import gc
        import importlib
        for m in ("shim.supervisor", "health", "runtime.exec", "net.sandbox", "net.netlink", "net.dns", "net.ports",
                  "runtime.process", "runtime.rootfs", "runtime.seccomp", "volumes"):
            importlib.import_module(f"dunnage.core.{m}")
        for m in ("dnslib", "encodings.idna"):  # a user network's resolver's, at its first query (1.3 MiB in each shim)
            importlib.import_module(m)
        importlib.import_module("dunnage.fuse.mount")  # pyfuse3 with it
        importlib.import_module("dunnage.fuse.account")  # the FUSE thread's cgroup, once PID 1 is in
        importlib.import_module("encodings.unicode_escape")  # mountinfo's escapes (runtime.linux)
        if self.front is not None:
            main, prepare = self.front
            self.main = resolve(main)
            self.prepared = resolve(prepare)()  # (the command line's: every command's parser, built once)
        from ..runtime import seccomp
        from ..runtime.capabilities import effective_set
        seccomp.precompile(effective_set([], [], False))  # docker's default filter for docker's default caps
        gc.collect()
        self.ballast = fill_free_blocks()
        gc.freeze()

    def run(self, ready_w: int) -> int:
        self.preload()
        if ready_w >= 0:  # the front that started us holds the lock until we listen
            listener = self.listen()
            os.write(ready_w, b"1")
            os.close(ready_w)
        else:
            with locked(self.store.run / LOCK):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                try:
                    probe.connect(str(self.store.run / SOCK))
                    return 0  # another front's server came up meanwhile
                except OSError:
                    pass
                finally:
                    probe.close()
                listener = self.listen()
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
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
                from ..runtime.linux import set_process_name
                set_process_name(SPARE_NAME)
                set_cmdline(["dunnage", "forkserver", "spare"])
                msg, fds, _, _ = socket.recv_fds(its, 1 << 21, 4, socket.MSG_CMSG_CLOEXEC)
                if msg and len(fds) == 4:
                    code = 125
                    code = _run_command(socket.socket(fileno=fds[0]), marshal.loads(msg), fds[1:], self.main,
                                        self.prepared, self.stamp)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                os._exit(code)
        its.close()
        self.spare = (pid, ours)

    def listen(self) -> socket.socket:
        """The root's socket, bound and listening (under the root's LOCK)."""
        path = self.store.run / SOCK
        try:
            path.unlink()  # a dead server's (the lock is held: no live one is there)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(64)
        return listener

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
        if uid != os.getuid() or len(fds) != 3 or len(msg) < 5 or self.main is None:
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
        from ..shim.supervisor import shim_entry
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


def _run_command(conn: socket.socket, req: dict, fds: list[int], main: Callable, prepared, stamp: str) -> int:
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
    from ..runtime.linux import set_process_name
    set_process_name("dunnage")
    set_cmdline(["dunnage", *req["argv"]])

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
    common.SERVED_STAMP = stamp
    conn.sendall(b"P" + os.getpid().to_bytes(4, "little"))
    try:
        code = main(list(req["argv"]), prepared)
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
