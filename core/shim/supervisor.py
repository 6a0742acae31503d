"""The shim's main loop (see the package's docstring): it mounts the container's root,
makes its cgroup and network, starts its PID 1 (again, as its restart policy says),
supervises it to its end and tidies up after it."""
from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback

from .. import attach, events
from ..cgroups import open_cgroup
from ..containers import Container, load, proc_start_time
from ..images.store import now_iso
from ..logs import STDERR, LogWriter
from ..runtime.linux import (PR_SET_CHILD_SUBREAPER, is_mountpoint, lazy_unmount, one_malloc_arena, prctl,
                             set_process_name)
from ..runtime.spec import RuntimeSpec, limits_of, runtime_spec
from ..store import Store
from . import restart
from .fuse_thread import start_fuse, wait_fuse
from .pid1 import fork_pid1
from .pump import Pump, Streams


def shim_entry(store: Store, cid: str, ready_w: int) -> None:
    """The shim process, forked detached (by the fork server or the front); never returns."""
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
        self.fuse_thread = None  # serves the container's root (fuse_thread.start_fuse)
        self.fuse_done = -1  # ... and ends: EOF here
        self.cg = open_cgroup(cid)
        self.sandbox = None
        self.root_lost = False  # the FUSE server died under the container
        self.warm_stop = None  # ends warm_cgroup's thread
        self.fuse_groups: list[str] = []  # account_fuse: the files that move the FUSE thread back
        self.fuse_lock = threading.Lock()  # account_fuse against teardown
        self.tearing_down = False
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
            self.account_fuse()  # off the start's path, and right after a move
        threading.Thread(target=keep_warm, name="cgroup-warm", daemon=True).start()

    def account_fuse(self) -> None:
        """The root fs's work is the container's: its blkio and CPU (dunnage/fuse/account.py).
        A move into a cgroup can wait out an RCU grace period, so the start does not wait
        for this one: warm_cgroup's thread makes it once PID 1 is in its group."""
        from dunnage.fuse import account
        with self.fuse_lock:
            if self.tearing_down or self.fuse_thread is None or not self.fuse_thread.is_alive():
                return
            self.fuse_groups = account.join(self.fuse_thread.native_id, self.cg.version, self.cg.paths(),
                                            getattr(self.cg, "mounts", None))

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
        # a bridged container's network is made by a child of ours (core/net/sandbox.py),
        # meanwhile: forked first, while we are still one thread, and told to go on to
        # the container's endpoints once we are recorded (Sandbox.go)
        try:
            from ..net.sandbox import Sandbox
            self.sandbox = Sandbox.begin(self.store, c)
        except Exception as e:  # noqa: BLE001
            return self.fail(125, str(e))
        (self.store.run_dir(c.id) / "shim.pid").write_text(str(os.getpid()))
        # a front attaches before the command runs: for this start only
        self.attach_first = bool(c.state.get("AttachFirst"))
        c.save_state(ShimPid=os.getpid(), ShimStart=proc_start_time(os.getpid()), Error="", StopRequested=False,
                     RestartCount=0, AttachFirst=False)
        try:
            self.sandbox.go()
        except Exception as e:  # noqa: BLE001
            return self.fail(125, str(e))
        # the FUSE server starts (and imports) while we make the cgroup
        try:
            self.fuse_thread, ready, self.fuse_done = start_fuse(c)
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
        if self.warm_stop is None:  # no warm-up thread to make the FUSE thread's move
            self.account_fuse()
        net_error = None
        try:  # ports, namespace, veths, resolver: also while the FUSE server starts
            self.sandbox.finish()
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            net_error = str(e)
        try:
            wait_fuse(ready)
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
        from ..runtime.openat import message, open_in_root
        from ..volumes import VolumeError, Volumes
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
                    raise VolumeError(f"volume at {m['Target']}: {message(e)}", status=500) from None
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

    def start_and_supervise(self) -> int:
        c = self.c
        hc = c.config["HostConfig"]
        spec = runtime_spec(c.config, str(c.merged), str(c.dir),
                            self.sandbox.netns_fd if self.sandbox is not None else None)
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
            stop_asked = bool(c.reload().state.get("StopRequested"))
            policy = c.config["HostConfig"].get("RestartPolicy") or policy  # (docker update --restart: the latest)
            again = restart.should_restart(policy, code, restarts, stop_asked)
            if oom:
                events.emit(self.store, "container", "oom", c.id, {"name": c.name})
            events.emit(self.store, "container", "die", c.id, {"name": c.name, "exitCode": str(code)})
            if not again or self.root_lost:
                break
            backoff, delay = restart.backoff(backoff, time.monotonic() - t0)
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
            from ..images.store import ImageStore
            from ..lifecycle.discard import discard
            try:
                discard(self.store, ImageStore(self.store), c.reload())
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        return 0

    def run_once(self, spec: RuntimeSpec, listener, log: LogWriter, clients: list, first: bool):
        """Start the container's PID 1 once and supervise it to its end.
        Returns (exit code, oom killed), or ("failed", code, message) when the
        first start fails before the command runs."""
        c = self.c
        cfg = c.config
        tty = bool(cfg["Config"].get("Tty"))
        wait_attach = self.attach_first and first
        oom_before = self._oom_count()
        p = fork_pid1(spec, self.cg, self.own_pidns(), tty=tty, open_stdin=bool(cfg["Config"].get("OpenStdin")),
                      wait_attach=wait_attach, close_in_child=[listener, *clients])
        if p is None:
            return ("failed", 125, "could not create the container's first process") if first else (125, False)
        master = p.receive_master() if tty else None
        # a bridged network's settings with the first start's (one write; `network connect` adds to them later)
        sb = self.sandbox
        net = {"NetworkSettings": sb.settings} if first and sb is not None and sb.settings else {}
        c.save_state(Status="running", Pid=p.pid, PidStart=proc_start_time(p.pid), StartedAt=now_iso(),
                     FinishedAt="", ExitCode=0, OOMKilled=False, Error="", **net)
        if wait_attach:
            # the front attaches before the command runs, so it misses nothing
            self.say("listening")
            sel = selectors.DefaultSelector()
            sel.register(listener, selectors.EVENT_READ)
            sel.register(p.err_r, selectors.EVENT_READ)
            ready = [k.fileobj for k, _ in sel.select(timeout=60)]
            sel.close()
            if listener in ready:
                cl = self.accept(listener)
                if cl is not None:
                    clients.append(cl)
            os.write(p.go_w, b"g")
            os.close(p.go_w)
        from ..runtime.process import read_report
        report = read_report(p.err_r, 125)
        if report:
            code, msg = report
            self._reap(p.pid)
            for fd in (p.out_r, p.eo_r, p.in_w, master):
                if fd is not None:
                    os.close(fd)
            if first:
                return ("failed", code, msg)
            log.write(STDERR, (msg + "\n").encode())
            return code, False
        if first:
            events.emit(self.store, "container", "start", c.id, {"name": c.name})
            self.report("ok")
            if self.sandbox is not None:
                self.sandbox.settle()  # (its set-up child's end, likewise)
            from ..runtime.linux import trim_memory
            trim_memory()  # once the container runs: not on the start's path
        from ..health import HealthChecker, effective
        check = effective(cfg["Config"].get("Healthcheck"))
        health = HealthChecker(self.store, c, check, self.cg) if check else None
        try:
            clients[:] = Pump(log, Streams(p.out_r, p.eo_r, master, p.in_w), listener, self.accept, clients,
                              fuse_done=self.fuse_done, on_fuse_died=self.fuse_died,
                              resolver=self.sandbox.resolver if self.sandbox is not None else None,
                              health=health).run()
        finally:
            if health is not None:
                health.close()
        status = self._reap(p.pid)
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
        with self.fuse_lock:
            self.tearing_down = True  # account_fuse moves the FUSE thread no more
        try:
            if self.cg.exists():
                # with --pid host, the command's children outlive it: the container ends
                # with them (first: they would keep the mount, and so its server, busy)
                self.cg.kill_all()
        except OSError:
            traceback.print_exc()
        if is_mountpoint(str(c.merged)):
            lazy_unmount(str(c.merged))
        if self.fuse_thread is not None:
            # the FUSE thread leaves its loop once the mount is gone (a mount still in
            # use elsewhere, a `cp` from it say, ends with this process); a thread that
            # ended holds no group, so only one still there is moved back out of them
            # (a move can wait out a grace period: not on every container's way out)
            self.fuse_thread.join(5)
            if self.fuse_groups and self.fuse_thread.is_alive():
                from dunnage.fuse import account
                account.leave(self.fuse_thread.native_id, self.fuse_groups)
            self.fuse_groups = []
            self.fuse_thread = None
            os.close(self.fuse_done)
            self.fuse_done = -1
        try:
            if self.cg.exists():
                self.cg.destroy()
        except OSError:
            traceback.print_exc()
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def cleanup_rundir(self) -> None:
        import shutil
        shutil.rmtree(self.store.run_dir(self.c.id), ignore_errors=True)
