"""docker exec: a command run in a running container's namespaces and cgroup, through
the runtime's exec path (core/runtime/exec.py)."""
from __future__ import annotations

from typing import Optional

from .. import events
from ..cgroups import open_cgroup
from ..errors import Conflict, InvalidParameter, run_failure
from ..spec import check_user


def exec_(e, ref: str, argv: list[str], *, tty: bool = False, interactive: bool = False,
          detach: bool = False, user: Optional[str] = None, workdir: Optional[str] = None,
          env: list[str] | None = None) -> int:
    """Run ARGV in the running container REF; its exit code."""
    from ..runtime.exec import exec_spec, run_exec
    c = e.container(ref)
    if not argv:
        raise InvalidParameter("exec needs a command", 1)
    if c.status == "paused":
        raise Conflict(f"container {c.id} is paused, unpause the container before exec", 1)
    if not c.running():
        raise Conflict(f"container {c.id} is not running", 1)
    if user:
        check_user(user)
    spec = exec_spec(c.config, argv, user=user, workdir=workdir, env=env or [], tty=tty)
    events.emit(e.store, "container", "exec_start: " + " ".join(argv), c.id, {"name": c.name})
    code, msg = run_exec(c.state["Pid"], open_cgroup(c.id), spec, tty=tty, interactive=interactive,
                         detach=detach)
    if msg:
        raise run_failure(msg, code)
    return code
