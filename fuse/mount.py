"""Serving a UnionFS on a mount point, and taking it down again."""
from __future__ import annotations

import os
import select
import signal
import time
import types

import pyfuse3

from .union import PASSTHROUGH, WRITEBACK, UnionFS

# pyfuse3 as scripts/pyfuse3.patch builds it (revision 2 on): it imports no trio (0.16 s
# here) and no importlib.metadata (14 ms of every container start) until main() runs
# without a `pyfuse3.trio` set, so the worker below can drive it.  Any other pyfuse3 (an
# unpatched one, or a release the patch no longer fits) runs on trio, as pyfuse3
# documents: slower to start, the same filesystem.
PATCHED = getattr(pyfuse3, "DUNNAGE_PATCH", 0) >= 2


class _Nothing:
    async def __aenter__(self) -> None:
        pass

    async def __aexit__(self, *exc) -> None:
        pass


class _Nursery:
    """Tasks started in it run one after the other when it closes (pyfuse3 starts
    its worker there, and more only when told it may have more than one)."""

    async def __aenter__(self) -> "_Nursery":
        self.todo: list = []
        return self

    async def __aexit__(self, *exc) -> None:
        while self.todo:
            fn, args = self.todo.pop(0)
            await fn(*args)

    def start_soon(self, fn, *args, name=None) -> None:
        self.todo.append((fn, args))


class _Worker(types.ModuleType):
    """What pyfuse3 asks of trio (or of its asyncio layer), for one worker that
    never waits for anything but the next request.

    Our handlers never await anything (every call in them is a plain syscall),
    so no event loop is needed: pyfuse3's coroutines are driven to their end in
    one go (`run`), its lock and nursery do nothing a single worker needs, and
    waiting for the next request is a poll(2) on /dev/fuse and on a pipe that
    SIGTERM/SIGINT write to; a signal stops pyfuse3 there, between requests.
    Neither trio nor asyncio is imported (asyncio alone was 13 ms of every
    container start and some of the server's memory), and a request costs no
    future, epoll_ctl or loop turn.  Callbacks a handler wants run after its
    reply went out (`soon`) run before the next wait."""

    class ClosedResourceError(Exception):
        pass

    def __init__(self) -> None:
        super().__init__("dunnage-fuse-worker")
        self.lowlevel = self.from_thread = self
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.stopping = False
        self.poller = None  # /dev/fuse and the signal pipe, made at the first wait
        self.pending: list = []
        self.name = "worker"  # pyfuse3 reads current_task().name

    # what pyfuse3 calls
    def current_trio_token(self) -> str:
        return "dunnage"

    def current_task(self) -> "_Worker":
        return self  # it reads .name

    def Lock(self) -> "_Nothing":  # noqa: N802 - trio's name
        return _Nothing()  # one worker: nobody to exclude

    def open_nursery(self) -> "_Nursery":
        return _Nursery()

    def notify_closing(self, fd) -> None:
        self.stopping = True

    async def wait_readable(self, fd) -> None:
        while self.pending:
            self.pending.pop(0)()
        p = self.poller
        if p is None:
            p = self.poller = select.poll()
            p.register(fd, select.POLLIN)
            p.register(self.r, select.POLLIN)
        if not self.stopping and not p.poll(0):
            self._sleep(p)
        if self.stopping:
            pyfuse3.terminate()
            raise self.ClosedResourceError()

    # A program that walks a tree sends its next request some tens of
    # microseconds after our answer.  Asleep in poll(2), the worker needs as long
    # again to be woken (on this VM: a warm find+tar of minbase took 1.65 s that
    # way, and 0.93 s polling for up to SPIN first; python3 started through the
    # mount 17 -> 15 ms).  So it polls for a while before it sleeps, but only
    # after a run of requests that came that fast: one that came later stops
    # it until the next run, so an idle or slow-paced mount costs no CPU (a
    # program that opens and closes a file every millisecond: 9 % of a core, 8
    # without spinning; spinning after every fast answer had made it 17 %).
    # What it costs: requests 100-200 us apart keep it spinning in vain (a file
    # opened every 150 us: 72 % of a core against 34 %).
    SPIN = 100e-6
    FAST = 200e-6
    RUN = 2
    fast = 0  # how many requests in a row came within FAST
    on_idle = None  # called before the worker sleeps

    def _sleep(self, p) -> None:
        clock, yield_cpu = time.perf_counter, os.sched_yield
        start = clock()
        if self.fast >= self.RUN:
            end = start + self.SPIN
            while clock() < end:
                if p.poll(0):
                    self.fast += 1
                    return
                yield_cpu()
        if self.on_idle is not None:
            self.on_idle()
        p.poll()
        self.fast = self.fast + 1 if clock() - start < self.FAST else 0

    # what serve calls
    def soon(self, fn) -> None:
        self.pending.append(fn)

    def stop(self, *_) -> None:
        """A signal handler: wakes the worker, which stops pyfuse3 between requests."""
        self.stopping = True
        try:
            os.write(self.w, b"x")
        except OSError:
            pass

    def run(self, coro) -> None:
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise RuntimeError("pyfuse3 waited for something this worker does not serve")


def mount_options(fsname: str) -> set[str]:
    # dev and suid: a container root needs its device nodes and setuid binaries
    return {f"fsname={fsname}", "subtype=dunnage", "default_permissions", "allow_other", "dev", "suid"}


# The kernel reads ahead 128 KiB on a FUSE mount by default, so a sequential read
# is one request (and one trip through Python) per 128 KiB; with a larger window
# the requests grow to the 1 MiB libfuse allows, and reading 1 GiB cold through
# the mount takes about half the time (bench/run.py --only fs).  It can only be
# widened once the kernel has the server's answer to FUSE_INIT, which narrows it.
READAHEAD_KIB = 2048


def serve(lowers: list[str], upper: str, mountpoint: str, fsname: str = "dunnage",
          on_ready=None, ops: UnionFS | None = None, on_trio: bool = False,
          writeback: bool = WRITEBACK, passthrough: bool = PASSTHROUGH, no_open: bool = False) -> None:
    """Mount and serve until unmounted (or, run in the main thread, SIGTERM/SIGINT).
    Blocks.  ON_READY() is called once the mount is live and the kernel has its
    answer to FUSE_INIT.  OPS, if given, is the UnionFS to serve (over the same
    layers), for a caller that wants to look at it (its stats) while it serves.
    ON_TRIO serves as an unpatched pyfuse3 is served (what a test of that path asks).
    WRITEBACK: the kernel's writeback cache (see union.WRITEBACK), for a new OPS;
    PASSTHROUGH: FUSE passthrough where the kernel has it (union.PASSTHROUGH; with it
    settled, the writeback cache is off); NO_OPEN: the kernel opens files without asking
    (union.NO_OPEN; no passthrough then)."""
    from dunnage.core.runtime.linux import mount_device, set_readahead, trim_memory
    if ops is None:
        ops = UnionFS(lowers, upper, writeback=writeback, passthrough=passthrough, no_open=no_open)
    real = os.path.realpath(mountpoint)  # before the mount: resolving it after would ask us

    def initialised() -> None:
        dev = mount_device(real)
        if dev:
            set_readahead(dev, READAHEAD_KIB)
        if on_ready is not None:
            on_ready()
    ops.after_init = initialised
    pyfuse3.init(ops, mountpoint, mount_options(fsname))
    trim_memory()

    import threading
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        if PATCHED and not on_trio:
            worker = _Worker()
            pyfuse3.trio = worker
            ops.soon = worker.soon
            worker.on_idle = ops.idle
            if main_thread:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, worker.stop)
            worker.run(pyfuse3.main(min_tasks=1, max_tasks=1))
        else:
            _serve_on_trio(ops, main_thread)
    finally:
        try:
            pyfuse3.close(unmount=True)
        except Exception:
            pass


def _serve_on_trio(ops: UnionFS, main_thread: bool) -> None:
    """pyfuse3's own way: its main loop on trio, one task at a time as the worker's."""
    import trio
    pyfuse3.trio = trio
    token = []

    def soon(fn) -> None:  # after the reply: the task yields at its next wait
        token[0].run_sync_soon(fn)
    ops.soon = soon

    async def run() -> None:
        token.append(trio.lowlevel.current_trio_token())
        await pyfuse3.main(min_tasks=1, max_tasks=1)
    if main_thread:
        def stop(*_) -> None:
            token[0].run_sync_soon(pyfuse3.terminate)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
    trio.run(run)


def wait_mounted(mountpoint: str, timeout: float = 10.0) -> bool:
    from dunnage.core.runtime.linux import is_mountpoint
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if is_mountpoint(mountpoint):
            return True
        time.sleep(0.01)
    return False
