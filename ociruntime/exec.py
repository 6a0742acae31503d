"""exec: a new process in a running container (runc's exec: --process FILE or ARGS), through
the same path as `dunnage exec` (core/runtime/exec.py): its standard streams are the
caller's, its terminal's master goes to --console-socket."""
from __future__ import annotations

import json
import os
import socket
from typing import Optional

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.errors import Conflict, InvalidParameter
from dunnage.core.runtime import bundle as bundles

from . import state
from .create import _write_pid_file
from .initfork import connect_console


def process_from(a, bundle_dir: str) -> dict:
    """The OCI process object: --process FILE, or the flags and arguments."""
    if a.process:
        try:
            with open(a.process) as f:
                p = json.load(f)
        except (OSError, ValueError) as e:
            raise InvalidParameter(f"--process {a.process}: {e}") from None
        return p
    if not a.command:
        raise InvalidParameter("exec needs a command (or --process FILE)")
    with open(os.path.join(bundle_dir, "config.json")) as f:
        base = json.load(f).get("process") or {}
    uid, _, gid = (a.user or "0:0").partition(":")
    env = list(base.get("env") or []) + list(a.env or [])
    return {"args": a.command, "env": env, "cwd": a.cwd or base.get("cwd") or "/", "terminal": a.tty,
            "user": {"uid": int(uid), "gid": int(gid or 0), "additionalGids": [int(g) for g in a.additional_gids or []]},
            "capabilities": {"bounding": (base.get("capabilities") or {}).get("bounding", []) + list(a.cap or [])},
            "noNewPrivileges": a.no_new_privs or bool(base.get("noNewPrivileges"))}


def exec_(root: str, cid: str, a, say=lambda s: None) -> int:
    st = state.load(root, cid)
    if state.status(root, st) not in ("running", "created"):
        raise Conflict(f"cannot exec in a container that is {state.status(root, st)}")
    p = process_from(a, st.bundle)
    warnings: list[str] = []
    spec, terminal, _ = bundles._process(p, st.rootfs, warnings)
    for w in warnings:
        say(f"warning: {w}")
    try:
        with open(os.path.join(st.bundle, "config.json")) as f:
            seccomp = (json.load(f).get("linux") or {}).get("seccomp")
    except (OSError, ValueError):
        seccomp = None
    spec.seccomp = seccomp or None
    console: Optional[socket.socket] = connect_console(a.console_socket) if terminal else None

    def spawned(pid: int, master: Optional[int]) -> None:
        if master is not None:
            if console is not None:
                socket.send_fds(console, [b"/dev/ptmx"], [master])
            os.close(master)
        if a.pid_file:
            _write_pid_file(a.pid_file, pid)

    from dunnage.core.runtime.exec import run_exec
    try:
        code, err = run_exec(st.pid, open_cgroup_path(st.cgroups_path), spec, tty=terminal, detach=a.detach,
                             on_spawn=spawned)
    finally:
        if console is not None:
            console.close()
    if err:
        raise Conflict(err) if code == 125 else InvalidParameter(err)
    return code
