"""delete: a stopped container's cgroup and state go (with --force a running one is killed first)."""
from __future__ import annotations

import time

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.errors import Conflict, NotFound

from . import hooks, state


def delete(root: str, cid: str, force: bool = False, say=lambda s: None) -> None:
    try:
        st = state.load(root, cid)
    except NotFound:
        if force:
            return
        raise
    now = state.status(root, st)
    if now not in ("stopped", "created") and not force:
        raise Conflict(f"cannot delete container {cid} that is not stopped: {now}")
    cgroup = open_cgroup_path(st.cgroups_path)
    if cgroup.exists():
        if now == "paused":
            cgroup.freeze(False)
        end = time.monotonic() + 10
        while cgroup.procs() and time.monotonic() < end:
            cgroup.kill_all()
            time.sleep(0.01)
        cgroup.destroy()
    state.remove_dir(root, cid)
    for w in hooks.run(st.hooks, "poststop", st.oci("stopped"), fatal=False):
        say(f"warning: {w}")
