"""create: the container's init is made, set up and left waiting, just before the user's
program, on the container's exec.fifo until `start` (runc's create/start split)."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Optional

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.errors import InvalidParameter, System
from dunnage.core.runtime import bundle as bundles
from dunnage.core.runtime.linux import CLONE_NEWPID, setns, unshare

from . import hooks, state

if TYPE_CHECKING:
    import socket


def _console(path: Optional[str], terminal: bool) -> Optional[socket.socket]:
    if not terminal:
        return None
    if not path:
        raise InvalidParameter("cannot allocate tty if runc will detach without setting console socket")
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise System(f"console socket {path}: {e.strerror}") from None
    return s


def _now() -> str:
    """RFC 3339 in UTC with microseconds, as datetime's isoformat gives (without importing datetime)."""
    t = time.time_ns() // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1_000_000)) + f".{t % 1_000_000:06d}Z"


def _write_pid_file(path: str, pid: int) -> None:
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def create(root: str, cid: str, bundle_dir: str, pid_file: Optional[str] = None,
           console_socket: Optional[str] = None, say=lambda s: None) -> int:
    """Make container CID of the bundle at BUNDLE_DIR; returns its init's pid (a child of
    this process, which the caller may wait for, as `run` does)."""
    state.check_id(cid)
    b = bundles.load(bundle_dir, cid)
    for w in b.warnings:
        say(f"warning: {w}")
    console = _console(console_socket, b.terminal)
    d = state.make_dir(root, cid)
    cgroup = open_cgroup_path(b.cgroups_path)
    made_cgroup = False
    pid = -1
    try:
        fifo = os.path.join(d, "exec.fifo")
        os.mkfifo(fifo, 0o622)
        b.spec.exec_fifo = fifo
        cgroup.create(b.limits)
        made_cgroup = True
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if b.pid_namespace_path:
            fd = os.open(b.pid_namespace_path, os.O_RDONLY | os.O_CLOEXEC)
            setns(fd, CLONE_NEWPID)  # our children's: the init is forked into it
            os.close(fd)
        elif b.new_pid_namespace:
            unshare(CLONE_NEWPID)
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # what we start next (hooks) is ours again, not the container's
                setns(own_pidns, CLONE_NEWPID)
                os.close(own_pidns)
        if pid == 0:
            try:
                os.close(err_r)
                os.close(ready_r)
                from dunnage.core.runtime.process import container_init
                container_init(b.spec, cgroup, err_w, 1, 2, stdin_fd=0, pty_sock=console, ready_fd=ready_w)
            except BaseException:  # noqa: BLE001
                import traceback
                traceback.print_exc()
            os._exit(125)
        os.close(err_w)
        os.close(ready_w)
        if console is not None:
            console.close()
        ready = os.read(ready_r, 1)
        os.close(ready_r)
        if ready != b"r":
            from dunnage.core.runtime.process import read_report
            report = read_report(err_r, 125)
            os.waitpid(pid, 0)
            raise System(report[1] if report else "the container's init ended before it was ready")
        os.close(err_r)
        started = state.start_time(pid)
        st = state.State(id=cid, bundle=b.path, rootfs=b.spec.rootfs, pid=pid, start_time=started or 0,
                         created=_now(),
                         cgroups_path=b.cgroups_path, annotations=b.annotations, hooks=b.hooks)
        state.save(root, st)
        oci = st.oci("created")
        hooks.run(b.hooks, "prestart", oci)
        hooks.run(b.hooks, "createRuntime", oci)
        hooks.run(b.hooks, "createContainer", oci)
        if pid_file:
            _write_pid_file(pid_file, pid)
        return pid
    except BaseException:
        if pid > 0:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
        if made_cgroup:
            try:
                cgroup.kill_all()
                cgroup.destroy()
            except Exception:  # noqa: BLE001 - the error that brought us here matters more
                pass
        state.remove_dir(root, cid)
        raise
