"""`system df`, `system prune`, `system info`, `system reset`: what a root holds on disk,
what removing the unused part of it frees, what this host and root are.

Sizes are bytes on disk, as du counts them: allocated blocks, each inode once (hard
links), on the store's own file system only (a running container's union mount is
another one), so what prune reports is what the store's du loses.

Each function takes the Engine facade (E) and never imports it.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
from typing import Optional

from .errors import EngineError, System
from .lifecycle.discard import lowers_in_use

VERSION = "0.1.0"
ACTIVE = ("running", "paused", "restarting")


# ------------------------------------------------------------------ formats
def ps_command(argv: list[str]) -> str:
    """The command as dockerd lists it: the path, then the arguments, those with a space in
    single quotes."""
    if not argv:
        return ""
    return " ".join([argv[0]] + [f"'{a}'" if " " in a else a for a in argv[1:]])


# ------------------------------------------------------------------ sizes
def du(path, dev: Optional[int] = None, seen: Optional[set] = None) -> int:
    """Bytes PATH takes on disk (st_blocks), each inode once (SEEN, shared between calls
    that must not count a hard link twice), never below a mount point of another file
    system; 0 if PATH is gone."""
    seen = set() if seen is None else seen
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if dev is None:
        dev = st.st_dev
    if st.st_dev != dev or (st.st_dev, st.st_ino) in seen:
        return 0
    seen.add((st.st_dev, st.st_ino))
    total = st.st_blocks * 512
    if not stat.S_ISDIR(st.st_mode):
        return total
    stack = [os.fspath(path)]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    s = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if s.st_dev != dev:
                    continue  # a mount point: another file system's
                key = (s.st_dev, s.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                total += s.st_blocks * 512
                if stat.S_ISDIR(s.st_mode):
                    stack.append(e.path)
    return total


def _blob_sizes(e) -> dict[str, int]:
    out = {}
    try:
        with os.scandir(e.store.blobs) as it:
            for b in it:
                try:
                    out[b.name] = b.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    pass
    except OSError:
        pass
    return out


def _layer_dirs(e) -> list[str]:
    try:
        return sorted(p.name for p in e.store.layers.iterdir() if p.is_dir())
    except OSError:
        return []


def _layer_blob(e, hexid: str) -> Optional[str]:
    from .store import read_record
    try:
        b = read_record(e.store.layers / hexid / "meta.msgpack").get("blob")
        return b[7:] if b else None
    except Exception:  # noqa: BLE001 - a layer being made or removed
        return None


def _lower_hex(e, lower: str) -> Optional[str]:
    """The layer directory (chain id hex) a container's lower directory is, if it is one."""
    parent = os.path.dirname(lower)
    if os.path.dirname(parent) == str(e.store.layers):
        return os.path.basename(parent)
    return None


def disk_usage(e) -> dict:
    """Images (their layers and blobs), containers, volumes and the (empty) build cache: each
    item with its size, and per kind the total, the active count and what is reclaimable."""
    from .volumes import Volumes
    images = e.list_images()
    cs = e.containers(all_=True)
    blobs = _blob_sizes(e)
    layer_size: dict[str, int] = {}
    for h in _layer_dirs(e):
        lb = _layer_blob(e, h)
        layer_size[h] = du(e.store.layers / h) + (blobs.get(lb, 0) if lb else 0)
    counted_blobs = {lb for h in layer_size if (lb := _layer_blob(e, h))}
    users: dict[str, int] = {}
    for c in cs:
        users[c.config["Image"]] = users.get(c.config["Image"], 0) + 1
    refs: dict[str, int] = {}
    for img in images:
        for ch in set(img.layers):
            refs[ch[7:]] = refs.get(ch[7:], 0) + 1
    kept = {ch[7:] for img in images if users.get(img.id) for ch in img.layers}
    kept |= {h for c in cs for lo in c.config.get("Lowers", []) if (h := _lower_hex(e, lo))}
    img_items = []
    for img in images:
        hexes = {ch[7:] for ch in img.layers}
        size = sum(layer_size.get(h, 0) for h in hexes) + blobs.get(img.id[7:], 0)
        shared = sum(layer_size.get(h, 0) for h in hexes if refs.get(h, 0) > 1)
        img_items.append({"image": img, "size": size, "shared": shared, "containers": users.get(img.id, 0)})
    config_blobs = {img.id[7:] for img in images}
    other_blobs = sum(s for b, s in blobs.items() if b not in counted_blobs)  # image configs, strays
    img_total = sum(layer_size.values()) + other_blobs
    img_reclaim = sum(s for h, s in layer_size.items() if h not in kept) + sum(
        s for b, s in blobs.items() if b not in counted_blobs
        and not (b in config_blobs and users.get("sha256:" + b)))

    ctr_items = []
    for c in cs:
        size = du(c.dir) + du(e.store.run_dir(c.id))
        ctr_items.append({"container": c, "size": size, "active": c.status in ACTIVE})
    vols = Volumes(e.store)
    vol_items = []
    for v in vols.list():
        links = len(vols.users(v["Name"]))
        vol_items.append({"volume": v, "size": du(vols.dir / v["Name"]), "links": links})
    return {
        "Images": {"items": img_items, "total": len(images), "active": sum(1 for i in img_items if i["containers"]),
                   "size": img_total, "reclaimable": img_reclaim},
        "Containers": {"items": ctr_items, "total": len(cs), "active": sum(1 for i in ctr_items if i["active"]),
                       "size": sum(i["size"] for i in ctr_items),
                       "reclaimable": sum(i["size"] for i in ctr_items if not i["active"])},
        "Local Volumes": {"items": vol_items, "total": len(vol_items),
                          "active": sum(1 for i in vol_items if i["links"]),
                          "size": sum(i["size"] for i in vol_items),
                          "reclaimable": sum(i["size"] for i in vol_items if not i["links"])},
        "Build Cache": _build_cache(e, layer_size, refs),
    }


def _build_cache(e, layer_size: dict[str, int], refs: dict[str, int]) -> dict:
    """The build cache's records (`<root>/builder/cache.msgpack`, the builder's): each step
    that made a layer, its size; what no image uses is reclaimable (builder prune)."""
    from .store import read_record
    try:
        steps = read_record(e.store.root / "builder" / "cache.msgpack").get("steps") or {}
    except (OSError, ValueError, KeyError):
        steps = {}
    items, own = [], {}  # own: each layer once, whichever steps left it
    for key, rec in steps.items():
        h = (rec.get("layer") or "")[7:]
        if h and h in layer_size:
            items.append({"id": key, "description": rec.get("description", ""), "size": layer_size[h],
                          "in_use": refs.get(h, 0) > 0, "created": rec.get("created", 0)})
            own[h] = items[-1]
    size = sum(it["size"] for it in own.values())
    free = sum(it["size"] for it in own.values() if not it["in_use"])
    return {"items": items, "total": len(items), "active": sum(1 for it in items if it["in_use"]),
            "size": size, "reclaimable": free}


# ------------------------------------------------------------------ prune
def prune_containers(e, sel=None) -> tuple[list[str], int]:
    """Every stopped container (that SEL, a prune_filters.Selection, lets go); the bytes that
    freed (its directories, and the layers of a removed image it was the last to stand on)."""
    gone, freed = [], 0
    for c in e.containers(all_=True):
        if c.status in ACTIVE:
            continue
        if sel and not sel.lets_go((c.config.get("Config") or {}).get("Labels"), c.config.get("Created", "")):
            continue
        size = du(c.dir) + du(e.store.run_dir(c.id))
        orphans = {}
        if not e.images.has(c.config["Image"]):
            for lo in c.config.get("Lowers", []):
                h = _lower_hex(e, lo)
                if h:
                    lb = _layer_blob(e, h)
                    orphans[h] = (du(e.store.layers / h), lb, _blob_sizes(e).get(lb, 0) if lb else 0)
        try:
            e.remove(c.id)
        except EngineError:
            continue  # started meanwhile
        gone.append(c.id)
        freed += size
        for h, (s, lb, bs) in orphans.items():
            if not (e.store.layers / h).exists():
                freed += s + (bs if lb and not (e.store.blobs / lb).exists() else 0)
    return gone, freed


def prune_images(e, all_: bool = False, sel=None) -> tuple[list[str], int]:
    """image prune [-a] (those SEL lets go) with what it freed: the layer directories and
    blobs that went. Only layers an image that certainly stays does not use are measured
    beforehand."""
    from .image_filters import image_labels
    images = e.list_images()
    in_use = {c.config["Image"] for c in e.containers(all_=True)}
    select = (lambda img: sel.lets_go(image_labels(img), img.created)) if sel else None
    stays = [img for img in images
             if img.id in in_use or (img.tags and not all_) or (select is not None and not select(img))]
    keep = {ch[7:] for img in stays for ch in img.layers}
    keep |= {h for lo in lowers_in_use(e.store) if (h := _lower_hex(e, lo))}
    before = {h: du(e.store.layers / h) for h in _layer_dirs(e) if h not in keep}
    blobs = _blob_sizes(e)
    lines = e.prune_images(all_, select)
    freed = sum(s for h, s in before.items() if not (e.store.layers / h).exists())
    freed += sum(s for b, s in blobs.items() if not (e.store.blobs / b).exists())
    return lines, freed


def prune_volumes(e, all_: bool = False, sel=None) -> tuple[list[str], int]:
    from .volumes import Volumes
    vols = Volumes(e.store)
    select = (lambda v: sel.lets_go(v.get("Labels"))) if sel else None
    sizes = {v["Name"]: du(vols.dir / v["Name"]) for v in vols.list()
             if (all_ or v.get("Anonymous")) and (select is None or select(v))}
    names = e.volume_prune(all_, select)
    return names, sum(sizes.get(n, 0) for n in names)


# ------------------------------------------------------------------ info
def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == "PRETTY_NAME":
                    return v.strip('"')
    except OSError:
        pass
    import platform
    return platform.system()


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _backing_fs(path) -> str:
    """The file system type the store lives on (the longest mount point above it)."""
    best, fstype = "", ""
    p = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                mp = parts[4].replace("\\040", " ")
                sep = parts.index("-")
                if (p == mp or p.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                    best, fstype = mp, parts[sep + 1]
    except (OSError, ValueError, IndexError):
        pass
    return fstype


def version() -> dict:
    """This dunnage's version and the host's, in docker's types.Version names (GoVersion
    names the Python that runs it); the fronts add the API versions they speak."""
    import platform
    from importlib.metadata import PackageNotFoundError, version as pkg_version
    try:
        v = pkg_version("dunnage")
    except PackageNotFoundError:
        v = "0.1.0"
    u = os.uname()
    return {"Version": v, "GitCommit": "", "GoVersion": "python" + platform.python_version(), "Os": "linux",
            "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(u.machine, u.machine), "KernelVersion": u.release,
            "BuildTime": ""}


def info(e) -> dict:
    """docker info's fields (the system.Info names), for this root on this host."""
    from .cgroups import host_version, swap_accounting
    from .runtime.spec import INIT_BINARY
    cs = e.containers(all_=True)
    running = sum(1 for c in cs if c.status in ("running", "restarting"))
    paused = sum(1 for c in cs if c.status == "paused")
    version = host_version()
    uname = os.uname()
    warnings = []
    if not swap_accounting():
        warnings.append("WARNING: No swap limit support")
    return {
        "ID": "", "Containers": len(cs), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(cs) - running - paused, "Images": len(e.list_images()),
        "Driver": "dunnage-fuse",
        "DriverStatus": [["Backing Filesystem", _backing_fs(e.store.root)], ["Supports d_type", "true"],
                         ["Union", "FUSE (dunnage.fuse), OCI whiteouts"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": None,
                    "Log": ["dunnage"]},
        "MemoryLimit": True, "SwapLimit": swap_accounting(), "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": _ip_forward(),
        "Debug": False, "OomKillDisable": version == 1,
        "LoggingDriver": "dunnage", "CgroupDriver": "cgroupfs", "CgroupVersion": str(version),
        "KernelVersion": uname.release, "OperatingSystem": _os_name(), "OSType": "linux",
        "Architecture": uname.machine, "NCPU": len(os.sched_getaffinity(0)), "MemTotal": _mem_total(),
        "DockerRootDir": str(e.store.root), "Name": socket.gethostname(), "ServerVersion": VERSION,
        "Runtimes": {"dunnage": {"path": "dunnage"}}, "DefaultRuntime": "dunnage",
        "Swarm": {"LocalNodeState": "inactive"}, "LiveRestoreEnabled": False, "ExperimentalBuild": False,
        "InitBinary": INIT_BINARY if os.path.exists(INIT_BINARY) else "",
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if version == 2 else []),
        "Warnings": warnings,
    }


def _ip_forward() -> bool:
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _mounts_under(root: str) -> list[str]:
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp.startswith(root.rstrip("/") + "/"):
                    out.append(mp)
    except OSError:
        pass
    return sorted(out, key=len, reverse=True)


def reset(e) -> None:
    """podman's system reset for this root: every container (killed), its cgroup, every
    network with its bridge, the default bridge and the root's nftables table, every image,
    volume and layer, then the store's content and its run directory. Nothing is left that
    names the root, even when its records were lost before (the bridge's and the table's
    names come from the root's path)."""
    from .cgroups import open_cgroup
    from .net.config import Networks
    from .net.netlink import delete_link
    from .runtime.linux import lazy_unmount
    store = e.store
    ids = set()
    try:
        ids = {d.name for d in os.scandir(store.containers) if d.is_dir()}
    except OSError:
        pass
    for c in e.containers(all_=True):
        try:
            e.remove(c.id, force=True)
        except EngineError:
            pass
    for cid in ids:  # what a lost record left: the group outlives its record
        try:
            cg = open_cgroup(cid)
            if cg.exists():
                try:
                    cg.kill_all()
                    cg.freeze(False)
                except OSError:
                    pass
                cg.destroy()
        except OSError:
            pass
    nets = Networks(store)
    errors = []
    try:
        nets.destroy_all()
    except Exception as ex:  # noqa: BLE001 - what is left is taken below, by name
        errors.append(str(ex))
    for r in nets.list():
        try:
            delete_link(r["Bridge"])
        except Exception:  # noqa: BLE001
            pass
    try:
        delete_link(nets.default_bridge)
    except Exception:  # noqa: BLE001 - none
        pass
    try:
        fw = nets.firewall()
        if fw.exists():
            fw.destroy()
    except Exception as ex:  # noqa: BLE001
        errors.append(str(ex))
    for mp in _mounts_under(str(store.root)) + (_mounts_under(str(store.run)) if store.run != store.root / "run"
                                                 else []):
        lazy_unmount(mp)
    left = _mounts_under(str(store.root))
    if left:
        raise System(f"system reset: still mounted under the store: {', '.join(left)}", 1)
    for d in (store.run, store.root):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for ent in entries:
            if ent.is_dir(follow_symlinks=False):
                shutil.rmtree(ent.path, ignore_errors=True)
            else:
                try:
                    os.unlink(ent.path)
                except OSError:
                    pass
        try:
            os.rmdir(d)
        except OSError:
            pass  # a mount point of its own, say: it stays, empty
    if errors:
        raise System("system reset: " + "; ".join(errors), 1)
