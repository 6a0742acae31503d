"""The `dunnage-runtime` command's work (bin/dunnage-runtime makes the package importable
without site and calls main(): a module's compiled code is cached, a script's is compiled
on every call, 4 ms of each).

An OCI runtime is a process per call, and podman calls three per `run --rm` (create,
start, delete): with site, the editable install's finder and the package's imports a
call cost about 80 ms of CPU, runc's 5.  So the command runs without site, and hands the
verbs that make no process of the caller's (start, state, kill, delete, pause, ...) to
the warm server of its --root (server.py), which runs each in a child forked for it.
`create` makes the container's init, which must descend from the caller (conmon and
containerd's shim are subreapers that reap it): the server prepares it and sends the
plan, the init is forked here (initfork.py).  `run` and `exec` run here, and `create` and
`run` start the server when none is up, for the calls that follow.  Standard library
modules built into the interpreter only on the served path (and initfork.py's for create).
"""
import sys

SOCK = ".server.sock"  # ociruntime/server.py: SOCK
DEFAULT_ROOT = "/run/dunnage-runtime"  # ociruntime/state.py: DEFAULT_ROOT
SERVED = {"start", "state", "kill", "delete", "pause", "resume", "ps", "list", "features", "update", "events"}
STARTS = {"create", "run"}  # verbs that start the server when none answers (for the calls on what they make)
VALUED = {"--root", "--log", "--log-format", "--criu", "--rootless"}  # global flags with a value
SERVER_ENV = "DUNNAGE_RUNTIME_SERVER"  # set (to the root) for the server's own process only


def _norm(path: str, cwd: str) -> str:
    if not path.startswith("/"):
        path = cwd + "/" + path
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))


def _root_and_verb(argv: list[str], cwd: str) -> tuple[str, str | None]:
    root, verb = DEFAULT_ROOT, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in VALUED:
            if a == "--root" and i + 1 < len(argv):
                root = argv[i + 1]
            i += 2
            continue
        if a.startswith("--root="):
            root = a[7:]
        elif not a.startswith("-"):
            verb = a
            break
        elif a in ("-h", "--help", "-v", "--version"):
            break
        i += 1
    return _norm(root, cwd), verb


def _ns() -> list[int]:
    import posix
    return [posix.stat(f"/proc/self/ns/{n}").st_ino for n in ("mnt", "pid")]


def _recv(s, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        try:
            more = s.recv(n - len(buf))
        except InterruptedError:
            continue
        if not more:
            break
        buf += more
    return buf


def _recv_with_fds(s, n: int) -> tuple[bytes, list[int]]:
    """Up to N bytes, and the descriptors sent with them (SCM_RIGHTS, close-on-exec)."""
    import _socket
    while True:
        try:
            data, anc, _, _ = s.recvmsg(n, 64, _socket.MSG_CMSG_CLOEXEC)
            break
        except InterruptedError:
            continue
    fds = []
    for level, kind, raw in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(raw[i:i + 4], sys.byteorder) for i in range(0, len(raw) - 3, 4)]
    return data, fds


def _launched(plan: dict, s) -> bytes:
    """create's init forked here on the server's PLAN: b"K" and its pid, or b"F" and why not.
    The create hooks run in the server (on S) while the init waits before pivot_root."""
    from .initfork import run_plan

    def hooks_turn(pid: int) -> None:
        s.sendall(b"H" + pid.to_bytes(4, "little"))
        if _recv(s, 1) != b"G":
            raise RuntimeError("the create hooks failed")
    try:
        pid = run_plan(plan, hooks_turn)
    except Exception as e:  # noqa: BLE001 - the server reports it (and undoes its part)
        msg = str(e).encode()
        return b"F" + len(msg).to_bytes(4, "little") + msg
    return b"K" + pid.to_bytes(4, "little")


def served(argv: list[str], root: str, cwd: str, launch: bool = False) -> int | None:
    """The verb's exit code once the server ran it; None if it did not (no server, stale,
    refused).  LAUNCH (create): the server prepares, and sends the plan of the container's
    init, which is forked here (ociruntime/initfork.py)."""
    import _signal
    import _socket
    import marshal
    import posix
    try:
        for fd in (0, 1, 2):
            posix.fstat(fd)
        ns = _ns()
    except OSError:
        return None
    umask = posix.umask(0)
    posix.umask(umask)
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        s.connect(root + "/" + SOCK)
        req = marshal.dumps({"argv": argv, "env": dict(posix.environ), "cwd": cwd, "umask": umask, "ns": ns,
                             "launch": launch})
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        s.sendmsg([b"C" + len(req).to_bytes(4, "little") + req],
                  [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if launch:
            from . import initfork  # noqa: F401  (while the server prepares)
        first = s.recv(5)
    except OSError:
        s.close()
        return None
    if len(first) != 5 or first[:1] != b"P":
        s.close()
        return None
    pid = int.from_bytes(first[1:], "little")
    last = []

    def forward(signum, _frame):
        last.append(signum)
        try:
            posix.kill(pid, signum)
        except OSError:
            pass
    for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1, _signal.SIGUSR2):
        _signal.signal(sig, forward)
    while True:
        kind, fds = _recv_with_fds(s, 1)
        if kind == b"R" and launch:
            plan = marshal.loads(_recv(s, int.from_bytes(_recv(s, 4), "little")))
            plan["fds"] = fds
            try:
                s.sendall(_launched(plan, s))
            except OSError:
                break
            continue
        code = _recv(s, 1) if kind == b"X" else b""
        break
    s.close()
    if code:
        return code[0]
    if not last:
        posix.write(2, b"dunnage-runtime: the command's process ended without an exit code\n")
        return 1
    sig = last[-1]
    _signal.signal(sig, _signal.SIG_DFL)
    posix.kill(posix.getpid(), sig)
    return 128 + sig


def _answers(root: str) -> bool:
    import _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        s.connect(root + "/" + SOCK)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_server(root: str) -> None:
    """The server of ROOT, detached (a session of its own, none of our descriptors): this
    script again, in a new interpreter, with SERVER_ENV set."""
    import posix
    pid = posix.fork()
    if pid:
        posix.waitpid(pid, 0)
        return
    try:
        posix.setsid()
        if posix.fork():
            posix._exit(0)
        nul = posix.open("/dev/null", posix.O_RDWR)
        for fd in (0, 1, 2):
            posix.dup2(nul, fd)
        posix.closerange(3, 65536)
        env = {b"PATH": posix.environ.get(b"PATH", b"/usr/sbin:/usr/bin:/sbin:/bin"), SERVER_ENV.encode(): root.encode()}
        posix.execve(sys.executable, [sys.executable, "-IS", sys.argv[0]], env)
    finally:
        posix._exit(1)


def here() -> None:
    import gc
    gc.disable()  # a call that runs here is short (create: 5 ms of its 80 ms of CPU were collections)
    from .cli import entry
    entry()


def main() -> None:
    import posix
    server_root = posix.environ.get(SERVER_ENV.encode())
    if server_root is not None:
        from .server import serve
        serve(server_root.decode())  # never returns
    args = sys.argv[1:]
    try:
        cwd = posix.getcwd()
    except OSError:
        here()
    root, verb = _root_and_verb(args, cwd)
    serve = posix.environ.get(b"DUNNAGE_RUNTIME_SERVE") != b"0"
    if verb in SERVED and serve:
        code = served(args, root, cwd)
        if code is not None:
            posix._exit(code)
    if verb == "create" and serve:
        import gc
        gc.disable()
        code = served(args, root, cwd, launch=True)
        if code is not None:
            posix._exit(code)
    if verb in STARTS and serve and not _answers(root):
        start_server(root)
    here()
