"""A container whose shim died unseen (kill -9, reboot) is found and set right the
first time anyone looks at it: exited, its leftovers gone, and started again if its
restart policy says so (as dockerd does when it comes back)."""
from __future__ import annotations

import shutil
import time

from .. import events
from ..cgroups import open_cgroup
from ..containers import Container, pid_alive
from ..errors import EngineError
from ..images.store import now_iso
from ..runtime.linux import is_mountpoint, lazy_unmount
from .start import start


def repair(e, c: Container) -> None:
    """A container whose shim died unseen (kill -9, reboot) is exited.  Its processes,
    if any are left, go too: the shim served their root filesystem."""
    if c.status in ("running", "paused", "restarting") and not c.shim_alive():
        cg = open_cgroup(c.id)
        if pid_alive(c.state.get("Pid"), c.state.get("PidStart")):
            try:
                if cg.exists():
                    cg.kill_all()
                    cg.freeze(False)  # a paused container's processes die once thawed
            except OSError:
                pass
            end = time.monotonic() + 5
            while pid_alive(c.state.get("Pid"), c.state.get("PidStart")) and time.monotonic() < end:
                time.sleep(0.01)
        if is_mountpoint(str(c.merged)):
            lazy_unmount(str(c.merged))
        try:
            if cg.exists():
                cg.destroy()
        except OSError:
            pass
        shutil.rmtree(e.store.run_dir(c.id), ignore_errors=True)
        if c.state.get("NetworkSettings"):
            from ..net.config import Networks
            Networks(e.store).release(c.id)
        c.save_state(Status="exited", ExitCode=c.state.get("ExitCode") or 255, Pid=0, ShimPid=0,
                     NetworkSettings=None,
                     FinishedAt=now_iso(), Error="the container's shim died")
        # as dockerd does when it comes back (after a reboot, say): always and
        # unless-stopped containers start again, the first time anyone looks
        policy = (c.config["HostConfig"].get("RestartPolicy") or {}).get("Name")
        if policy in ("always", "unless-stopped") and not c.state.get("StopRequested"):
            try:
                start(e, c.id)
                events.emit(e.store, "container", "restart", c.id, {"name": c.name})
            except EngineError as err:
                c.save_state(Error=f"restarting after the shim died: {err}")
            c.reload()
