"""The shim: one process per running container, outliving the front that started it.

It is forked from the root's fork server (core/forkserver.py), or else from the
front (already-imported modules either way, no new interpreter), detaches, and then:
  - starts the FUSE server for the container root, a thread of its own, and waits
    until it is mounted (see start_fuse),
  - creates the container's cgroup with its limits,
  - forks the container's PID 1 in new namespaces (runtime.process),
  - reports "ok" or "<code> <message>" on the front's ready pipe,
  - pumps stdout/stderr into the log, reaps the exit status, notes OOM kills,
  - unmounts, removes the cgroup and writes the final state.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time
import traceback

from . import attach, events
from .cgroups import Limits, open_cgroup
from .cgroups.common import DEFAULT_DEVICES
from .containers import Container, load, proc_start_time
from .logs import STDERR, STDOUT, LogWriter
from .runtime.linux import (CLONE_NEWPID, PR_SET_CHILD_SUBREAPER, is_mountpoint, lazy_unmount, one_malloc_arena,
                            prctl, set_process_name, setns, unshare)
from .runtime.capabilities import effective_set
from .runtime.seccomp import for_spec as seccomp_for_spec
from .store import Store
from .images.store import now_iso


# --init: tini, as docker's docker-init, bound into the container
INIT_BINARY = "/usr/bin/tini-static"
INIT_PATH = "/sbin/docker-init"


def limits_of(hc: dict) -> Limits:
    nano = hc.get("NanoCpus") or 0
    return Limits(
        memory=hc.get("Memory") or None,
        memory_swap=hc.get("MemorySwap") or None,
        cpu_quota=(nano * 100_000 // 1_000_000_000) if nano else None,
        cpu_shares=hc.get("CpuShares") or None,
        cpuset_cpus=hc.get("CpusetCpus") or None,
        pids=hc.get("PidsLimit") or None,
        blkio_weight=hc.get("BlkioWeight") or None,
        device_read_bps=[(d["Major"], d["Minor"], d["Rate"]) for d in hc.get("BlkioDeviceReadBps") or []] or None,
        device_write_bps=[(d["Major"], d["Minor"], d["Rate"]) for d in hc.get("BlkioDeviceWriteBps") or []] or None,
        devices=None if hc.get("Privileged") else list(DEFAULT_DEVICES),
    )


def spawn(store: Store, cid: str, on_listening=None) -> tuple[int, str]:
    """Fork a detached shim for container CID; wait until its command runs.

    Returns (0, "") once the container runs, or (exit code, message).  For a
    container that waits for an attach, ON_LISTENING() is called once the shim
    listens (it should connect), before the command runs."""
    r, w = os.pipe2(os.O_CLOEXEC)
    from .forkserver import fork_detached, spawn_shim
    if not spawn_shim(store, cid, w):  # forked by the root's fork server, or else here
        fork_detached(lambda: _shim_entry(store, cid, w), close=(r,))
    os.close(w)
    buf = b""
    rest: list[bytes] = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        buf += b
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line == b"listening" and on_listening is not None:
                on_listening()
            elif line:
                rest.append(line)
    os.close(r)
    buf = b" ".join(rest + [buf])
    msg = buf.decode(errors="replace").strip()
    if msg == "ok":
        return 0, ""
    if not msg:
        return 125, "shim exited before starting the container"
    code, _, text = msg.partition(" ")
    try:
        return int(code), text
    except ValueError:
        return 125, msg


def _shim_entry(store: Store, cid: str, ready_w: int) -> None:
    code = 1
    try:
        rundir = store.run_dir(cid)
        rundir.mkdir(mode=0o700, parents=True, exist_ok=True)  # ours alone: the attach socket is there
        logfd = os.open(rundir / "shim.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        nul = os.open("/dev/null", os.O_RDWR)
        os.dup2(nul, 0)
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        os.close(nul)
        os.close(logfd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        set_process_name("dunnage-shim")
        one_malloc_arena()  # before the FUSE thread starts
        # what the fork server (or the front) imported is never collected here: the
        # collector leaves those pages alone, so they stay shared with the other shims
        import gc
        gc.freeze()
        code = Shim(store, cid, ready_w).run()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        os._exit(code)


class Shim:
    def __init__(self, store: Store, cid: str, ready_w: int):
        self.store = store
        self.c: Container = load(store, cid)
        self.ready_w = ready_w
        self.fuse_thread = None  # serves the container's root (start_fuse)
        self.fuse_done = -1  # ... and ends: EOF here
        self.cg = open_cgroup(cid)
        self.sandbox = None
        self.root_lost = False  # the FUSE server died under the container
        self.warm_stop = None  # ends warm_cgroup's thread
        self._own_pidns = -1  # own_pidns()

    def warm_cgroup(self) -> None:
        """Until PID 1 has joined its group, keep the kernel from waiting a
        grace period at that join: a move (here a move of ours that changes nothing,
        Cgroup.prepare_join) waits one out only if none passed during or just after the
        last move, so one now and then, every few ms, keeps it passed."""
        import threading
        stop = self.warm_stop = threading.Event()

        def keep_warm() -> None:
            end = time.monotonic() + 5  # a start that takes longer waits once more at most
            # until PID 1 is in the group (then no more GIL handovers with the FUSE thread)
            while not stop.is_set() and time.monotonic() < end and not self.cg.procs():
                self.cg.prepare_join()
                stop.wait(0.003)
        threading.Thread(target=keep_warm, name="cgroup-warm", daemon=True).start()

    def own_pidns(self) -> int:
        """A descriptor of our own pid namespace (kept: run_once returns to it)."""
        if self._own_pidns < 0:
            self._own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        return self._own_pidns

    def report(self, msg: str) -> None:
        if self.warm_stop is not None:
            self.warm_stop.set()
        if self.ready_w >= 0:
            try:
                os.write(self.ready_w, msg.encode())
            finally:
                os.close(self.ready_w)
                self.ready_w = -1

    def run(self) -> int:
        c = self.c
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        (self.store.run_dir(c.id) / "shim.pid").write_text(str(os.getpid()))
        # a front attaches before the command runs: for this start only
        self.attach_first = bool(c.state.get("AttachFirst"))
        c.save_state(ShimPid=os.getpid(), ShimStart=proc_start_time(os.getpid()), Error="", StopRequested=False,
                     RestartCount=0, AttachFirst=False)
        # the FUSE server starts (and imports) while we make the cgroup
        try:
            ready = self.start_fuse()
        except Exception as e:  # noqa: BLE001
            return self.fail(125, f"mounting the container root: {e}")
        try:
            # once the group's directories are there, the kernel's wait before a move into a
            # cgroup passes while we prepare the rest (not before: the waiting move holds the
            # cgroup mutex, which making a group needs; writing its limits does not)
            self.cg.create(limits_of(c.config["HostConfig"]), on_made=self.warm_cgroup)
        except Exception as e:  # noqa: BLE001
            os.close(ready)
            return self.fail(125, f"cgroup: {e}")
        # the root fs's work is the container's: its blkio and CPU (dunnage/fuse/account.py)
        from dunnage.fuse import account
        self.fuse_groups = account.join(self.fuse_thread.native_id, self.cg.version, self.cg.paths(),
                                        getattr(self.cg, "mounts", None))
        net_error = None
        try:  # ports, namespace, veths, resolver: also while the FUSE server starts
            from .net.sandbox import Sandbox
            self.sandbox = Sandbox.setup(self.store, c)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            net_error = str(e)
        try:
            self.wait_fuse(ready)
        except Exception as e:  # noqa: BLE001
            return self.fail(125, f"mounting the container root: {e}")
        if net_error is not None:
            return self.fail(125, net_error)
        try:
            self.fill_volumes()
        except Exception as e:  # noqa: BLE001
            return self.fail(125, str(e))
        return self.start_and_supervise()

    def fill_volumes(self) -> None:
        """A volume used for the first time while empty gets the image's content at its mount point."""
        mounts = [m for m in self.c.config["HostConfig"].get("Mounts") or []
                  if m["Type"] == "volume" and not m.get("NoCopy")]
        if not mounts:
            return
        from .runtime.openat import message, open_in_root
        from .volumes import VolumeError, Volumes
        vols = Volumes(self.store)
        # the image's path, resolved inside the root by descriptor: its links never lead out
        rootfd = os.open(str(self.c.merged), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for m in mounts:
                try:
                    fd = open_in_root(rootfd, m["Target"], os.O_RDONLY | os.O_DIRECTORY)
                except (FileNotFoundError, NotADirectoryError):
                    fd = None  # nothing to fill it with
                except OSError as e:
                    raise VolumeError(f"volume at {m['Target']}: {message(e)}") from None
                try:
                    vols.populate(m["Name"], fd)
                finally:
                    if fd is not None:
                        os.close(fd)
        finally:
            os.close(rootfd)

    def fail(self, code: int, msg: str) -> int:
        self.teardown()
        self.c.save_state(Status="exited" if self.c.state.get("StartedAt") else "created",
                          ExitCode=code, Error=msg, Pid=0, ShimPid=0, FinishedAt=now_iso())
        self.report(f"{code} {msg}")
        self.cleanup_rundir()
        return 0

    def start_fuse(self) -> int:
        """Serve the container root's union filesystem from a thread of this process
        (named dunnage-fuse); returns the pipe that says when it is mounted.  One
        process per container, not two: each Python process has a few MiB of its
        own however little it does.  The shim's own work never waits for its mount
        while holding the interpreter (every call that may touch the mount is a
        system call, which lets the FUSE thread run)."""
        import threading
        c = self.c
        r, w = os.pipe2(os.O_CLOEXEC)
        done_r, done_w = os.pipe2(os.O_CLOEXEC)
        told = []

        def ready() -> None:
            os.write(w, b"1")
            os.close(w)
            told.append(True)

        def serve_root() -> None:
            try:
                set_process_name("dunnage-fuse")  # this thread's name
                from dunnage.fuse.mount import serve
                serve(c.config["Lowers"], str(c.upper), str(c.merged), fsname=f"dunnage-{c.id[:12]}", on_ready=ready)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                if not told:
                    os.close(w)  # the shim sees EOF: it did not come up
                os.close(done_w)  # EOF on done_r: the root's server has ended
        self.fuse_done = done_r
        self.fuse_thread = threading.Thread(target=serve_root, name="dunnage-fuse", daemon=True)
        self.fuse_thread.start()
        return r

    def wait_fuse(self, r: int) -> None:
        sel = selectors.DefaultSelector()
        sel.register(r, selectors.EVENT_READ)
        ok = sel.select(timeout=20) and os.read(r, 1) == b"1"
        sel.close()
        os.close(r)
        if not ok:
            raise RuntimeError("the FUSE server did not come up (see shim.log)")

    def start_and_supervise(self) -> int:
        c = self.c
        cfg = c.config
        hc = cfg["HostConfig"]
        spec = {
            "rootfs": str(c.merged),
            "hostname": cfg["Config"]["Hostname"],
            "argv": ([INIT_PATH, "--"] if hc.get("Init") else []) + cfg["Argv"],
            "env": dict(e.split("=", 1) if "=" in e else (e, "") for e in cfg["Config"]["Env"]),
            "cwd": cfg["Config"].get("WorkingDir") or "/",
            "binds": [(str(c.dir / "hostname"), "/etc/hostname"), (str(c.dir / "hosts"), "/etc/hosts"),
                      (str(c.dir / "resolv.conf"), "/etc/resolv.conf")]
            + ([(INIT_BINARY, INIT_PATH)] if hc.get("Init") else []),
            "netns_fd": self.sandbox.netns_fd if self.sandbox is not None else None,
            "mounts": hc.get("Mounts") or [],
            "privileged": bool(hc.get("Privileged")),
            "caps": effective_set(hc.get("CapAdd") or [], hc.get("CapDrop") or [], bool(hc.get("Privileged"))),
            "no_new_privileges": any(o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
                                     for o in hc.get("SecurityOpt") or []),
            "seccomp": seccomp_for_spec(cfg.get("Seccomp")),
            "user": cfg["Config"].get("User") or "",
            "read_only": bool(hc.get("ReadonlyRootfs")),
            "ulimits": hc.get("Ulimits") or [],
            "group_add": hc.get("GroupAdd") or [],
            "host_namespaces": [n for n, k in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode"),
                                               ("net", "NetworkMode")) if hc.get(k) == "host"],
        }
        try:
            listener = self.listen()
        except OSError as e:
            return self.fail(125, f"attach socket: {e}")
        lo = hc.get("LogConfig") or {}
        log = LogWriter(str(c.log_path), int(lo.get("MaxSize") or 0), int(lo.get("MaxFile") or 1))
        clients: list = []
        policy = hc.get("RestartPolicy") or {"Name": "no"}
        restarts = 0
        backoff = 0
        first = True
        while True:
            t0 = time.monotonic()
            result = self.run_once(spec, listener, log, clients, first)
            if first and isinstance(result, tuple) and result[0] == "failed":
                log.close()
                listener.close()
                for cl in clients:
                    cl.close()
                return self.fail(result[1], result[2])
            first = False
            code, oom = result
            state = c.reload().state
            again = (not state.get("StopRequested") and (
                policy.get("Name") in ("always", "unless-stopped")
                or (policy.get("Name") == "on-failure" and code != 0
                    and (not policy.get("MaximumRetryCount") or restarts < policy["MaximumRetryCount"]))))
            if oom:
                events.emit(self.store, "container", "oom", c.id, {"name": c.name})
            events.emit(self.store, "container", "die", c.id, {"name": c.name, "exitCode": str(code)})
            if not again or self.root_lost:
                break
            # restart policy: docker's back-off, 100 ms doubling, reset after 10 s of running
            backoff = 0 if time.monotonic() - t0 > 10 else backoff + 1
            delay = min(0.1 * (2 ** max(backoff - 1, 0)), 60.0) if backoff else 0.1
            restarts += 1
            c.save_state(Status="restarting", Pid=0, ExitCode=code, OOMKilled=oom, FinishedAt=now_iso(),
                         RestartCount=restarts)
            end = time.monotonic() + delay
            while time.monotonic() < end:
                if c.reload().state.get("StopRequested"):
                    break
                time.sleep(0.02)
            if c.state.get("StopRequested"):
                break
            events.emit(self.store, "container", "restart", c.id, {"name": c.name})
        log.close()
        self.teardown()
        c.save_state(Status="exited", ExitCode=code, OOMKilled=oom, Pid=0, ShimPid=0, FinishedAt=now_iso(),
                     NetworkSettings=None,
                     **({"Error": "the container's root filesystem server (dunnage-fuse) died"}
                        if self.root_lost else {}))
        for cl in clients:
            try:
                cl.sendall(attach.frame(attach.EXIT, str(code).encode()))
                cl.close()
            except OSError:
                pass
        listener.close()
        self.cleanup_rundir()
        # --rm: the shim removes what nobody follows through the log (detached,
        # or attached runs, whose front learns the exit code from the EXIT frame)
        if c.config["HostConfig"].get("AutoRemove") and (c.config.get("Detached") or c.config.get("WaitAttach")):
            from .engine import Engine
            try:
                Engine(self.store).remove(c.id, force=True)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        return 0

    def run_once(self, spec: dict, listener, log: LogWriter, clients: list, first: bool):
        """Start the container's PID 1 once and supervise it to its end.
        Returns (exit code, oom killed), or ("failed", code, message) when the
        first start fails before the command runs."""
        c = self.c
        cfg = c.config
        tty = bool(cfg["Config"].get("Tty"))
        open_stdin = bool(cfg["Config"].get("OpenStdin"))
        wait_attach = self.attach_first and first
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
        oom_before = self._oom_count()
        # PID 1 of a new pid namespace: forked right after this thread unshares one
        # for its children, which it then takes back (setns), so nothing else we fork or
        # start lands there (a thread cannot be made meanwhile, and only this thread's
        # children are affected).  A pid namespace cannot be entered again once its init
        # died, so each run gets a new one.
        new_pidns = "pid" not in (spec.get("host_namespaces") or ())
        pid = -1
        try:
            if new_pidns:
                unshare(CLONE_NEWPID)
            try:
                pid = os.fork()
            finally:
                if new_pidns and pid != 0:
                    setns(self.own_pidns(), CLONE_NEWPID)
        except OSError:
            traceback.print_exc()
        if pid == 0:
            try:
                from .runtime.process import container_init
                for fd in (err_r, out_r, eo_r, in_w, go_w):
                    if fd is not None:
                        os.close(fd)
                if pty_parent is not None:
                    pty_parent.close()
                listener.close()
                for cl in clients:
                    cl.close()
                container_init(spec, self.cg, err_w, out_w, eo_w, stdin_fd=in_r, pty_sock=pty_child, go_fd=go_r)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            os._exit(125)
        for fd in (err_w, out_w, eo_w, in_r, go_r):
            if fd is not None:
                os.close(fd)
        if pid < 0:
            for fd in (err_r, out_r, eo_r, in_w, go_w):
                if fd is not None:
                    os.close(fd)
            return ("failed", 125, "could not create the container's first process") if first else (125, False)
        master = None
        if tty:
            pty_child.close()
            try:
                _, fds, _, _ = socket.recv_fds(pty_parent, 16, 1)
                master = fds[0] if fds else None
            except OSError:
                master = None
            pty_parent.close()
        c.save_state(Status="running", Pid=pid, PidStart=proc_start_time(pid), StartedAt=now_iso(),
                     FinishedAt="", ExitCode=0, OOMKilled=False, Error="")
        if wait_attach:
            # the front attaches before the command runs, so it misses nothing
            self.say("listening")
            sel = selectors.DefaultSelector()
            sel.register(listener, selectors.EVENT_READ)
            sel.register(err_r, selectors.EVENT_READ)
            ready = [k.fileobj for k, _ in sel.select(timeout=60)]
            sel.close()
            if listener in ready:
                cl = self.accept(listener)
                if cl is not None:
                    clients.append(cl)
            os.write(go_w, b"g")
            os.close(go_w)
        from .runtime.process import read_report
        report = read_report(err_r, 125)
        if report:
            code, msg = report
            self._reap(pid)
            for fd in (out_r, eo_r, in_w, master):
                if fd is not None:
                    os.close(fd)
            if first:
                return ("failed", code, msg)
            log.write(STDERR, (msg + "\n").encode())
            return code, False
        if first:
            events.emit(self.store, "container", "start", c.id, {"name": c.name})
            self.report("ok")
            from .runtime.linux import trim_memory
            trim_memory()  # once the container runs: not on the start's path
        from .health import HealthChecker, effective
        check = effective(cfg["Config"].get("Healthcheck"))
        health = HealthChecker(self.store, c, check) if check else None
        try:
            clients[:] = self._pump(log, out_r, eo_r, master, in_w, listener, clients, health)
        finally:
            if health is not None:
                health.close()
        status = self._reap(pid)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        return code, self._oom_count() > oom_before

    def _oom_count(self) -> int:
        try:
            return self.cg.stats().oom_kills
        except Exception:  # noqa: BLE001
            return 0

    def listen(self) -> socket.socket:
        return attach.listen(self.store, self.c.id)

    @staticmethod
    def accept(listener: socket.socket):
        """A client, if it runs as our user (besides the socket's directory, ours and 0700)."""
        cl, _ = listener.accept()
        if attach.peer_uid(cl) != os.geteuid():
            cl.close()
            return None
        return cl

    def say(self, line: str) -> None:
        """A line on the front's ready pipe before the final ok/error."""
        if self.ready_w >= 0:
            os.write(self.ready_w, (line + "\n").encode())

    def _pump(self, log: LogWriter, out_r, err_r, master, in_w, listener, existing: list, health=None) -> list:
        """Copy the container's output to the log and to attached clients, and
        clients' input to the container, until its output ends."""
        import fcntl
        import struct
        import termios
        sel = selectors.DefaultSelector()
        sources = 0
        if master is not None:
            sel.register(master, selectors.EVENT_READ, ("out", STDOUT))
            sources = 1
        if out_r is not None:
            sel.register(out_r, selectors.EVENT_READ, ("out", STDOUT))
            sel.register(err_r, selectors.EVENT_READ, ("out", STDERR))
            sources = 2
        sel.register(listener, selectors.EVENT_READ, ("listen", None))
        # the FUSE server's end: the container's root is gone, the container fails
        fuse_fd = None
        if self.fuse_done >= 0:
            fuse_fd = self.fuse_done
            sel.register(fuse_fd, selectors.EVENT_READ, ("fuse", None))
        resolver = self.sandbox.resolver if self.sandbox is not None else None
        if resolver is not None:
            sel.register(resolver.sock, selectors.EVENT_READ, ("dns", "query"))
            sel.register(resolver.out, selectors.EVENT_READ, ("dns", "upstream"))
        clients: dict = {}

        def add_client(cl):
            clients[cl] = attach.Reader()
            sel.register(cl, selectors.EVENT_READ, ("client", None))

        def drop_client(cl):
            sel.unregister(cl)
            clients.pop(cl, None)
            cl.close()

        for cl in existing:
            add_client(cl)
        stdin_open = in_w is not None
        hfd = None
        while sources:
            events_ = sel.select(timeout=health.timeout() if health is not None else None)
            if health is not None and not events_ and health.timeout() == 0:
                if hfd is not None:  # the running check took too long
                    sel.unregister(hfd)
                    hfd = None
                health.tick()
                if health.fileno() is not None:
                    hfd = health.fileno()
                    sel.register(hfd, selectors.EVENT_READ, ("health", None))
                continue
            for key, _ in events_:
                kind, stream = key.data
                if kind == "fuse":
                    sel.unregister(fuse_fd)
                    self.fuse_died()
                    continue
                if kind == "dns":
                    resolver.on_query() if stream == "query" else resolver.on_upstream()
                    continue
                if kind == "health":
                    if health.readable():
                        sel.unregister(hfd)
                        hfd = None
                        health.finish()
                    continue
                if kind == "out":
                    try:
                        data = os.read(key.fd, 65536)
                    except OSError:  # EIO: the terminal's last user is gone
                        data = b""
                    if not data:
                        sel.unregister(key.fd)
                        os.close(key.fd)
                        sources -= 1
                        continue
                    log.write(stream, data)
                    f = attach.frame(attach.STDOUT if stream == STDOUT else attach.STDERR, data)
                    for cl in list(clients):
                        try:
                            cl.sendall(f)
                        except OSError:
                            drop_client(cl)
                elif kind == "listen":
                    cl = self.accept(listener)
                    if cl is not None:
                        add_client(cl)
                else:
                    cl = key.fileobj
                    try:
                        data = cl.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        drop_client(cl)
                        continue
                    for ftype, payload in clients[cl].feed(data):
                        try:
                            if ftype == attach.STDIN:
                                if master is not None:
                                    os.write(master, payload)
                                elif stdin_open:
                                    os.write(in_w, payload)
                            elif ftype == attach.STDIN_EOF:
                                if master is not None:
                                    os.write(master, b"\x04")
                                elif stdin_open:
                                    os.close(in_w)
                                    stdin_open = False
                            elif ftype == attach.RESIZE and master is not None:
                                rows, cols = struct.unpack(">HH", payload[:4])
                                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                        except OSError:
                            pass
        if stdin_open:
            os.close(in_w)
        if hfd is not None:
            sel.unregister(hfd)
        for cl in clients:
            sel.unregister(cl)
        sel.close()
        return list(clients)

    def fuse_died(self) -> None:
        """The FUSE server is gone: programs see ENOTCONN on their root.  End the
        container (no restart: its root is gone) and say why."""
        self.root_lost = True
        print("the FUSE server died: killing the container", file=sys.stderr)
        try:
            self.cg.kill_all()
        except OSError:
            pass

    def _reap(self, pid: int) -> int:
        """Wait for PID; reap anything else reparented to us meanwhile."""
        while True:
            try:
                wpid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 0
            if wpid == pid:
                return status

    def teardown(self) -> None:
        c = self.c
        if getattr(self, "fuse_groups", None):  # out of the groups before they go
            from dunnage.fuse import account
            account.leave(self.fuse_thread.native_id, self.fuse_groups)
            self.fuse_groups = []
        try:
            if self.cg.exists():
                # with --pid host, the command's children outlive it: the container ends
                # with them (first: they would keep the mount, and so its server, busy)
                self.cg.kill_all()
                self.cg.destroy()
        except OSError:
            traceback.print_exc()
        if is_mountpoint(str(c.merged)):
            lazy_unmount(str(c.merged))
        if self.fuse_thread is not None:
            # the FUSE thread leaves its loop once the mount is gone (a mount still in
            # use elsewhere, a `cp` from it say, ends with this process)
            self.fuse_thread.join(5)
            self.fuse_thread = None
            os.close(self.fuse_done)
            self.fuse_done = -1
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def cleanup_rundir(self) -> None:
        import shutil
        shutil.rmtree(self.store.run_dir(self.c.id), ignore_errors=True)
