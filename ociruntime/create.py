"""create: the container's init is made, set up and left waiting, just before the user's
program, on the container's exec.fifo until `start` (runc's create/start split).

In three steps: prepare (the bundle read, the state directory, the fifo and the cgroup),
the init forked (initfork.py: in the caller's process, which it must descend from), finish
(the state saved, the pid file); abort undoes a prepare.  A bundle with create hooks
(prestart, createRuntime, createContainer) has them run while the init waits just before
pivot_root (create_hooks), as runc runs them.  A call the
warm server serves runs prepare and finish in the server's child and the fork in the
launcher (server.py: remote_launch); a call run here runs all three."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from dunnage.core.cgroups import Cgroup, open_cgroup_path
from dunnage.core.errors import InvalidParameter
from dunnage.core.runtime import bundle as bundles

from . import hooks, initfork, state


@dataclass
class Prepared:
    root: str
    cid: str
    bundle: bundles.Bundle
    cgroup: Cgroup
    console_socket: Optional[str]
    created: str = ""  # when it was first recorded (RFC 3339)


def _now() -> str:
    """RFC 3339 in UTC with microseconds, as datetime's isoformat gives (without importing datetime)."""
    t = time.time_ns() // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1_000_000)) + f".{t % 1_000_000:06d}Z"


def _write_pid_file(path: str, pid: int) -> None:
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def prepare(root: str, cid: str, bundle_dir: str, console_socket: Optional[str] = None,
            say=lambda s: None, no_new_keyring: bool = False) -> Prepared:
    state.check_id(cid)
    b = bundles.load(bundle_dir, cid)
    if not no_new_keyring:
        b.spec.process.session_keyring = state.keyring_name(cid)
    for w in b.warnings:
        say(f"warning: {w}")
    if b.terminal and not console_socket:
        raise InvalidParameter("cannot allocate tty if runc will detach without setting console socket")
    d = state.make_dir(root, cid)
    p = Prepared(root, cid, b, open_cgroup_path(b.cgroups_path), console_socket)
    made_cgroup = False
    try:
        fifo = os.path.join(d, "exec.fifo")
        old = os.umask(0)  # writable by any user the program runs as (its init opens it after the switch)
        try:
            os.mkfifo(fifo, 0o622)
        finally:
            os.umask(old)
        b.spec.exec_fifo = fifo
        p.cgroup.create(b.limits)
        made_cgroup = True
    except BaseException:
        abort(p, -1, made_cgroup)
        raise
    return p


CREATE_HOOKS = ("prestart", "createRuntime", "createContainer")


def has_create_hooks(p: Prepared) -> bool:
    return any(p.bundle.hooks.get(h) for h in CREATE_HOOKS)


def _record(p: Prepared, pid: int) -> state.State:
    b = p.bundle
    p.created = p.created or _now()
    st = state.State(id=p.cid, bundle=b.path, rootfs=b.spec.rootfs, pid=pid,
                     start_time=state.start_time(pid) or 0, created=p.created,
                     cgroups_path=b.cgroups_path, annotations=b.annotations, hooks=b.hooks,
                     new_keyring=b.spec.process.session_keyring is not None)
    state.save(p.root, st)
    return st


def create_hooks(p: Prepared, pid: int) -> None:
    """The create hooks, while the init PID waits before pivot_root (its namespaces and
    mounts made, its root still the host's): the state recorded, then prestart and
    createRuntime in the runtime's namespaces and createContainer in the init's (nsenter: its
    mount namespace, where the hook's path is still looked up from the host's root)."""
    oci = _record(p, pid).oci("created")
    hooks.run(p.bundle.hooks, "prestart", oci)
    hooks.run(p.bundle.hooks, "createRuntime", oci)
    hooks.run(p.bundle.hooks, "createContainer", oci, in_container=pid)


def finish(p: Prepared, pid: int, pid_file: Optional[str]) -> None:
    """The init PID is ready: record it (again: its start time is known now), write the pid file."""
    try:
        _record(p, pid)
        if pid_file:
            _write_pid_file(pid_file, pid)
    except BaseException:
        abort(p, pid)
        raise


def abort(p: Prepared, pid: int, made_cgroup: bool = True) -> None:
    """Undo P (and kill the init PID, if one was made)."""
    if pid > 0:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    if made_cgroup:
        try:
            p.cgroup.kill_all()
            p.cgroup.destroy()
        except Exception:  # noqa: BLE001 - the error that brought us here matters more
            pass
    state.remove_dir(p.root, p.cid)


def fork_here(p: Prepared) -> int:
    """The init forked by this process (see initfork.fork_init)."""
    b = p.bundle
    console = initfork.connect_console(p.console_socket) if b.terminal else None
    return initfork.fork_init(b.spec, initfork.CgroupFiles(initfork.join_files(p.cgroup)), b.pid_namespace_path,
                              b.new_pid_namespace, console,
                              (lambda pid: create_hooks(p, pid)) if has_create_hooks(p) else None)


def create(root: str, cid: str, bundle_dir: str, pid_file: Optional[str] = None,
           console_socket: Optional[str] = None, say=lambda s: None,
           fork: Callable[[Prepared], int] = fork_here, no_new_keyring: bool = False) -> int:
    """Make container CID of the bundle at BUNDLE_DIR; returns its init's pid (a child of
    this process, which the caller may wait for, as `run` does; with FORK, of whatever
    process FORK has fork it)."""
    p = prepare(root, cid, bundle_dir, console_socket, say, no_new_keyring)
    try:
        pid = fork(p)
    except BaseException:
        abort(p, -1)
        raise
    finish(p, pid, pid_file)
    return pid
