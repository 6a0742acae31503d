"""The container's first process: from a forked child of the shim to exec.

The shim has already unshared the pid namespace, so this child is PID 1 of
it.  It joins the cgroup, unshares the other namespaces, builds its root and
execs the command.  Any failure before exec is written to ERR_FD as
"<exit code> <message>" (the pipe is close-on-exec, so an empty read in the
shim means exec succeeded)."""
from __future__ import annotations

import errno
import os
import fcntl
import resource  # here, not lazily: after pivot_root the host's modules are out of reach
import struct
import termios
import _signal  # (the C modules: signal's and socket's enums cost dunnage-runtime's create 3 ms of imports)
import _socket
import warnings  # noqa: F401  (os.execvpe imports it when it runs: after pivot_root, out of reach)

from . import seccomp as _seccomp
from .capabilities import drop_bounding, set_cap_sets, set_caps
from .users import UserError, resolve as resolve_user, switch as switch_user
from .linux import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUTS, PR_SET_KEEPCAPS,
                    PR_SET_NO_NEW_PRIVS, join_session_keyring, prctl, setns, unshare)
from .rootfs import setup_oci_rootfs, setup_rootfs

# (the specs are RuntimeSpec and ProcessSpec of .spec, not imported: dunnage-runtime's
# container init gets them as plain attributes, without the dataclasses machinery)

NAMESPACES = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP


def fail_exit(err_fd: int, code: int, msg: str) -> None:
    """Report "<code> <message>" on the close-on-exec error pipe and exit."""
    try:
        os.write(err_fd, f"{code} {msg}".encode())
    finally:
        os._exit(code)


def exec_or_report(argv: list[str], env: dict, err_fd: int) -> None:
    """Exec ARGV; if that fails, report docker's 126/127 on the error pipe and exit."""
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        fail_exit(err_fd, *exec_error(argv[0], e))


def _look_path(cmd0: str, env: dict, err_fd: int) -> None:
    """Report (and exit) now if CMD0 cannot be exec'd: found in PATH, or as given with a slash."""
    paths = [cmd0] if "/" in cmd0 else [os.path.join(d or ".", cmd0)
                                         for d in env.get("PATH", os.defpath).split(":")]
    for p in paths:
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return
    e = OSError(errno.EACCES if any(os.path.exists(p) for p in paths) else errno.ENOENT, "")
    fail_exit(err_fd, *exec_error(cmd0, e))


def read_report(fd: int, default_code: int) -> tuple[int, str] | None:
    """The other end of the error pipe: None once the child exec'd (EOF, nothing
    written), else (code, message).  Closes FD."""
    err = b""
    while True:
        b = os.read(fd, 4096)
        if not b:
            break
        err += b
    os.close(fd)
    if not err:
        return None
    code, _, msg = err.decode(errors="replace").partition(" ")
    return (int(code) if code.isdigit() else default_code), msg


def exec_error(cmd0: str, e: OSError) -> tuple[int, str]:
    if e.errno == errno.ENOENT:
        if "/" in cmd0:
            return 127, f'exec: "{cmd0}": stat {cmd0}: no such file or directory'
        return 127, f'exec: "{cmd0}": executable file not found in $PATH'
    if e.errno in (errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR):
        return 126, f'exec: "{cmd0}": permission denied'
    return 126, f'exec: "{cmd0}": {e.strerror}'


ULIMITS = {"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
           "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
           "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
           "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
           "stack": "RLIMIT_STACK", "as": "RLIMIT_AS"}


def rlimit(name: str) -> int:
    """The resource number of ULIMITS' NAME (Python's resource module has no RLIMIT_LOCKS: 10 on Linux)."""
    return 10 if ULIMITS[name] == "RLIMIT_LOCKS" else getattr(resource, ULIMITS[name])


def set_ulimits(ulimits: list[dict]) -> None:
    for u in ulimits:
        resource.setrlimit(rlimit(u["Name"]), (u["Soft"], u["Hard"]))


def needs_libseccomp(spec) -> bool:
    """Whether SPEC's (a ProcessSpec's) filter is compiled in the process (libseccomp loaded
    first: after pivot_root or setns the host's libraries are out of reach), not ready-made."""
    return bool(spec.seccomp) and not isinstance(spec.seccomp, bytes)


def _one_line(e: BaseException) -> str:
    """traceback.format_exception_only's line (traceback itself cannot be imported once
    the host's files are out of reach)."""
    t = type(e)
    name = t.__qualname__ if t.__module__ in ("builtins", "__main__") else f"{t.__module__}.{t.__qualname__}"
    msg = str(e)
    return f"{name}: {msg}" if msg else name


def finalize(spec) -> dict:
    """The last steps inside the container's root, shared by run and exec:
    working directory, user, no_new_privs, seccomp, capabilities.  Returns the
    environment to exec with."""
    env = dict(spec.env)
    if getattr(spec, "session_keyring", None):
        join_session_keyring(spec.session_keyring)
    user = resolve_user(spec.user or "", "/", spec.group_add or [])
    if getattr(spec, "groups", None) is not None:
        user.groups = list(spec.groups)
    env.setdefault("HOME", user.home)
    if spec.umask is not None:
        os.umask(spec.umask)
    cwd = spec.cwd or "/"
    if not os.path.isdir(cwd):
        os.makedirs(cwd, exist_ok=True)
        os.chown(cwd, user.uid, user.gid)
    os.chdir(cwd)
    if spec.no_new_privileges:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    if spec.seccomp:
        # while CAP_SYS_ADMIN is still ours (the filter allows what follows)
        _seccomp.install(spec.seccomp, spec.caps)
    sets = getattr(spec, "cap_sets", None)
    if sets is not None:  # an OCI process's five sets, as runc applies them: the user keeps its permitted set
        drop_bounding(sets.get("bounding") or [])
        prctl(PR_SET_KEEPCAPS, 1)
        switch_user(user)
        prctl(PR_SET_KEEPCAPS, 0)
        set_cap_sets(sets)
        return env
    drop_bounding(spec.caps)
    switch_user(user)  # a non-root user loses its capabilities here, as with docker
    if user.uid == 0:
        set_caps(spec.caps)
    return env


TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


def open_pty() -> tuple[int, str]:
    """A pty pair from the devpts instance at /dev/pts (the container's, once inside)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    return master, f"/dev/pts/{n}"


def reset_signals() -> None:
    """What the command should start with: default dispositions (Python ignores
    SIGPIPE, exec keeps that), nothing blocked."""
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGCHLD,
                _signal.SIGWINCH, _signal.SIGTSTP, _signal.SIGTTIN, _signal.SIGTTOU):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def take_terminal(slave_path: str) -> None:
    """Make the pty at SLAVE_PATH our controlling terminal and our stdin, stdout, stderr
    (we are a session leader already)."""
    slave = os.open(slave_path, os.O_RDWR)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for i in (0, 1, 2):
        os.dup2(slave, i)
    if slave > 2:
        os.close(slave)


def _close_all_but(keep: set[int]) -> None:
    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 65536)


# OCI's namespace types and their clone flags (pid and user are not joined here: the
# creator enters the pid namespace before it forks, or makes the user namespace: ociruntime/initfork.py)
OCI_NAMESPACES = {"network": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "mount": CLONE_NEWNS,
                  "cgroup": CLONE_NEWCGROUP}


def _namespaces(spec) -> None:
    """Unshare the namespaces SPEC wants new, join those it names by path (OCI), or the one
    the shim made and wired (netns_fd)."""
    host = set(spec.host_namespaces)  # --uts/--ipc/--network host share the host's
    flags = NAMESPACES
    for name, flag in (("uts", CLONE_NEWUTS), ("ipc", CLONE_NEWIPC), ("net", CLONE_NEWNET),
                       ("cgroup", CLONE_NEWCGROUP)):
        if name in host:
            flags &= ~flag
    joins = []
    if spec.netns_fd is not None:  # made (and wired) by the shim
        joins.append((spec.netns_fd, CLONE_NEWNET, False))
    joined = getattr(spec, "namespaces_joined", ())  # before the user namespace was made (initfork.py)
    for kind in (*joined, *getattr(spec, "namespaces_made", ())):  # (or made right after it)
        flags &= ~OCI_NAMESPACES[kind]
    for kind, path in spec.namespace_paths.items():
        if kind in OCI_NAMESPACES and kind not in joined:
            joins.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), OCI_NAMESPACES[kind], True))
    for _, flag, _ in joins:
        flags &= ~flag
    for fd, flag, own in joins:
        if flag != CLONE_NEWNS:  # the mount namespace last: the paths are the host's
            setns(fd, flag)
    unshare(flags)
    for fd, flag, own in joins:
        if flag == CLONE_NEWNS:
            setns(fd, flag)
        if own:
            os.close(fd)
    if "uts" not in host and spec.hostname:
        _socket.sethostname(spec.hostname)
    if "net" not in host and spec.netns_fd is None and "network" not in spec.namespace_paths \
            and "network" not in joined:
        from ..net import loopback_up
        loopback_up()
    for key, value in spec.sysctl.items():  # in the container's own namespaces now
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    if spec.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(spec.oom_score_adj))


def _hooks_turn(ready_fd: int, hooks_fd: int, err_fd: int) -> None:
    """The create hooks' turn, before pivot_root: "h" to the creator, then its "g"."""
    os.write(ready_fd, b"h")
    go = os.read(hooks_fd, 1)
    os.close(hooks_fd)
    if go != b"g":
        fail_exit(err_fd, 125, "container init: the create hooks failed")


def container_init(spec, cgroup, err_fd: int, stdout_fd: int, stderr_fd: int,
                   stdin_fd: int | None = None, pty_sock=None, go_fd: int | None = None,
                   ready_fd: int | None = None, hooks_fd: int | None = None) -> None:
    """Never returns: execs the container command or exits with a code.

    With PTY_SOCK the process gets a terminal from the container's own devpts,
    and its master end is sent to the shim over PTY_SOCK.  With GO_FD it waits,
    just before exec, until the shim says go (a client has attached).  With
    SPEC.exec_fifo (OCI's create) it writes a byte to READY_FD once everything but the
    exec is done, then waits until `start` opens the fifo; with HOOKS_FD as well, it says
    "h" on READY_FD just before pivot_root and waits for "g" on HOOKS_FD (the creator runs
    the create hooks meanwhile, as runc's does)."""
    fifo = None
    try:
        reset_signals()
        os.setsid()
        if needs_libseccomp(spec.process):
            _seccomp.preload()
        cgroup.join_self()
        _namespaces(spec)
        if spec.exec_fifo:
            fifo = os.open(spec.exec_fifo, os.O_PATH | os.O_CLOEXEC)  # reopened for writing after pivot_root
        if spec.oci_mounts is not None:
            setup_oci_rootfs(spec, None if hooks_fd is None else lambda: _hooks_turn(ready_fd, hooks_fd, err_fd))
        else:
            setup_rootfs(spec.rootfs, spec.binds, privileged=spec.privileged, read_only=spec.read_only,
                         mounts=spec.mounts)
        set_ulimits(spec.ulimits)
        if pty_sock is not None:
            master, slave_path = open_pty()
            take_terminal(slave_path)
            pty_sock.sendmsg([slave_path.encode()],  # (socket.send_fds)
                             [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))])
            os.close(master)
            pty_sock.close()
        else:
            inp = stdin_fd if stdin_fd is not None else os.open("/dev/null", os.O_RDONLY)
            os.dup2(inp, 0)
            os.dup2(stdout_fd, 1)
            os.dup2(stderr_fd, 2)
        keep = {err_fd} | {fd for fd in (go_fd, ready_fd, fifo) if fd is not None}
        _close_all_but(keep)
        env = finalize(spec.process)
        if go_fd is not None:
            os.read(go_fd, 1)  # until the shim has a client attached (or gives up)
            os.close(go_fd)
        if fifo is not None:
            _look_path(spec.process.argv[0], env, err_fd)  # a missing program fails create, as with runc
            os.write(ready_fd, b"r")
            os.close(ready_fd)
            w = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)  # until `start` reads
            os.write(w, b"0")
            os.close(w)
            os.close(fifo)
    except UserError as e:
        fail_exit(err_fd, 125, str(e))
    except Exception as e:  # noqa: BLE001 - reported to the shim, one line
        detail = str(e) if isinstance(e, OSError) else _one_line(e)
        fail_exit(err_fd, 125, f"container init: {detail}")
    exec_or_report(spec.process.argv, env, err_fd)
