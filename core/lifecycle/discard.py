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
    """The layer directories containers stand on, and those the build cache holds (rmi and
    image prune must not delete those; `builder prune` frees the cache's)."""
    return frozenset(lo for c in all_containers(store, shared=True) for lo in c.config.get("Lowers", [])) \
        | build_cache_lowers(store)


def build_cache_lowers(store: Store) -> frozenset:
    """The layer directories of the states the build cache records (`<root>/builder/cache.msgpack`,
    the builder's: each record's config names its layers by diff id)."""
    import json
    from ..images.oci import chain_ids
    from ..store import read_record
    path = store.root / "builder" / "cache.msgpack"
    if not path.exists():
        return frozenset()
    try:
        steps = read_record(path).get("steps") or {}
    except (OSError, ValueError, KeyError):
        return frozenset()
    chains = set()
    seen = set()
    for rec in steps.values():
        try:
            ids = json.loads(rec["config"])["rootfs"]["diff_ids"]
        except (KeyError, TypeError, ValueError):
            continue
        if ids and tuple(ids) not in seen:
            seen.add(tuple(ids))
            chains.update(chain_ids(ids))
    # one path per chain (records share their lower layers), made without pathlib: a large
    # cache has thousands, and this runs at every removal a build makes
    base = str(store.layer_dir("sha256:x").parent)
    return frozenset(f"{base}/{c.replace('sha256:', '')}/diff" for c in chains)
