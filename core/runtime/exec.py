"""exec: a new process inside a running container, without the shim.

The calling front forks a helper that joins the container's cgroup and its
ipc, uts, net, pid, cgroup and mount namespaces (setns), then forks the
process itself (a member of the container's pid namespace), which takes the
same user, seccomp filter and capabilities as the container and execs.  With
a terminal, the pty comes from the container's own devpts and its master is
passed back to the front over a socket (SCM_RIGHTS), which then relays
between the user's terminal and the container."""
from __future__ import annotations

import fcntl
import os
import selectors
import signal
import socket
import sys
import termios
import traceback
import tty as _tty
from typing import Optional

from .linux import setns
from .process import exec_or_report, fail_exit, finalize, open_pty, read_report, reset_signals, take_terminal
from .seccomp import for_spec as seccomp_for_spec

NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt")  # mnt last: it changes our root


def run_exec(pid: int, cgroup, spec: dict, *, tty: bool = False, interactive: bool = False,
             detach: bool = False) -> tuple[int, str]:
    """Run SPEC["argv"] in the container whose PID 1 is PID.  Returns (exit code,
    error message or "").  Blocks until the process ends unless DETACH."""
    ns_fds = [os.open(f"/proc/{pid}/ns/{n}", os.O_RDONLY | os.O_CLOEXEC) for n in NAMESPACES]
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    sock_parent, sock_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    helper = os.fork()
    if helper == 0:  # the helper: join, fork the process, relay its status
        try:
            os.close(err_r)
            sock_parent.close()
            cgroup.join_self()
            for fd in ns_fds:
                setns(fd, 0)
                os.close(fd)
            master = slave = None
            if tty:
                master, slave = open_pty()
        except Exception as e:  # noqa: BLE001
            fail_exit(err_w, 126, f"exec: joining the container: {e}")
        child = os.fork()
        if child == 0:
            try:
                sock_child.close()
                os.setsid()
                reset_signals()
                if tty:
                    os.close(master)
                    take_terminal(slave)
                elif detach or not interactive:
                    nul = os.open("/dev/null", os.O_RDWR)
                    os.dup2(nul, 0)
                    if detach:
                        os.dup2(nul, 1)
                        os.dup2(nul, 2)
                    os.close(nul)
                env = finalize(spec)
            except Exception as e:  # noqa: BLE001
                msg = str(e) if isinstance(e, (OSError, ValueError)) else traceback.format_exception_only(e)[-1].strip()
                fail_exit(err_w, 126, msg)
            exec_or_report(spec["argv"], env, err_w)
        os.close(err_w)
        if tty:
            socket.send_fds(sock_child, [b"m"], [master])
            os.close(master)
        sock_child.close()
        if detach:
            os._exit(0)  # the process is adopted by the container's init
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

    # the front
    for fd in ns_fds:
        os.close(fd)
    os.close(err_w)
    sock_child.close()
    master = None
    if tty:
        try:
            _, fds, _, _ = socket.recv_fds(sock_parent, 16, 1)
            master = fds[0] if fds else None
        except OSError:
            master = None
    sock_parent.close()
    if master is not None:
        _relay(master, interactive, helper)
        os.close(master)
    _, status = os.waitpid(helper, 0)
    report = read_report(err_r, 126)
    return report if report else (os.waitstatus_to_exitcode(status), "")


def _relay(master: int, interactive: bool, helper: int) -> None:
    """Copy between our terminal and the container's pty until the process
    ends (background jobs may keep the pty open: like docker, we do not wait)."""
    stdin_tty = interactive and os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def winch(*_):
        if os.isatty(0):
            try:
                fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
            except OSError:
                pass

    old_winch = signal.signal(signal.SIGWINCH, winch)
    winch()
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ)
    done = os.pidfd_open(helper)
    sel.register(done, selectors.EVENT_READ)
    if interactive:
        sel.register(0, selectors.EVENT_READ)
    try:
        if stdin_tty:
            _tty.setraw(0)
        while True:
            for key, _ in sel.select():
                if key.fd == done:
                    _drain(master)
                    return
                if key.fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: the other side is gone
                        data = b""
                    if not data:
                        return
                    os.write(1, data)
                else:
                    data = os.read(0, 65536)
                    if not data:
                        sel.unregister(0)
                        os.write(master, b"\x04")  # EOF on a terminal
                        continue
                    os.write(master, data)
    finally:
        sel.close()
        os.close(done)
        signal.signal(signal.SIGWINCH, old_winch)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sys.stdout.flush()


def _drain(master: int) -> None:
    """What the process wrote just before it exited."""
    os.set_blocking(master, False)
    try:
        while True:
            data = os.read(master, 65536)
            if not data:
                return
            os.write(1, data)
    except (BlockingIOError, OSError):
        return


def exec_spec(config: dict, argv: list[str], *, user: Optional[str] = None, workdir: Optional[str] = None,
              env: list[str] = (), tty: bool = False) -> dict:
    """What the process gets: the container's own settings, overridden by the exec's flags."""
    from ..runtime.capabilities import effective_set
    hc = config["HostConfig"]
    envd = dict(e.split("=", 1) if "=" in e else (e, "") for e in config["Config"]["Env"])
    for e in env:
        k, sep, v = e.partition("=")
        if sep:
            envd[k] = v
        elif k in os.environ:
            envd[k] = os.environ[k]
    if tty:
        envd.setdefault("TERM", os.environ.get("TERM", "xterm"))
    return {
        "argv": list(argv), "env": envd,
        "cwd": workdir or config["Config"].get("WorkingDir") or "/",
        "user": user if user is not None else config["Config"].get("User") or "",
        "group_add": hc.get("GroupAdd") or [],
        "caps": effective_set(hc.get("CapAdd") or [], hc.get("CapDrop") or [], bool(hc.get("Privileged"))),
        "seccomp": seccomp_for_spec(config.get("Seccomp")),
        "no_new_privileges": any(o.startswith("no-new-privileges") and not o.endswith("false")
                                 for o in hc.get("SecurityOpt") or []),
    }
