"""Serving a UnionFS on a mount point, and taking it down again."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import sys
import types

if "trio" not in sys.modules:
    # pyfuse3 imports trio at load time (0.16 s here) although we run it on
    # asyncio: hand it a placeholder, which pyfuse3.asyncio.enable() replaces.
    # It also asks importlib.metadata for its own version string (14 ms of
    # imports in every container start): a placeholder answers that too.
    sys.modules["trio"] = types.ModuleType("trio")
    _real_metadata = sys.modules.get("importlib.metadata")
    if _real_metadata is None:
        _md = types.ModuleType("importlib.metadata")

        class PackageNotFoundError(ModuleNotFoundError):
            pass

        def _version(name: str) -> str:
            raise PackageNotFoundError(name)
        _md.PackageNotFoundError, _md.version = PackageNotFoundError, _version
        sys.modules["importlib.metadata"] = _md
    try:
        import pyfuse3
        import pyfuse3.asyncio
    finally:
        del sys.modules["trio"]
        if _real_metadata is None:
            del sys.modules["importlib.metadata"]
import pyfuse3  # noqa: E402
import pyfuse3.asyncio  # noqa: E402

from .union import UnionFS  # noqa: E402

pyfuse3.asyncio.enable()


class _Waiter:
    """How pyfuse3's worker waits for the next request on /dev/fuse.

    pyfuse3 waits through the event loop before every request: a future, an
    epoll_ctl to add the fd and one to remove it, a wait.  Our handlers never
    await anything, so nothing else needs the loop but the callbacks they
    schedule: when no request is waiting the worker gives the loop one turn,
    then sleeps in poll(2) on /dev/fuse and on a pipe that SIGTERM/SIGINT write
    to, and stops pyfuse3 (from here, between requests) when a signal came."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.stopping = False
        self.polls: dict = {}

    def stop(self, *_) -> None:
        self.stopping = True
        try:
            os.write(self.w, b"x")
        except OSError:
            pass

    async def wait_readable(self, fd) -> None:
        import select
        p = self.polls.get(fd)
        if p is None:
            p = self.polls[fd] = select.poll()
            p.register(fd, select.POLLIN)
            p.register(self.r, select.POLLIN)
        if not p.poll(0):
            # nothing waiting: the loop gets its turn (callbacks the handlers
            # scheduled) before we sleep; a busy stream of requests skips it
            await asyncio.sleep(0)
        if not self.stopping:
            p.poll()
        if self.stopping:
            pyfuse3.terminate()
            raise pyfuse3.asyncio.ClosedResourceError()


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
          ready_fd: int | None = None) -> None:
    """Mount and serve until unmounted (or SIGTERM/SIGINT).  Blocks.

    If READY_FD is given, one byte is written to it once the mount is live and
    the kernel has its answer to FUSE_INIT."""
    from dunnage.core.runtime.linux import mount_device, set_readahead, trim_memory
    ops = UnionFS(lowers, upper)
    real = os.path.realpath(mountpoint)  # before the mount: resolving it after would ask us

    def initialised() -> None:
        dev = mount_device(real)
        if dev:
            set_readahead(dev, READAHEAD_KIB)
        if ready_fd is not None:
            os.write(ready_fd, b"1")
            os.close(ready_fd)
    ops.after_init = initialised
    pyfuse3.init(ops, mountpoint, mount_options(fsname))
    trim_memory()

    waiter = _Waiter()
    pyfuse3.asyncio.wait_readable = waiter.wait_readable
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, waiter.stop)

    async def main():
        await pyfuse3.main(min_tasks=1, max_tasks=1)

    try:
        asyncio.run(main())
    finally:
        try:
            pyfuse3.close(unmount=True)
        except Exception:
            pass


def unmount(mountpoint: str) -> None:
    """Unmount lazily: a busy or hung mount never blocks us."""
    from dunnage.core.runtime.linux import lazy_unmount
    lazy_unmount(mountpoint)


def wait_mounted(mountpoint: str, timeout: float = 10.0) -> bool:
    from dunnage.core.runtime.linux import is_mountpoint
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if is_mountpoint(mountpoint):
            return True
        time.sleep(0.01)
    return False
