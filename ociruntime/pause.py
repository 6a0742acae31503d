"""pause and resume: the container's cgroup frozen and thawed."""
from __future__ import annotations

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.errors import Conflict

from . import state


def pause(root: str, cid: str, frozen: bool) -> None:
    st = state.load(root, cid)
    now = state.status(root, st)
    if frozen and now != "running":
        raise Conflict(f"container not running: {now}")
    if not frozen and now != "paused":
        raise Conflict(f"container not paused: {now}")
    open_cgroup_path(st.cgroups_path).freeze(frozen)
    st.paused = frozen
    state.save(state.DEFAULT_ROOT if root is None else root, st)
