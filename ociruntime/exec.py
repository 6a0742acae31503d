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
        p = dict(json.load(f).get("process") or {})  # runc's: the container's process, then the flags
    p.update(args=a.command, terminal=a.tty, noNewPrivileges=a.no_new_privs or bool(p.get("noNewPrivileges")))
    p["env"] = list(p.get("env") or []) + list(a.env or [])
    if a.cwd:
        p["cwd"] = a.cwd
    user = dict(p.get("user") or {})
    if a.user:
        uid, _, gid = a.user.partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise InvalidParameter(f"invalid --user {a.user!r}: uid[:gid] as numbers") from None
    try:
        extra = [int(g) for g in a.additional_gids or []]
    except ValueError:
        raise InvalidParameter(f"invalid --additional-gids {a.additional_gids}: numbers") from None
    user["additionalGids"] = list(user.get("additionalGids") or []) + extra
    p["user"] = user
    if a.cap:  # into every set but the inheritable one, as runc since CVE-2022-29162
        caps = {k: list(v or []) for k, v in (p.get("capabilities") or {}).items()}
        for k in ("bounding", "effective", "permitted", "ambient"):
            caps[k] = caps.get(k, []) + [c for c in a.cap if c not in caps.get(k, [])]
        p["capabilities"] = caps
    return p


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
    if st.new_keyring:  # runc's exec joins one of the container's name too
        spec.session_keyring = state.keyring_name(cid)
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
