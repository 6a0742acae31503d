"""Volumes and the mounts of a container: named and anonymous volumes, bind
mounts, tmpfs; docker's ``-v``, ``--mount``, ``--tmpfs`` and ``--volumes-from``.

A volume is a directory ``<root>/volumes/<name>/_data`` (docker's layout) with a
record beside it.  Volumes and binds are mounted into the container's root
before pivot_root, so they bypass the union filesystem.  A volume is filled
from the image's content at its mount point the first time a container uses
it while it is empty, as docker does.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from .errors import EngineError
from .store import Store, read_record, write_record

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


class VolumeError(EngineError):
    """A volume fault, with docker's exit code (125 unless said)."""


class Volumes:
    def __init__(self, store: Store):
        self.store = store
        self.dir = store.root / "volumes"
        self.dir.mkdir(exist_ok=True)

    def lock(self):
        return self.store.lock("volumes")

    def _meta(self, name: str) -> Path:
        return self.dir / name / "meta.msgpack"

    def path(self, name: str) -> Path:
        return self.dir / name / "_data"

    def get(self, name: str) -> dict:
        try:
            return read_record(self._meta(name))
        except (OSError, Exception):  # noqa: BLE001
            raise VolumeError(f"get {name}: no such volume", 1, status=404) from None

    def exists(self, name: str) -> bool:
        return self._meta(name).exists()

    def list(self) -> list[dict]:
        out = []
        for d in sorted(self.dir.iterdir()):
            try:
                out.append(read_record(d / "meta.msgpack"))
            except Exception:  # noqa: BLE001 - half made or being removed
                continue
        return out

    def create(self, name: Optional[str] = None, labels: Optional[dict] = None, anonymous: bool = False) -> dict:
        """Make volume NAME (a random one if None); an existing one is returned as is (docker)."""
        from .containers import new_id
        from .images.store import now_iso
        if name is None:
            name = new_id()
        elif not NAME_RE.fullmatch(name):
            raise VolumeError(f'"{name}" includes invalid characters for a local volume name, only '
                              '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                              'directory, use absolute path', status=400)
        with self.lock():
            if self.exists(name):
                return self.get(name)
            tmp = self.store.tempdir("volume-")
            try:
                (tmp / "_data").mkdir(mode=0o755)
                rec = {"Name": name, "Driver": "local", "Mountpoint": str(self.path(name)), "CreatedAt": now_iso(),
                       "Labels": dict(labels or {}), "Scope": "local", "Options": {}, "Anonymous": anonymous,
                       "Populated": False}
                write_record(tmp / "meta.msgpack", rec)
                os.rename(tmp, self.dir / name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return rec

    def users(self, name: str) -> list:
        from .containers import all_containers
        return [c for c in all_containers(self.store)
                if any(m.get("Type") == "volume" and m.get("Name") == name
                       for m in c.config["HostConfig"].get("Mounts") or [])]

    def remove(self, name: str) -> None:
        with self.lock():
            self.get(name)
            users = self.users(name)
            if users:
                raise VolumeError(f"remove {name}: volume is in use - [{', '.join(c.id for c in users)}]", 1,
                                  status=409)
            tmp = self.store.tempdir("volume-rm-")
            os.rename(self.dir / name, tmp / name)  # gone at once; the data goes after
        shutil.rmtree(tmp, ignore_errors=True)

    def prune(self, all_: bool = False, select=None) -> list[str]:
        """Unused volumes: anonymous ones only, or every one with ALL_ (docker 23+); with
        SELECT(record), only those it lets go (prune --filter)."""
        out = []
        for v in self.list():
            if (all_ or v.get("Anonymous")) and (select is None or select(v)) and not self.users(v["Name"]):
                try:
                    self.remove(v["Name"])
                    out.append(v["Name"])
                except VolumeError:
                    pass
        return out

    def populate(self, name: str, source: Optional[int]) -> None:
        """Fill volume NAME from SOURCE (a descriptor of the image's directory at the
        mount point, resolved inside the container's root; None if there is none) if
        the volume was never filled and is empty."""
        with self.lock():
            rec = self.get(name)
            if rec.get("Populated"):
                return
            dst = self.path(name)
            if source is not None and not any(os.scandir(dst)):
                # cp -a keeps owners, modes, times, links and xattrs, and follows no link
                # under the directory it is handed (by descriptor: nothing re-resolved)
                r = subprocess.run(["cp", "-a", "--", f"/proc/self/fd/{source}/.", f"{dst}/"], capture_output=True,
                                   pass_fds=(source,))
                if r.returncode != 0:
                    raise VolumeError(f"filling volume {name}: {r.stderr.decode().strip()}", status=500)
                st = os.fstat(source)
                os.chown(dst, st.st_uid, st.st_gid)
                os.chmod(dst, st.st_mode & 0o7777)
            rec["Populated"] = True
            write_record(self._meta(name), rec)


# ------------------------------------------------------------------ flags
# a container's binds are in its own rprivate mount namespace (docker's default propagation):
# the propagations that would share mounts with the host are refused, not taken and ignored
UNSUPPORTED_PROPAGATION = ("shared", "rshared", "slave", "rslave")
PROPAGATION_NOTE = "only private and rprivate (the default) bind propagation is supported"


def parse_volume_flag(spec: str) -> dict:
    """``-v``: ``/host:/ctr[:opts]`` (bind), ``name:/ctr[:opts]`` (volume), ``/ctr`` (anonymous)."""
    parts = spec.split(":")
    if len(parts) == 1:
        src, dst, opts = "", parts[0], ""
    elif len(parts) == 2:
        if parts[1] in ("ro", "rw", "z", "Z") or not parts[1].startswith("/"):
            raise VolumeError(f'invalid volume specification: "{spec}"', status=400)
        src, dst, opts = parts[0], parts[1], ""
    elif len(parts) == 3:
        src, dst, opts = parts
    else:
        raise VolumeError(f'invalid volume specification: "{spec}"', status=400)
    if not dst.startswith("/") or dst == "/":
        raise VolumeError(f'invalid volume specification: "{spec}": the container path must be absolute and not /',
                          status=400)
    ro = False
    for o in filter(None, opts.split(",")):
        if o in ("ro", "readonly"):
            ro = True
        elif o in UNSUPPORTED_PROPAGATION:
            raise VolumeError(f'invalid mode "{o}" in volume specification "{spec}": {PROPAGATION_NOTE}', status=400)
        elif o not in ("rw", "z", "Z", "private", "rprivate", "nocopy"):
            raise VolumeError(f'invalid mode "{o}" in volume specification "{spec}"', status=400)
    if not src:
        return {"Type": "volume", "Name": None, "Target": os.path.normpath(dst), "ReadOnly": ro, "Anonymous": True}
    if src.startswith("/"):
        return {"Type": "bind", "Source": os.path.normpath(src), "Target": os.path.normpath(dst), "ReadOnly": ro,
                "CreateSource": True}  # -v makes a missing host directory, --mount refuses
    if not NAME_RE.fullmatch(src):
        raise VolumeError(f'invalid volume specification: "{spec}": "{src}" is not a volume name or an absolute path',
                          status=400)
    return {"Type": "volume", "Name": src, "Target": os.path.normpath(dst), "ReadOnly": ro,
            "NoCopy": "nocopy" in opts.split(",")}


def parse_mount_flag(spec: str) -> dict:
    """``--mount type=bind|volume|tmpfs,source=…,target=…,readonly,tmpfs-size=…,tmpfs-mode=…``."""
    kv: dict = {}
    for item in spec.split(","):
        k, sep, v = item.partition("=")
        k = k.strip().lower()
        if k in ("readonly", "ro") and (not sep or v.lower() in ("1", "true")):
            kv["readonly"] = True
            continue
        if k in ("readonly", "ro") and v.lower() in ("0", "false"):
            continue
        if not sep:
            raise VolumeError(f'invalid field "{item}" in --mount "{spec}": key=value expected', status=400)
        kv[{"src": "source", "dst": "target", "destination": "target"}.get(k, k)] = v
    t = kv.pop("type", "volume")
    target = kv.pop("target", "")
    if not target.startswith("/") or target == "/":
        raise VolumeError(f'invalid --mount "{spec}": target must be an absolute path (not /)', status=400)
    ro = bool(kv.pop("readonly", False))
    source = kv.pop("source", "")
    if t == "bind":
        propagation = kv.pop("bind-propagation", "rprivate")
        if propagation.lower() not in ("private", "rprivate") + UNSUPPORTED_PROPAGATION:
            raise VolumeError(f'invalid --mount "{spec}": invalid propagation mode: {propagation}', status=400)
        if propagation.lower() in UNSUPPORTED_PROPAGATION:
            raise VolumeError(f'invalid --mount "{spec}": bind-propagation={propagation}: {PROPAGATION_NOTE}',
                              status=400)
        if not source.startswith("/"):
            raise VolumeError(f'invalid --mount "{spec}": a bind source must be an absolute path', status=400)
        if not os.path.exists(source):
            raise VolumeError(f'invalid mount config for type "bind": bind source path does not exist: {source}',
                              status=400)
        m = {"Type": "bind", "Source": os.path.normpath(source), "Target": os.path.normpath(target), "ReadOnly": ro}
    elif t == "volume":
        nocopy = kv.pop("volume-nocopy", "false").lower() in ("1", "true", "")
        if source and not NAME_RE.fullmatch(source):
            raise VolumeError(f'invalid --mount "{spec}": "{source}" is not a volume name', status=400)
        m = {"Type": "volume", "Name": source or None, "Target": os.path.normpath(target), "ReadOnly": ro,
             "Anonymous": not source, "NoCopy": nocopy}
    elif t == "tmpfs":
        if source:
            raise VolumeError(f'invalid --mount "{spec}": tmpfs takes no source', status=400)
        opts = []
        if "tmpfs-size" in kv:
            from .units import UnitError, parse_size as parse_size_checked
            try:
                opts.append(f"size={parse_size_checked(kv.pop('tmpfs-size'))}")
            except UnitError as e:
                raise VolumeError(f'invalid --mount "{spec}": {e}', status=400) from None
        if "tmpfs-mode" in kv:
            mode = kv.pop("tmpfs-mode")
            if not re.fullmatch(r"[0-7]{1,4}", mode):
                raise VolumeError(f'invalid --mount "{spec}": tmpfs-mode must be octal', status=400)
            opts.append(f"mode={mode}")
        m = {"Type": "tmpfs", "Target": os.path.normpath(target), "ReadOnly": ro, "Options": opts}
    else:
        raise VolumeError(f'invalid --mount "{spec}": type must be bind, volume or tmpfs', status=400)
    if kv:
        raise VolumeError(f'invalid --mount "{spec}": unknown field {sorted(kv)[0]}', status=400)
    return m


TMPFS_FLAGS = {"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec"}


def parse_tmpfs_flag(spec: str) -> dict:
    """``--tmpfs /path[:opts]`` (docker's defaults: noexec, nosuid, nodev)."""
    target, _, opts = spec.partition(":")
    if not target.startswith("/") or target == "/":
        raise VolumeError(f'invalid --tmpfs "{spec}": the path must be absolute and not /', status=400)
    out = []
    for o in filter(None, opts.split(",")):
        k, _, v = o.partition("=")
        if o in TMPFS_FLAGS:
            out.append(o)
        elif k == "size":
            from .units import UnitError, parse_size as parse_size_checked
            try:
                out.append(f"size={parse_size_checked(v)}")
            except UnitError as e:
                raise VolumeError(f'invalid --tmpfs "{spec}": {e}', status=400) from None
        elif k in ("mode", "uid", "gid", "nr_inodes") and v.isdigit():
            out.append(o)
        else:
            raise VolumeError(f'invalid --tmpfs "{spec}": unknown option "{o}"', status=400)
    return {"Type": "tmpfs", "Target": os.path.normpath(target), "ReadOnly": "ro" in out,
            "Options": [o for o in out if o not in ("ro", "rw")]}


def docker_mounts(mounts: list[dict]) -> list[dict]:
    """inspect's Mounts."""
    out = []
    for m in mounts:
        d = {"Type": m["Type"], "Source": m.get("Source", ""), "Destination": m["Target"],
             "Mode": "ro" if m.get("ReadOnly") else "", "RW": not m.get("ReadOnly"), "Propagation": "rprivate"}
        if m["Type"] == "volume":
            d.update(Name=m["Name"], Driver="local", Mode="z" if not m.get("ReadOnly") else "ro")
        if m["Type"] == "tmpfs":
            d["Source"] = ""
        out.append(d)
    return out
