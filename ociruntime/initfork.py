"""create's one step that must run in the caller's process: forking the container's init
(conmon and containerd's shim are subreapers that wait for it, so it must descend from
them).  The launcher (bin/dunnage-runtime) runs it on a plan the warm server prepared
(ociruntime/server.py: the bundle read, the state directory, the cgroup, the seccomp
filter compiled), create.py on what it prepared itself.  So this module imports what the
init needs and nothing else: no dataclasses, json, argparse or libseccomp (with them a
create cost ~60 ms of imports)."""
import os

from dunnage.core.errors import InvalidParameter, System
from dunnage.core.runtime.linux import CLONE_NEWPID, setns, unshare
from dunnage.core.runtime.process import container_init, read_report


class Attrs:
    """A RuntimeSpec (or its ProcessSpec) taken back from to_record()'s dict as plain
    attributes: what container_init reads of it, without core/runtime/spec.py."""

    def __init__(self, record: dict):
        self.__dict__.update(record)


def spec_of(record: dict) -> Attrs:
    spec = Attrs(record)
    spec.process = Attrs(record["process"])
    spec.binds = [tuple(b) for b in record.get("binds") or ()]
    return spec


class CgroupFiles:
    """What container_init needs of the container's cgroup: join_self, as the files (one
    per hierarchy) it writes itself into (join_files)."""

    def __init__(self, files: list[str]):
        self.files = files

    def join_self(self) -> None:
        for path in self.files:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)
            except OSError as e:
                raise OSError(e.errno, f"cannot write '0' to {path}: {e.strerror}") from None


def join_files(cgroup) -> list[str]:
    """Where the init (one thread: a fork's child) writes itself into a core.cgroups group:
    on v1 each hierarchy's `tasks`, not `cgroup.procs` as join_self does.  A write to
    cgroup.procs takes the kernel's cgroup_threadgroup_rwsem for writing, which waits out
    an RCU grace period when no other migration is under way (10-15 ms here, the longest
    step of a create); moving the only thread through `tasks` needs no such lock and
    moves the whole process all the same."""
    name = "tasks" if cgroup.version == 1 else "cgroup.procs"
    return [os.path.join(d, name) for d in cgroup.paths().values()]


def connect_console(path: str | None):
    """The caller's --console-socket, connected: the init sends its pty's master there."""
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


def fork_init(spec, cgroup, pid_namespace_path: str | None, new_pid_namespace: bool, console=None,
              on_hooks=None) -> int:
    """Fork the container's init (in the pid namespace the bundle names, or a new one) and
    wait until it is ready, waiting on its exec.fifo: its pid.  System if it failed first.
    ON_HOOKS(pid): the create hooks, run while the init waits just before pivot_root (its
    namespaces and mounts made, its root still the host's); what it raises kills the init."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    hooks_r, hooks_w = os.pipe2(os.O_CLOEXEC) if on_hooks is not None else (None, None)
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if pid_namespace_path:
            fd = os.open(pid_namespace_path, os.O_RDONLY | os.O_CLOEXEC)
            setns(fd, CLONE_NEWPID)  # our children's: the init is forked into it
            os.close(fd)
        elif new_pid_namespace:
            unshare(CLONE_NEWPID)
        pid = os.fork()
    finally:
        if pid != 0:  # what we start next is ours again, not the container's
            setns(own_pidns, CLONE_NEWPID)
            os.close(own_pidns)
    if pid == 0:  # (never returns: after pivot_root nothing can be imported, not even to report)
        try:
            os.close(err_r)
            os.close(ready_r)
            if hooks_w is not None:
                os.close(hooks_w)
            container_init(spec, cgroup, err_w, 1, 2, stdin_fd=0, pty_sock=console, ready_fd=ready_w,
                           hooks_fd=hooks_r)
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(2, f"dunnage-runtime: container init: {e!r}\n".encode())
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(125)
    os.close(err_w)
    os.close(ready_w)
    if hooks_r is not None:
        os.close(hooks_r)
    if console is not None:
        console.close()
    ready = os.read(ready_r, 1)
    if ready == b"h":
        try:
            on_hooks(pid)
            os.write(hooks_w, b"g")
        except BaseException:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(ready_r)
            os.close(err_r)
            raise
        finally:
            os.close(hooks_w)
        ready = os.read(ready_r, 1)
    elif hooks_w is not None:
        os.close(hooks_w)
    os.close(ready_r)
    if ready != b"r":
        report = read_report(err_r, 125)
        os.waitpid(pid, 0)
        raise System(report[1] if report else "the container's init ended before it was ready")
    os.close(err_r)
    return pid


def run_plan(plan: dict, on_hooks=None) -> int:
    """The launcher's half of a served create: fork the init of the warm server's PLAN
    (server.py: remote_launch; its "fds": the descriptors that came with it, the new network
    namespace the init joins when "netns"); the init's pid.  ON_HOOKS: fork_init's, when
    the plan says the bundle has create hooks."""
    fds = plan.get("fds") or []
    try:
        spec = spec_of(plan["spec"])
        if plan.get("netns"):
            if not fds:
                raise System("the container's network namespace did not come with its plan")
            spec.netns_fd = fds[0]
        console = connect_console(plan["console"]) if plan["terminal"] else None
        return fork_init(spec, CgroupFiles(plan["cgroup"]), plan["pidns_path"], plan["new_pidns"], console,
                         on_hooks if plan.get("hooks") else None)
    finally:
        for fd in fds:
            os.close(fd)
