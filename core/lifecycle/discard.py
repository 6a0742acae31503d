"""What is left of a container that has exited, removed: docker rm's last step (remove.py),
which the shim of a --rm container also takes once its command has ended."""
from __future__ import annotations

import os
import shutil

from .. import events
from ..cgroups import open_cgroup
from ..containers import Container, all_containers
from ..runtime.linux import is_mountpoint, lazy_unmount
from ..store import Store


def discard(store: Store, images, c: Container, volumes: bool = False) -> None:
    """C's mount, cgroup, records and run directory go; its image's layers too if the image
    went before it (IMAGES: its ImageStore); with VOLUMES or --rm its anonymous volumes."""
    if is_mountpoint(str(c.merged)):
        lazy_unmount(str(c.merged))
    cg = open_cgroup(c.id)
    if cg.exists():
        cg.destroy()
    trash = store.tempdir("rm-")
    os.rename(c.dir, trash / c.id)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(store.run_dir(c.id), ignore_errors=True)
    events.emit(store, "container", "destroy", c.id, {"name": c.name})
    if not images.has(c.config["Image"]):  # its image went with rmi -f
        images.release_layers(c.config.get("Lowers", []), lowers_in_use(store))
    if volumes or c.config["HostConfig"].get("AutoRemove"):  # --rm takes its anonymous volumes along
        from ..volumes import VolumeError, Volumes
        vols = Volumes(store)
        for m in c.config["HostConfig"].get("Mounts") or []:
            if m["Type"] == "volume" and m.get("Anonymous"):
                try:
                    vols.remove(m["Name"])
                except VolumeError:
                    pass  # another container uses it (--volumes-from)


def lowers_in_use(store: Store) -> frozenset:
    """The layer directories containers stand on (rmi must not delete those)."""
    return frozenset(lo for c in all_containers(store, shared=True) for lo in c.config.get("Lowers", []))
