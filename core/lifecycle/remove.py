"""docker rm [-f] [-v]: the container's records, mounts, cgroup and (with -v or --rm)
anonymous volumes go; its image's layers too if the image went before it."""
from __future__ import annotations

import os
import shutil
import signal as _signal

from .. import events
from ..cgroups import open_cgroup
from ..containers import Container
from ..errors import EngineError
from ..runtime.linux import is_mountpoint, lazy_unmount
from .pause import thaw_if_paused
from .wait import wait


def remove(e, ref: str, force: bool = False, volumes: bool = False) -> Container:
    c = e.container(ref)
    if c.status == "restarting":
        if not force:
            raise EngineError(f"You cannot remove a restarting container {c.id}. Stop the container "
                              "before attempting removal or force remove", 1)
        c.save_state(StopRequested=True)
        c.wait_shim(30)
        c.reload()
    if c.running():
        c.save_state(StopRequested=True)
        if not force:
            raise EngineError(f"You cannot remove a running container {c.id}. Stop the container "
                              "before attempting removal or force remove", 1)
        try:
            os.kill(c.state["Pid"], _signal.SIGKILL)
        except ProcessLookupError:
            pass
        thaw_if_paused(c)
        try:
            wait(e, c.id, 30)
        except TimeoutError:
            raise EngineError(f"could not kill container {c.id}", 1) from None
    # a shim may still be tearing down: let it finish
    c.wait_shim(10)
    c.reload()
    if is_mountpoint(str(c.merged)):
        lazy_unmount(str(c.merged))
    cg = open_cgroup(c.id)
    if cg.exists():
        cg.destroy()
    trash = e.store.tempdir("rm-")
    os.rename(c.dir, trash / c.id)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(e.store.run_dir(c.id), ignore_errors=True)
    events.emit(e.store, "container", "destroy", c.id, {"name": c.name})
    if not e.images.has(c.config["Image"]):  # its image went with rmi -f
        e.images.release_layers(c.config.get("Lowers", []), e._container_lowers())
    if volumes or c.config["HostConfig"].get("AutoRemove"):  # --rm takes its anonymous volumes along
        from ..volumes import VolumeError, Volumes
        vols = Volumes(e.store)
        for m in c.config["HostConfig"].get("Mounts") or []:
            if m["Type"] == "volume" and m.get("Anonymous"):
                try:
                    vols.remove(m["Name"])
                except VolumeError:
                    pass  # another container uses it (--volumes-from)
    return c
