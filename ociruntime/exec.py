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


class Relay:
    """A terminal's master relayed to our standard streams (runc exec -t without
    --console-socket): its output to ours until the program ends, our input to it, our
    terminal (if any) raw meanwhile and its size given to it."""

    def __init__(self, master: int):
        import threading
        self.master, self.saved = master, None
        if os.isatty(0):
            import fcntl
            import termios
            import tty
            try:
                fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
                self.saved = termios.tcgetattr(0)
                tty.setraw(0, termios.TCSANOW)  # (not TCSAFLUSH: what was typed ahead is the program's)
            except OSError:
                pass
        self.out = threading.Thread(target=self._copy, args=(master, 1), daemon=True)
        self.out.start()
        threading.Thread(target=self._copy, args=(0, master), daemon=True).start()

    @staticmethod
    def _copy(src: int, dst: int) -> None:
        try:
            while True:
                data = os.read(src, 65536)
                if not data:
                    return
                while data:
                    data = data[os.write(dst, data):]
        except OSError:  # EIO: the program ended and closed the terminal
            return

    def close(self) -> None:
        self.out.join(10)
        if self.saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)
        os.close(self.master)


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
    here = terminal and not a.console_socket and not a.detach  # runc's: the terminal relayed to ours
    console: Optional[socket.socket] = connect_console(a.console_socket) if terminal and not here else None
    relay: list = []

    def spawned(pid: int, master: Optional[int]) -> None:
        if master is not None:
            if console is not None:
                socket.send_fds(console, [b"/dev/ptmx"], [master])
            elif here:
                relay.append(Relay(os.dup(master)))
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
        for r in relay:
            r.close()
    if err:
        raise Conflict(err) if code == 125 else InvalidParameter(err)
    return code
