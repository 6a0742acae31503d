"""The container's PID 1, from the shim's side: forked in a new pid namespace with the
pipes (or the terminal) of its standard streams; what it does in the child until exec
is runtime.process.container_init."""
from __future__ import annotations

import os
import socket
import traceback
from dataclasses import dataclass
from typing import Optional

from ..runtime.linux import CLONE_NEWPID, setns, unshare
from ..runtime.spec import RuntimeSpec


@dataclass
class Pid1:
    """A forked PID 1 and the shim's ends of its pipes."""
    pid: int
    err_r: int  # "<code> <message>" if it fails before exec (runtime.process.read_report)
    out_r: Optional[int] = None  # its stdout and stderr, without a terminal
    eo_r: Optional[int] = None
    in_w: Optional[int] = None  # its stdin (-i without a terminal)
    go_w: Optional[int] = None  # a byte here lets it exec (it waits for an attach)
    pty: Optional[socket.socket] = None  # its terminal's master comes here (receive_master)

    def close(self) -> None:
        """Close the shim's ends (all but the pty socket)."""
        for fd in (self.err_r, self.out_r, self.eo_r, self.in_w, self.go_w):
            if fd is not None:
                os.close(fd)

    def receive_master(self) -> Optional[int]:
        """The terminal's master end, which PID 1 sends once it made it."""
        master = None
        try:
            _, fds, _, _ = socket.recv_fds(self.pty, 16, 1)
            master = fds[0] if fds else None
        except OSError:
            pass
        self.pty.close()
        self.pty = None
        return master


def fork_pid1(spec: RuntimeSpec, cgroup, own_pidns: int, *, tty: bool, open_stdin: bool, wait_attach: bool,
              close_in_child=()) -> Optional[Pid1]:
    """Fork PID 1 of a new pid namespace (unless --pid host), which sets itself up and
    execs SPEC.  OWN_PIDNS is a descriptor of the shim's own pid namespace; the child
    closes the sockets CLOSE_IN_CHILD (the shim's).  None if the fork failed."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    out_r = out_w = eo_r = eo_w = in_r = in_w = go_r = go_w = None
    pty_parent = pty_child = None
    if tty:
        pty_parent, pty_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        eo_r, eo_w = os.pipe2(os.O_CLOEXEC)
        if open_stdin:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
    if wait_attach:
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
    # PID 1 of a new pid namespace: forked right after this thread unshares one
    # for its children, which it then takes back (setns), so nothing else we fork or
    # start lands there (a thread cannot be made meanwhile, and only this thread's
    # children are affected).  A pid namespace cannot be entered again once its init
    # died, so each run gets a new one.
    new_pidns = "pid" not in spec.host_namespaces
    pid = -1
    try:
        if new_pidns:
            unshare(CLONE_NEWPID)
        try:
            pid = os.fork()
        finally:
            if new_pidns and pid != 0:
                setns(own_pidns, CLONE_NEWPID)
    except OSError:
        traceback.print_exc()
    if pid == 0:
        try:
            from ..runtime.process import container_init
            for fd in (err_r, out_r, eo_r, in_w, go_w):
                if fd is not None:
                    os.close(fd)
            if pty_parent is not None:
                pty_parent.close()
            for s in close_in_child:
                s.close()
            container_init(spec, cgroup, err_w, out_w, eo_w, stdin_fd=in_r, pty_sock=pty_child, go_fd=go_r)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        os._exit(125)
    for fd in (err_w, out_w, eo_w, in_r, go_r):
        if fd is not None:
            os.close(fd)
    if pty_child is not None:
        pty_child.close()
    p = Pid1(pid, err_r, out_r, eo_r, in_w, go_w, pty_parent)
    if pid < 0:
        p.close()
        if pty_parent is not None:
            pty_parent.close()
        return None
    return p
