"""The shim: one process per running container, outliving the front that started it.

It is forked from the root's fork server (core/forkserver/), or else from the
front (already-imported modules either way, no new interpreter), detaches, and then:
  - starts the FUSE server for the container root, a thread of its own, and waits
    until it is mounted (fuse_thread.py),
  - creates the container's cgroup with its limits,
  - forks the container's PID 1 in new namespaces (pid1.py, runtime/process.py),
    handing it its runtime spec (runtime/spec.py),
  - reports "ok" or "<code> <message>" on the front's ready pipe,
  - pumps stdout/stderr into the log and to attach clients, answers DNS, runs
    health checks (pump.py), reaps the exit status, notes OOM kills, starts the
    command again as its restart policy says (restart.py),
  - unmounts, removes the cgroup and writes the final state (supervisor.py).
By process: spawn.py runs in the front; supervisor.py, pump.py, restart.py and
fuse_thread.py in the shim (fuse_thread.py in its FUSE thread); pid1.py forks PID 1.
"""
from .spawn import spawn

__all__ = ["spawn"]
