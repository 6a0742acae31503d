"""The union filesystem's work counted to its container.

The FUSE server is a thread of the container's shim, so what it does for the
container (its writes reaching the disk at fsync, its CPU) would be the root
cgroup's: --device-write-bps would not slow a `dd conv=fsync` on the root fs, and
`stats` would show no block I/O.  On cgroup v1 a single thread can join a group of a
hierarchy: the server thread joins the container's blkio, cpu and cpuacct groups, so
the bios it submits (an fsync writes back the upper file's pages from the thread
that calls it) are throttled, weighted and counted there, and its CPU time is the
container's.  It joins neither pids (a thread of the shim is no process of the
container: top, kill and pids.max must not see it) nor freezer (a paused container's
files stay readable, as docker cp reads them) nor memory, where v1 charges by
process (a thread that moves takes no charges with it); the pages a program of the
container writes through the mount are its own already (the kernel's page cache of
the FUSE file, charged to the writer).

On cgroup v2 a thread can leave its process's group only for a threaded one, and
io and memory are domain controllers, which threaded groups do not have: there is
nothing the thread can join that counts its I/O (see thread_files).
"""
from __future__ import annotations

import os

V1_CONTROLLERS = ("blkio", "cpu", "cpuacct")


def thread_files(version: int, paths: dict[str, str]) -> list[str]:
    """The files the server thread's id is written to for it to join a container's
    group whose directories (by controller, v1; "unified" or any one key, v2) are PATHS."""
    if version != 1:
        return []
    return [os.path.join(paths[c], "tasks") for c in V1_CONTROLLERS if c in paths]


def _where(tid: int) -> dict[str, str]:
    """The v1 groups of thread TID by controller, as /proc's cgroup file names them."""
    out = {}
    try:
        with open(f"/proc/self/task/{tid}/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in ctrls.split(","):
                    out[c] = path
    except OSError:
        pass
    return out


def join(tid: int, version: int, paths: dict[str, str], mounts: dict[str, str] | None = None) -> list[str]:
    """Move thread TID into the container's groups (see thread_files); returns the files
    that move it back where it was (leave), before the groups can be removed."""
    back = []
    before = _where(tid)
    for f in thread_files(version, paths):
        ctrl = os.path.basename(os.path.dirname(f))
        for c, d in paths.items():
            if os.path.join(d, "tasks") == f:
                ctrl = c
        try:
            with open(f, "w") as fh:
                fh.write(str(tid))
        except OSError as e:
            print(f"the FUSE server stays out of {f}: {e.strerror}", flush=True)
            continue
        root = (mounts or {}).get(ctrl)
        if root is not None:
            back.append(os.path.join(root, before.get(ctrl, "/").lstrip("/"), "tasks"))
    return back


def leave(tid: int, back: list[str]) -> None:
    """Move thread TID back to the groups it came from (the files join returned)."""
    for f in back:
        try:
            with open(f, "w") as fh:
                fh.write(str(tid))
        except OSError:
            pass  # the thread has ended: it holds no group any more
