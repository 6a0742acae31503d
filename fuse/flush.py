"""What the kernel still holds of a union mount's writes, sent to its server.

With the writeback cache (union.WRITEBACK) a write() lands in the kernel's page cache
of the mount and reaches the upper layer at close(), fsync() or writeback; whoever
reads the upper layer itself while the container runs (docker commit) first has the
kernel send it there.  No pyfuse3 here: the engine calls this without loading the server."""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)


def write_back(mountpoint: str) -> None:
    """syncfs(2) on MOUNTPOINT: every dirty page of the mount is written to the server
    (and so to the upper layer) before it returns; the server's own fsyncs are not asked for."""
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc.syncfs(fd) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), mountpoint)
    finally:
        os.close(fd)
