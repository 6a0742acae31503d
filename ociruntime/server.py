"""The runtime's warm server: one process per --root that runs the verbs which make no
process of the caller's (start, state, kill, delete, pause, resume, ps, list, features,
update, events), and the part of `create` that need not run in the caller's process,
each in a child forked for it before the call comes (a spare, which accepts the call
itself), so that a call costs the launcher's interpreter start (ociruntime/launcher.py:
-IS, built-in modules only), not site and the package's imports, nor a fork.

Started by the launcher (a new interpreter, detached: a session of its own, none of the
caller's descriptors) when no server answered; it leaves the cgroups of whoever started
it (conmon's, a shim's: they must be removable when that caller ends), serves only its
own user, in its own mount and pid namespaces (a pid in the state is one of the pid
namespace the caller's runtime calls see), with its own code (a file of ociruntime/ or
core/ changes: it leaves), and leaves LINGER seconds after the last call, or once its
socket is gone (the root removed).

Protocol (bin/dunnage's, core/forkserver/server.py): the launcher sends b"C", a 4-byte
little-endian length and a marshal record {argv, env (bytes to bytes), cwd, umask, ns
(the inodes of its mnt and pid namespaces), launch} with its fds 0, 1 and 2
(SCM_RIGHTS); the answer is b"P" and the child's pid (4 bytes), later b"X" and the exit
code (1 byte); anything else before b"P" means nothing ran and the launcher runs the verb
itself.  A create with launch set gets, between the two, b"R", a length and a marshal
plan of the container's init (remote_launch), which the launcher forks and answers with
b"K" and the init's pid once it is ready, or b"F", a length and why it failed.
"""
from __future__ import annotations

import gc
import marshal
import os
import select
import signal
import socket
import struct
import sys
import time

SOCK = ".server.sock"
NAME = "dunnage-rtsrv"  # (15 characters at most: the kernel's limit for a process name)
SPARE_NAME = "dunnage-rtspare"  # a spare waiting for the next call
LINGER = 5.0  # seconds without calls before the server leaves
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_stamp() -> tuple:
    """Size and mtime of every Python file of ociruntime/ and core/ (core/runtime, core/cgroups, ...)."""
    out = []
    todo = ["ociruntime", "core"]
    while todo:
        sub = todo.pop()
        try:
            with os.scandir(os.path.join(_PACKAGE, sub)) as it:
                for e in it:
                    if e.name.endswith((".py", ".json")):
                        st = e.stat()
                        out.append((sub, e.name, st.st_size, st.st_mtime_ns))
                    elif e.is_dir(follow_symlinks=False) and e.name != "__pycache__" and not e.name.startswith("."):
                        todo.append(f"{sub}/{e.name}")
        except OSError:
            pass
    return tuple(sorted(out))


def _code_dirs() -> list[str]:
    """ociruntime/ and core/ and their subdirectories (code_stamp's)."""
    out, todo = [], [os.path.join(_PACKAGE, "ociruntime"), os.path.join(_PACKAGE, "core")]
    while todo:
        d = todo.pop()
        out.append(d)
        try:
            with os.scandir(d) as it:
                todo += [e.path for e in it if e.is_dir(follow_symlinks=False) and e.name != "__pycache__"
                         and not e.name.startswith(".")]
        except OSError:
            pass
    return out


IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_ISDIR = 0x100, 0x200, 0x400, 0x800, 0x4000, 0x40000000


class CodeWatch:
    """Whether the server's code changed since it started: inotify on code_stamp's
    directories, so that a call's check is one read of a non-blocking descriptor (a scan of
    the ~90 files' stamps cost 1.2 ms of every call); the stamps where inotify fails."""

    MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
            | IN_DELETE_SELF | IN_MOVE_SELF)

    def __init__(self, dirs: list[str] | None = None):
        self.fd: int | None = None
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            for d in _code_dirs() if dirs is None else dirs:
                if libc.inotify_add_watch(fd, d.encode(), self.MASK) < 0:
                    os.close(fd)
                    raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")
            self.fd = fd
        except (OSError, AttributeError):
            self.stamp = code_stamp()

    def changed(self) -> bool:
        if self.fd is None:
            return code_stamp() != self.stamp
        found = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            at = 0
            while at + 16 <= len(data):
                _, mask, _, size = struct.unpack_from("iIII", data, at)
                name = data[at + 16:at + 16 + size].rstrip(b"\0")
                at += 16 + size
                if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW):
                    found = True
                elif mask & IN_ISDIR:
                    found = found or (name != b"__pycache__" and not name.startswith(b"."))
                elif name.endswith((b".py", b".json")):
                    found = True


def _ns() -> list[int]:
    return [os.stat(f"/proc/self/ns/{n}").st_ino for n in ("mnt", "pid")]


def leave_cgroups() -> None:
    """Into the root group of every hierarchy mounted here (v1's, v2's)."""
    seen = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rf, lf = right.split(), left.split()
            if rf and rf[0] in ("cgroup", "cgroup2") and lf[2] not in seen:
                seen.add(lf[2])  # (a hierarchy mounted twice is one hierarchy)
                try:
                    with open(os.path.join(lf[4], "cgroup.procs"), "w") as g:
                        g.write("0")
                except OSError:
                    pass


def preload() -> None:
    from . import cli, create, delete, events, info, kill, pause, start, state, update  # noqa: F401
    from dunnage.core.runtime import process, seccomp  # noqa: F401  (create's prepare)
    seccomp.preload()
    for verb in cli.VERBS:
        cli.parser_for(verb)
    from dunnage.core.cgroups import open_cgroup_path
    open_cgroup_path("/")  # the host's cgroup version and v1 mounts, read once (boot-time facts)
    from dunnage.core.units import parse_duration  # noqa: F401
    import subprocess  # noqa: F401  (hooks, ps)


def serve(root: str) -> None:
    """The server's process (see the module's docstring); never returns."""
    code = 1
    try:
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(NAME)
        except OSError:
            pass
        os.chdir("/")
        leave_cgroups()
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        code = Server(root).run()
    except BaseException:  # noqa: BLE001
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code)


class Server:
    def __init__(self, root: str):
        self.root = root
        self.path = os.path.join(root, SOCK)
        self.children: set[int] = set()
        self.last = time.monotonic()

    def _listen(self) -> socket.socket | None:
        os.makedirs(self.root, 0o711, exist_ok=True)  # (as runc: every call makes its root)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.path)
            return None  # another server answers: it serves
        except OSError:
            pass
        finally:
            probe.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o077)
        try:
            s.bind(self.path)
        except OSError:
            s.close()
            return None
        finally:
            os.umask(old)
        s.listen(64)
        return s

    def _ours(self, ino: int) -> bool:
        try:
            return os.stat(self.path).st_ino == ino
        except OSError:
            return False

    def run(self) -> int:
        self.code = CodeWatch()  # (before the imports: a change while they load is seen)
        preload()
        self.ns = _ns()
        self.pid = os.getpid()
        listener = self._listen()
        if listener is None:
            return 0
        ino = os.stat(self.path).st_ino
        gc.freeze()  # the children share the imported modules' pages
        spare: tuple[int, int] | None = None
        failures = 0
        try:
            while True:
                if spare is None:
                    spare = self._fork_spare(listener)
                ready, _, _ = select.select([spare[1]], [], [], 1.0)
                self._reap()
                if ready:
                    said = os.read(spare[1], 1)
                    os.close(spare[1])
                    self.children.add(spare[0])  # serving its call now (or gone)
                    spare = None
                    if said == b"s":
                        return 0  # the code changed
                    failures = 0 if said else failures + 1
                    if failures >= 3:
                        return 1  # spares end before they take a call: the launcher runs the verbs itself
                    self.last = time.monotonic()
                elif not self.children and time.monotonic() - self.last > LINGER:
                    return 0
                if not self._ours(ino):
                    return 0  # the root was removed, or another server took the path
        finally:
            if spare is not None:
                # a spare that took a call as the server leaves serves it; one still waiting goes
                # (killed before it says so, it has sent nothing: the launcher runs the verb itself)
                took = select.select([spare[1]], [], [], 0)[0] and os.read(spare[1], 1) == b"a"
                if not took:
                    os.kill(spare[0], signal.SIGKILL)
                    os.waitpid(spare[0], 0)
                os.close(spare[1])
            if self._ours(ino):
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            listener.close()

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def _fork_spare(self, listener: socket.socket) -> tuple[int, int]:
        """The next call's process, forked before the call comes (so that a call waits for
        no fork): it accepts the call itself, says so on its pipe (b"a", or b"s" when the
        code changed), then serves it.  Its pid and the pipe's read end."""
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                code = self._spare(listener, w)
            except BaseException:  # noqa: BLE001
                import traceback
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(w)
        return pid, r

    def _spare(self, listener: socket.socket, w: int) -> int:
        from dunnage.core.runtime.linux import PR_SET_PDEATHSIG, prctl
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # while it waits, it goes with the server
        if os.getppid() != self.pid:
            return 0
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(SPARE_NAME)
        except OSError:
            pass
        conn, _ = listener.accept()
        prctl(PR_SET_PDEATHSIG, 0)  # a call runs to its end, server or not
        listener.close()
        stale = self.code.changed()
        os.write(w, b"s" if stale else b"a")
        os.close(w)
        return self.serve_one(conn, stale)

    def serve_one(self, conn: socket.socket, stale: bool) -> int:
        """Run the call on CONN (in a spare); its exit code."""
        fds: list[int] = []
        try:
            conn.settimeout(10)
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 3, socket.MSG_CMSG_CLOEXEC)
            _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid != os.geteuid() or len(fds) != 3 or len(msg) < 5 or msg[:1] != b"C":
                conn.sendall(b"no")
                return 0
            size = int.from_bytes(msg[1:5], "little")
            while len(msg) < 5 + size:
                more = conn.recv(5 + size - len(msg))
                if not more:
                    return 0
                msg += more
            req = marshal.loads(msg[5:5 + size])
            if list(req.get("ns") or ()) != self.ns:
                conn.sendall(b"no")
                return 0
            if stale:
                conn.sendall(b"stale")
                return 0
            return _run(conn, req, fds)
        except Exception:  # noqa: BLE001 - one bad call does not end the server
            import traceback
            traceback.print_exc()
            return 1
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()


def _run(conn: socket.socket, req: dict, fds: list[int]) -> int:
    """In the call's child: take on the launcher's streams, environment, directory and
    umask, run the verb, send its code."""
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
    try:
        with open("/proc/self/comm", "w") as f:
            f.write("dunnage-runtime")
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # (SIGPIPE stays ignored, as in any Python)
    os.environ.clear()
    os.environb.update(req["env"])
    os.chdir(req["cwd"])
    os.umask(req["umask"])
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
    conn.settimeout(None)
    conn.sendall(b"P" + os.getpid().to_bytes(4, "little"))
    from .cli import main
    fork = (lambda p: remote_launch(conn, p)) if req.get("launch") else None
    try:
        code = main(list(req["argv"]), fork)
    except SystemExit as e:  # argparse's --help
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    try:
        conn.sendall(b"X" + bytes([code & 0xFF]))
    except OSError:
        pass
    return code


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        more = conn.recv(n - len(buf))
        if not more:
            break
        buf += more
    return buf


def _new_netns() -> int:
    """A new network namespace with its loopback up, held by the descriptor returned (this
    process stays in its own: the create hooks run in the runtime's namespaces)."""
    from dunnage.core.net import loopback_up
    from dunnage.core.runtime.linux import CLONE_NEWNET, setns, unshare
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        new = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        loopback_up()
    finally:
        setns(own, CLONE_NEWNET)
        os.close(own)
    return new


def remote_launch(conn: socket.socket, p) -> int:
    """create's fork (create.create's FORK) when the launcher forks the init: the plan it
    needs sent (the spec as plain data, its seccomp filter compiled here, the cgroup files,
    the pid namespace, the console, and a new network namespace made here, its loopback up,
    passed with SCM_RIGHTS: the init joins it, so the launcher loads no socket module for
    it), the init's pid taken back once it is ready (initfork.run_plan)."""
    from dunnage.core.errors import System
    from dunnage.core.runtime.process import needs_libseccomp
    from dunnage.core.runtime.seccomp import compile_bpf
    from .create import create_hooks, has_create_hooks
    from .initfork import join_files
    b = p.bundle
    spec = b.spec
    if needs_libseccomp(spec.process):
        spec.process.seccomp = compile_bpf(spec.process.seccomp, spec.process.caps)
    netns = None
    if "net" not in spec.host_namespaces and spec.netns_fd is None and "network" not in spec.namespace_paths \
            and spec.uid_mappings is None:  # (a user namespace's init makes its own, which that namespace owns)
        netns = _new_netns()
    try:
        plan = marshal.dumps({"spec": spec.to_record(), "cgroup": join_files(p.cgroup),
                              "pidns_path": b.pid_namespace_path, "new_pidns": b.new_pid_namespace,
                              "terminal": b.terminal, "console": p.console_socket, "netns": netns is not None,
                              "hooks": has_create_hooks(p)})
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, netns.to_bytes(4, sys.byteorder))] if netns is not None else []
        conn.sendmsg([b"R" + len(plan).to_bytes(4, "little") + plan], fds)  # (the launcher reads it all)
    finally:
        if netns is not None:
            os.close(netns)
    head = _recv_exact(conn, 5)
    if len(head) == 5 and head[:1] == b"H":  # the init waits before pivot_root: the create hooks' turn
        try:
            create_hooks(p, int.from_bytes(head[1:], "little"))
        except BaseException:
            conn.sendall(b"N")  # (the launcher kills the init)
            raise
        conn.sendall(b"G")
        head = _recv_exact(conn, 5)
    if len(head) == 5 and head[:1] == b"K":
        return int.from_bytes(head[1:], "little")
    if len(head) == 5 and head[:1] == b"F":
        raise System(_recv_exact(conn, int.from_bytes(head[1:], "little")).decode(errors="replace"))
    raise System("the launcher ended before the container's init was ready")
