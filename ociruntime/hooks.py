"""OCI hooks: programs run with the container's state on their standard input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Optional

from dunnage.core.errors import System

# the container's namespaces a hook joins with IN_CONTAINER (and its user namespace, where it has one)
_ENTER = ("--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup")


def run(hooks: dict, which: str, state: dict, fatal: bool = True, in_container: Optional[int] = None) -> list[str]:
    """Run the hooks named WHICH (prestart, createRuntime, ..., poststop) in order.  A hook
    that fails or times out is an error when FATAL, else a warning (returned).  With
    IN_CONTAINER (the init's pid) each runs in that process's namespaces, its path looked up
    in the container's root (startContainer's, as the runtime spec says): nsenter forks it
    into the pid namespace, as runc's init runs it there."""
    warnings = []
    for h in hooks.get(which) or []:
        argv = list(h.get("args") or [h["path"]])
        path = h["path"]
        if in_container is not None:  # (nsenter execs PATH with its own name as argv[0])
            own = os.stat(f"/proc/{in_container}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino
            argv = ["nsenter", "--target", str(in_container), *(("--user",) if own else ()), *_ENTER, "--", path,
                    *argv[1:]]
            path = "/usr/bin/nsenter"
        env = dict(e.split("=", 1) for e in h.get("env") or [] if "=" in e)
        failed = ""
        try:
            p = subprocess.Popen(argv, executable=path, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as e:
            failed = str(e)
        else:
            try:
                _, err = p.communicate(json.dumps(state).encode(), timeout=h.get("timeout") or None)
                if p.returncode != 0:
                    failed = f"exit status {p.returncode}: {err.decode(errors='replace').strip()}"
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # the hook and what it started (nsenter's child)
                except OSError:
                    pass
                p.communicate()
                failed = f"timed out after {h.get('timeout')} s"
        if failed:
            msg = f"{which} hook {h['path']}: {failed}"
            if fatal:
                raise System(msg)
            warnings.append(msg)
    return warnings
