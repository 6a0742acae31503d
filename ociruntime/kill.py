"""kill: a signal to the container's init, or with --all to every process of its cgroup."""
from __future__ import annotations

import os
import signal as _signal

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.errors import Conflict, InvalidParameter

from . import state


def parse_signal(sig: str) -> int:
    s = str(sig).strip().upper()
    if s.isdigit():
        n = int(s)
    else:
        try:
            n = int(getattr(_signal, s if s.startswith("SIG") else "SIG" + s))
        except (AttributeError, ValueError):
            n = -1
    if not 0 < n < 65:
        raise InvalidParameter(f"invalid signal: {sig}")
    return n


def kill(root: str, cid: str, sig: str = "SIGTERM", all_: bool = False) -> None:
    st = state.load(root, cid)
    n = parse_signal(sig)
    if state.status(root, st) == "stopped":
        raise Conflict("container not running")
    pids = open_cgroup_path(st.cgroups_path).procs() if all_ else [st.pid]
    for p in pids:
        try:
            os.kill(p, n)
        except ProcessLookupError:
            pass
