"""create's one step that must run in the caller's process: forking the container's init
(conmon and containerd's shim are subreapers that wait for it, so it must descend from
them).  The launcher (bin/dunnage-runtime) runs it on a plan the warm server prepared
(ociruntime/server.py: the bundle read, the state directory, the cgroup, the seccomp
filter compiled), create.py on what it prepared itself.  So this module imports what the
init needs and nothing else: no dataclasses, json, argparse or libseccomp (with them a
create cost ~60 ms of imports)."""
import ctypes
import os

from dunnage.core.errors import InvalidParameter, System
from dunnage.core.runtime.linux import CLONE_NEWPID, CLONE_NEWUSER, PR_SET_CHILD_SUBREAPER, libc, prctl, setns, unshare
from dunnage.core.runtime.process import (OCI_NAMESPACES, _one_line, container_init, needs_libseccomp, read_report,
                                          rlimit)
from dunnage.core.runtime.seccomp import preload as preload_seccomp


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

    def init(cgroup) -> None:  # (never returns: after pivot_root nothing can be imported, not even to report)
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

    if getattr(spec, "uid_mappings", None) is not None:
        try:
            pid = _fork_in_user_namespace(spec, cgroup, pid_namespace_path, new_pid_namespace, err_w, init)
        except BaseException:
            for fd in (err_r, err_w, ready_r, ready_w, hooks_r, hooks_w):
                if fd is not None:
                    os.close(fd)
            raise
    else:
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
        if pid == 0:
            init(cgroup)
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
        if pid > 0:
            os.waitpid(pid, 0)
        raise System(report[1] if report else "the container's init ended before it was ready")
    os.close(err_r)
    return pid


PR_GET_CHILD_SUBREAPER = 37


def _fork_in_user_namespace(spec, cgroup, pid_namespace_path, new_pid_namespace: bool, err_w: int, init) -> int:
    """The init of a bundle with a user namespace, made as runc's nsexec makes it: a first
    child, still the host's root, joins the cgroup, sets oom_score_adj, raises the hard
    rlimits (nobody can once in the user namespace), opens the exec fifo and joins the
    namespaces the bundle names by path; it then unshares the user namespace, whose
    uid_map and gid_map we write (root's: setgroups stays allowed), becomes root in it,
    unshares the pid namespace (owned by the new user namespace, so that the container may
    mount its proc) and the other new ones but the cgroup namespace (runc's stage-1), and
    forks the init (INIT(cgroup)), its PID 1, whose gid becomes 0 there.  The first child
    exits; this process, a subreaper meanwhile, adopts the init, so that it descends from
    the caller as any init does.  The init's pid, or -1 if it was not made (the first
    child's report on ERR_W)."""
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)  # first child -> us: b"u" (the maps, please), then the init's pid
    go_r, go_w = os.pipe2(os.O_CLOEXEC)  # us -> first child: b"m" (written)
    was = ctypes.c_int(0)
    libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        child = os.fork()
        if child == 0:
            try:
                os.close(sync_r)
                os.close(go_w)
                _before_user_namespace(spec, cgroup, pid_namespace_path)
                unshare(CLONE_NEWUSER)
                os.write(sync_w, b"u")
                if os.read(go_r, 1) != b"m":
                    os._exit(125)
                os.close(go_r)
                os.setresuid(0, 0, 0)  # (not the gid yet: runc's stage-1 makes the namespaces with the host's)
                unshare(_new_namespaces(spec) | (CLONE_NEWPID if new_pid_namespace and not pid_namespace_path
                                                 else 0))
                pid = os.fork()
                if pid == 0:
                    os.close(sync_w)
                    os.setresgid(0, 0, 0)
                    os.setgroups([])
                    init(CgroupFiles([]))  # (joined above)
                os.write(sync_w, pid.to_bytes(4, "little"))
                os._exit(0)
            except BaseException as e:  # noqa: BLE001
                try:
                    detail = str(e) if isinstance(e, OSError) else _one_line(e)
                    os.write(err_w, f"125 container init: {detail}".encode())
                finally:
                    os._exit(125)
        os.close(sync_w)
        sync_w = -1
        os.close(go_r)
        go_r = -1
        try:
            if os.read(sync_r, 1) != b"u":
                os.waitpid(child, 0)
                return -1
            try:
                for name, maps in (("uid_map", spec.uid_mappings), ("gid_map", spec.gid_mappings)):
                    with open(f"/proc/{child}/{name}", "wb", buffering=0) as f:  # (one write, as the kernel wants)
                        f.write("".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps).encode())
            except OSError as e:
                os.kill(child, 9)
                os.waitpid(child, 0)
                raise System(f"writing the user namespace's {name}: {e.strerror}") from None
            os.write(go_w, b"m")
            got = b""
            while len(got) < 4:
                more = os.read(sync_r, 4 - len(got))
                if not more:
                    break
                got += more
            os.waitpid(child, 0)  # (the init is ours once it has exited)
            return int.from_bytes(got, "little") if len(got) == 4 else -1
        finally:
            os.close(go_w)
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, was.value)
        for fd in (sync_r, sync_w, go_r):
            if fd >= 0:
                os.close(fd)


_HOST = {"network": "net", "ipc": "ipc", "uts": "uts"}


def _new_namespaces(spec) -> int:
    """The clone flags of the namespaces (but the cgroup one) the init gets new, unshared in
    the user namespace as runc's stage-1 does, before its gid is 0 there (so the new ipc
    namespace's mqueue is the host's root group's, as runc's); marked made in SPEC."""
    made = [k for k in ("mount", "uts", "ipc", "network")
            if k not in spec.namespaces_joined and _HOST.get(k) not in spec.host_namespaces]
    spec.namespaces_made = made
    flags = 0
    for k in made:
        flags |= OCI_NAMESPACES[k]
    return flags


def _before_user_namespace(spec, cgroup, pid_namespace_path) -> None:
    """What the first child of _fork_in_user_namespace does as the host's root (see there),
    and the imports the init may need (the interpreter's own files may be closed to the user
    namespace's root)."""
    from dunnage.core import net  # noqa: F401  (process._namespaces': the loopback)
    if needs_libseccomp(spec.process):
        preload_seccomp()
    cgroup.join_self()
    if spec.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(spec.oom_score_adj))
        spec.oom_score_adj = None
    import resource
    for u in spec.ulimits:  # the hard limits raised here, both set by the init (lowering needs no privilege)
        soft, hard = resource.getrlimit(rlimit(u["Name"]))
        if hard != resource.RLIM_INFINITY and (u["Hard"] == resource.RLIM_INFINITY or u["Hard"] > hard):
            resource.setrlimit(rlimit(u["Name"]), (min(soft, u["Hard"]) if soft != resource.RLIM_INFINITY
                                                   else u["Hard"], u["Hard"]))
    if spec.exec_fifo:  # the state directory is the host root's: opened now, reopened by its descriptor
        fd = os.open(spec.exec_fifo, os.O_PATH | os.O_CLOEXEC)
        spec.exec_fifo = f"/proc/self/fd/{fd}"
    if pid_namespace_path:
        fd = os.open(pid_namespace_path, os.O_RDONLY | os.O_CLOEXEC)
        setns(fd, CLONE_NEWPID)  # our children's: the init is forked into it
        os.close(fd)
    joined = set()
    if spec.netns_fd is not None:
        setns(spec.netns_fd, 0)
        joined.add("network")
    paths = sorted(spec.namespace_paths.items(), key=lambda kv: kv[0] == "mount")  # the mount namespace last
    for kind, path in paths:
        if kind in OCI_NAMESPACES:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            setns(fd, OCI_NAMESPACES[kind])
            os.close(fd)
            joined.add(kind)
    spec.namespaces_joined = joined
    spec.netns_fd = None


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
