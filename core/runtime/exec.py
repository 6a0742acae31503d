"""exec: a new process inside a running container, without the shim.

The calling front forks a helper.  Before anything of the container can see it,
the helper makes itself non-dumpable (/proc/<pid>/environ, exe, fd and mem are then
closed to the container's root, which lacks CAP_SYS_PTRACE) and wipes the memory
that /proc/<pid>/environ and cmdline show (the caller's environment, secrets
included), as runc does since CVE-2016-9962 and CVE-2019-5736.  It then joins the
container's cgroup and its ipc, uts, net, pid, cgroup and mount namespaces (setns)
and forks the process itself (a member of the container's pid namespace, which the
helper is not): it inherits all that, takes the container's user, seccomp filter and
capabilities, keeps no descriptor but its standard streams, and execs with exactly
the container's environment (execve makes it dumpable again).

The process never gets the caller's descriptors: its standard streams are pipes,
or with a terminal a pty from the container's own devpts, whose other ends the
helper holds and relays to and from the caller's stdin, stdout and stderr, as
docker's daemon does an exec's streams.  The helper is in a session of its own and
stays until the process exits: a caller that goes away (ctrl-c, a hung-up
terminal) ends neither the process nor its session (no SIGHUP from a pty master
closing, no SIGPIPE), as with docker; the helper then lets go of the caller's
descriptors and discards the output.  With a terminal, the master also comes back
to the front (SCM_RIGHTS), which sets the caller's terminal raw and passes on
changes of its size."""
from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import selectors
import signal
import socket
import termios
import traceback
import tty as _tty
from typing import Optional

from . import seccomp as _seccomp
from .linux import libc, prctl, setns
from .process import exec_or_report, fail_exit, finalize, open_pty, read_report, reset_signals, take_terminal
from .spec import ProcessSpec, env_dict, process_spec

_seccomp.preload()  # libseccomp loaded now: after setns the host's libraries are out of reach

NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt")  # mnt last: it changes our root
PR_SET_DUMPABLE = 4
DRAIN_MAX = 1 << 20  # what the relay still copies once the process has exited, at most


def run_exec(pid: int, cgroup, spec: ProcessSpec, *, tty: bool = False, interactive: bool = False,
             detach: bool = False, on_spawn=None) -> tuple[int, str]:
    """Run SPEC.argv in the container whose PID 1 is PID.  Returns (exit code,
    error message or "").  Blocks until the process ends unless DETACH.

    With ON_SPAWN (runc's exec, for an OCI caller) the process inherits the caller's
    standard streams instead of pipes the helper relays, and ON_SPAWN(pid, master) is
    called once it exists (its host pid, and with TTY its terminal's master end, which the
    callee passes on and closes); DETACH then leaves it to the caller's subreaper."""
    _stdio_open()
    ns_fds = _namespace_fds(pid)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    alive_r, alive_w = os.pipe2(os.O_CLOEXEC)  # EOF in the helper: the front is gone
    sock_parent, sock_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    helper = os.fork()
    if helper == 0:
        code = 126
        try:
            os.close(err_r)
            os.close(alive_w)
            sock_parent.close()
            _helper(ns_fds, cgroup, spec, tty, interactive, detach, err_w, alive_r, sock_child, on_spawn is not None)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        os._exit(code)

    # the front
    for fd in ns_fds:
        os.close(fd)
    os.close(err_w)
    os.close(alive_r)
    sock_child.close()
    master = None
    if on_spawn is not None:
        return _spawned(helper, sock_parent, err_r, alive_w, on_spawn)
    if tty and not detach:
        try:
            _, fds, _, _ = socket.recv_fds(sock_parent, 16, 1)
            master = fds[0] if fds else None
        except OSError:
            master = None
    sock_parent.close()
    try:
        status = _wait(helper, master, interactive)
    finally:
        if master is not None:
            os.close(master)
        os.close(alive_w)
    report = read_report(err_r, 126)
    if report:
        return report
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status), ""


NS_GET_USERNS = 0xb701


def _namespace_fds(pid: int) -> list[int]:
    """PID's namespaces, in the order the helper joins them: a user namespace of its own
    (an OCI bundle's) first, as runc's exec joins it, so that the others, which it owns,
    are joined with the capabilities it gives; only those it does not own (joined by path
    from the host's, where it takes the host's root) before it."""
    fds = [os.open(f"/proc/{pid}/ns/{n}", os.O_RDONLY | os.O_CLOEXEC) for n in NAMESPACES]
    user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    ino = os.fstat(user).st_ino
    if ino == os.stat("/proc/self/ns/user").st_ino:
        os.close(user)
        return fds
    before, after = [], []
    for fd in fds[:-1]:  # (the mount namespace stays last)
        owner = fcntl.ioctl(fd, NS_GET_USERNS)
        (after if os.fstat(owner).st_ino == ino else before).append(fd)
        os.close(owner)
    return before + [user] + after + fds[-1:]


def _spawned(helper: int, sock: socket.socket, err_r: int, alive_w: int, on_spawn) -> tuple[int, str]:
    """run_exec's end with ON_SPAWN: the process's pid (and master) from the helper, then
    the helper's exit: at once when detached, else the process's status."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, 32, 1)
    except OSError:
        data, fds = b"", []
    sock.close()
    if data:
        on_spawn(int(data), fds[0] if fds else None)
    _, status = os.waitpid(helper, 0)
    os.close(alive_w)
    report = read_report(err_r, 126)
    if report:
        return report
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status), ""


def _stdio_open() -> None:
    """Fill a closed stdin, stdout or stderr with /dev/null: the descriptors made
    here must not take their numbers, which the process's streams replace."""
    while True:
        fd = os.open("/dev/null", os.O_RDWR)
        if fd > 2:
            os.close(fd)
            return


def _wait(helper: int, master: Optional[int], interactive: bool) -> int:
    """The helper's wait status.  With a terminal, ours is raw meanwhile and its
    size goes to the container's."""
    stdin_tty = master is not None and interactive and os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None
    old_winch = None
    if master is not None:
        def winch(*_):
            if os.isatty(0):
                try:
                    fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
                except OSError:
                    pass
        old_winch = signal.signal(signal.SIGWINCH, winch)
        winch()  # a change before the handler was in (the API service's first resize) is not lost
    try:
        if stdin_tty:
            _tty.setraw(0)
        _, status = os.waitpid(helper, 0)
        return status
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _helper(ns_fds: list[int], cgroup, spec: ProcessSpec, tty: bool, interactive: bool, detach: bool, err_w: int,
            alive_r: int, sock: socket.socket, inherit: bool = False) -> None:
    """The helper (see the module's docstring); never returns."""
    try:
        os.setsid()  # out of the caller's session: its terminal's signals are not for us
        for sig in (signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        _close_all_but({0, 1, 2, err_w, alive_r, sock.fileno(), *ns_fds})
        hide_host()
        cgroup.join_self()
        for fd in ns_fds:
            setns(fd, 0)
            os.close(fd)
        master = slave = out_r = out_w = eo_r = eo_w = in_r = in_w = None
        if tty:
            master, slave = open_pty()
            if os.isatty(0):
                try:
                    fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
                except OSError:
                    pass
        elif not detach and not inherit:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            eo_r, eo_w = os.pipe2(os.O_CLOEXEC)
            if interactive:
                in_r, in_w = os.pipe2(os.O_CLOEXEC)
    except Exception as e:  # noqa: BLE001
        fail_exit(err_w, 126, f"exec: joining the container: {e}")
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            reset_signals()
            if tty:
                take_terminal(slave)
            elif not inherit:
                nul = os.open("/dev/null", os.O_RDWR)
                os.dup2(in_r if in_r is not None else nul, 0)
                os.dup2(out_w if out_w is not None else nul, 1)
                os.dup2(eo_w if eo_w is not None else nul, 2)
            err_w = only_stdio(err_w)
            env = finalize(spec)
        except Exception as e:  # noqa: BLE001
            msg = str(e) if isinstance(e, (OSError, ValueError)) else traceback.format_exception_only(e)[-1].strip()
            fail_exit(err_w, 126, msg)
        exec_or_report(spec.argv, env, err_w)
    os.close(err_w)
    for fd in (out_w, eo_w, in_r):
        if fd is not None:
            os.close(fd)
    if inherit:
        try:
            socket.send_fds(sock, [str(child).encode()], [master] if master is not None else [])
        except OSError:
            pass
        if master is not None:
            os.close(master)
        sock.close()
        if detach:
            os._exit(0)  # the process is adopted by the caller's subreaper
        _, status = os.waitpid(child, 0)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    if detach:
        os._exit(0)  # the process is adopted by the container's init
    if master is not None:
        try:
            socket.send_fds(sock, [b"m"], [master])
        except OSError:
            pass
    sock.close()
    try:
        status = _relay(child, master, out_r, eo_r, in_w if in_w is not None else master, interactive, alive_r)
    except BaseException:  # noqa: BLE001 - the process is reaped whatever happened here
        traceback.print_exc()
        _, status = os.waitpid(child, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def hide_host() -> None:
    """Make this process unreadable from the container before it joins it, and wipe
    the memory behind /proc/<pid>/environ and cmdline, which keep showing the
    environment and command line the process started with (the caller's, or the fork
    server's) even once os.environ is empty.  Dumpable stays off through fork and
    the user switch (suid_dumpable), until the container's program is exec'd."""
    prctl(PR_SET_DUMPABLE, 0)
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    arg_start, arg_end, env_start, env_end = (int(x) for x in fields[45:49])  # proc(5): fields 48-51
    os.environ.clear()
    libc.clearenv()
    if env_end > env_start:
        ctypes.memset(env_start, 0, env_end - env_start)
    if arg_end > arg_start:
        ctypes.memset(arg_start, 0, arg_end - arg_start)
        name = b"dunnage-exec"[:arg_end - arg_start - 1]
        ctypes.memmove(arg_start, name, len(name))


def only_stdio(err_w: int) -> int:
    """Close every descriptor but 0, 1, 2 and ERR_W (close-on-exec, moved to 3);
    returns ERR_W's number."""
    if err_w != 3:
        os.dup2(err_w, 3, inheritable=False)
    os.closerange(4, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    return 3


def _close_all_but(keep: set[int]) -> None:
    lo = 3
    top = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, top)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _relay(child: int, master: Optional[int], out_r: Optional[int], eo_r: Optional[int], into: Optional[int],
           interactive: bool, alive_r: int) -> int:
    """Copy the caller's stdin to INTO (the process's stdin pipe, or the pty's master),
    and the process's output (MASTER, or OUT_R and EO_R) to the caller's stdout and
    stderr, until the process exits (background jobs may keep its output open: like
    docker, we do not wait for them).  Once the front is gone (EOF on ALIVE_R) the
    caller's descriptors are let go and the output is read and dropped.  Returns the
    process's wait status."""
    done = os.pidfd_open(child)
    outs = {master: 1} if master is not None else {out_r: 1, eo_r: 2}
    for fd in outs:
        os.set_blocking(fd, False)
    if into is not None:
        os.set_blocking(into, False)
    sel = selectors.PollSelector()  # (epoll takes no regular file, nor /dev/null, as the caller's stdin)
    sel.register(alive_r, selectors.EVENT_READ)
    sel.register(done, selectors.EVENT_READ)
    st = {"client": True, "stdin": interactive and into is not None, "pending": b"", "eof": False, "into": into}

    def sync() -> None:
        """Register what we wait for now: output, the caller's stdin unless the process
        has not taken the last of it yet, room in INTO for what it has not."""
        want = {fd: selectors.EVENT_READ for fd in outs}
        into_ = st["into"]
        if into_ is not None and (st["pending"] or st["eof"]):
            want[into_] = want.get(into_, 0) | selectors.EVENT_WRITE
        elif st["client"] and st["stdin"]:
            want[0] = selectors.EVENT_READ
        for fd in list(sel.get_map()):
            if fd not in (alive_r, done) and fd not in want:
                sel.unregister(fd)
        for fd, ev in want.items():
            key = sel.get_map().get(fd)
            if key is None:
                sel.register(fd, ev)
            elif key.events != ev:
                sel.modify(fd, ev)

    def let_go() -> None:
        st["client"] = False
        nul = os.open("/dev/null", os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(nul, i)
        os.close(nul)

    def copy_out(fd: int) -> bool:
        """One read of FD to the caller; False at its end."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:  # EIO: the pty's other side is gone
            data = b""
        if not data:
            return False
        if st["client"]:
            try:
                _write_all(outs[fd], data)
            except OSError:
                let_go()
        return True

    def feed() -> None:
        into_ = st["into"]
        try:
            if st["pending"]:
                st["pending"] = st["pending"][os.write(into_, st["pending"]):]
            if not st["pending"] and st["eof"]:
                st["eof"] = False
                if into_ == master:
                    os.write(master, b"\x04")  # EOF on a terminal
                else:
                    os.close(into_)
                    st["into"] = None
        except BlockingIOError:
            pass
        except OSError:  # the process closed its stdin: what is left goes nowhere
            st["pending"], st["eof"], st["stdin"] = b"", False, False

    try:
        sync()
        while True:
            for key, ev in sel.select():
                fd = key.fd
                if fd == done:
                    for out in outs:
                        copied = 0
                        while copied < DRAIN_MAX and copy_out(out):
                            copied += 65536
                    return os.waitpid(child, 0)[1]
                if fd == alive_r:
                    sel.unregister(alive_r)
                    if st["client"]:
                        let_go()
                elif fd == 0:
                    try:
                        data = os.read(0, 65536)
                    except OSError:
                        data = b""
                    if data:
                        st["pending"] += data
                    else:
                        st["eof"], st["stdin"] = True, False
                    feed()
                else:
                    if ev & selectors.EVENT_WRITE:
                        feed()
                    if ev & selectors.EVENT_READ and fd in outs and not copy_out(fd):
                        del outs[fd]
                        sel.unregister(fd)
                        if fd != st["into"]:
                            os.close(fd)
            sync()
    finally:
        sel.close()
        os.close(done)


def exec_spec(config: dict, argv: list[str], *, user: Optional[str] = None, workdir: Optional[str] = None,
              env: list[str] = (), tty: bool = False) -> ProcessSpec:
    """What the process gets: the container's own settings, overridden by the exec's flags."""
    spec = process_spec(config, argv)
    envd = env_dict(config["Config"]["Env"])
    for e in env:
        k, sep, v = e.partition("=")
        if sep:
            envd[k] = v
        elif k in os.environ:
            envd[k] = os.environ[k]
    if tty:
        envd.setdefault("TERM", os.environ.get("TERM", "xterm"))
    spec.env = envd
    if workdir:
        spec.cwd = workdir
    if user is not None:
        spec.user = user
    spec.no_new_privileges = any(o.startswith("no-new-privileges") and not o.endswith("false")
                                 for o in config["HostConfig"].get("SecurityOpt") or [])
    return spec
