"""A build's image states, and the layers its steps make.

A state is an OCI image config (its `rootfs.diff_ids` name the layers); it is the image
a step starts from and the one it leaves.  Layers go into the store's `layers/` as any
image's do: the store has no layer without an image, so a new layer is brought in with a
carrier (an untagged image of the state with a one-off `dunnage.carrier` key, hence an id
of its own), which is then removed with the layers the build cache needs kept.  The same
carrier, without the state's volumes and health check, is what a RUN step's container is
made from.

Layer tars are written in a fixed order with fixed metadata (names sorted, numeric owners
without names, no access or change times) and, with a SOURCE_DATE_EPOCH, modification
times clamped to it, as BuildKit's rewrite-timestamp does: the same files give the same
diff id."""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import os
import secrets
import tarfile
from pathlib import Path
from typing import Callable, Iterable, Optional

from dunnage.core.images import oci
from dunnage.core.images.store import ImageError, now_iso
from dunnage.core.lifecycle.discard import lowers_in_use

SKIP_PREFIX = ".wh..dunnage-tmp."  # the union filesystem's copy-up names in flight


def iso(epoch: Optional[int]) -> str:
    if epoch is None:
        return now_iso()
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat().replace("+00:00", "Z")


def scratch_config() -> dict:
    _, arch, variant = oci.host_platform()
    cfg = {"architecture": arch, "os": "linux", "config": {"Env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
    if variant:
        cfg["variant"] = variant
    return cfg


def raw(config: dict) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def digest(config: dict) -> str:
    return oci.digest_of(raw(config))


def chains(config: dict) -> list[str]:
    return oci.chain_ids(config["rootfs"]["diff_ids"])


class TarWriter:
    """A layer tar written to PATH in a fixed form, hashed as it goes (its diff id)."""

    def __init__(self, path: Path, epoch: Optional[int]):
        self.path, self.epoch = path, epoch
        self.f = open(path, "wb")
        self.h = hashlib.sha256()
        self.tf = tarfile.open(fileobj=self, mode="w|", format=tarfile.PAX_FORMAT)
        self.count = 0

    def write(self, b) -> int:
        self.h.update(b)
        return self.f.write(b)

    def fix(self, ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uname = ti.gname = ""
        ti.mtime = int(ti.mtime)
        if self.epoch is not None and ti.mtime > self.epoch:
            ti.mtime = self.epoch
        ti.pax_headers = {k: v for k, v in ti.pax_headers.items() if k.startswith("SCHILY.xattr.")}
        return ti

    def add_info(self, ti: tarfile.TarInfo, fileobj=None) -> None:
        self.tf.addfile(self.fix(ti), fileobj)
        self.count += 1

    def add_path(self, full: str, arcname: str, xattrs: bool = True) -> None:
        """FULL (never followed: a link is stored as a link) as ARCNAME, with its xattrs."""
        ti = self.tf.gettarinfo(full, arcname)
        if xattrs:
            try:
                for k in sorted(os.listxattr(full, follow_symlinks=False)):
                    ti.pax_headers["SCHILY.xattr." + k] = os.getxattr(full, k, follow_symlinks=False).decode(
                        "utf-8", "surrogateescape")
            except OSError:
                pass
        if ti.isreg():
            with open(full, "rb") as f:
                self.add_info(ti, f)
        else:
            self.add_info(ti)

    def close(self) -> str:
        self.tf.close()
        self.f.close()
        return "sha256:" + self.h.hexdigest()

    def abort(self) -> None:
        try:
            self.f.close()
        finally:
            self.path.unlink(missing_ok=True)


def tar_tree(tw: TarWriter, top: str) -> None:
    """Every entry under TOP (an upper directory: an OCI diff as it stands), sorted."""
    for dirpath, dirs, files in os.walk(top):
        dirs.sort()
        names = sorted(n for n in dirs + files if not n.startswith(SKIP_PREFIX))
        dirs[:] = [d for d in dirs if not d.startswith(SKIP_PREFIX)]
        for n in names:
            full = os.path.join(dirpath, n)
            tw.add_path(full, os.path.relpath(full, top))


def protected(engine, keep: Iterable[str]) -> frozenset:
    """The lower paths a removal must leave: KEEP's chain ids, and whatever a container stands on."""
    return frozenset({str(engine.store.layer_dir(c) / "diff") for c in keep}) | frozenset(lowers_in_use(engine.store))


class Carrier:
    """An untagged image of a state, made to bring a layer into the store or to make a
    RUN container from, and removed again (its layers kept where KEEP says)."""

    def __init__(self, engine, config: dict, runtime: bool = False):
        self.engine = engine
        cfg = copy.deepcopy(config)
        if runtime:  # a RUN has no volumes and no health check
            inner = cfg.setdefault("config", {})
            for k in ("Volumes", "Healthcheck", "Entrypoint", "Cmd", "ExposedPorts"):
                inner.pop(k, None)
        cfg["dunnage.carrier"] = secrets.token_hex(16)
        self.config = cfg
        self.id: Optional[str] = None

    def add(self, layer: Optional[Path] = None):
        def open_layer(i: int):
            if layer is None:
                raise ImageError("a layer of the build is missing from the store (removed meanwhile?)")
            return layer
        img = self.engine.images.add_image(raw(self.config), open_layer, [])
        self.id = img.id
        return img

    def remove(self, keep: "Iterable[str] | Callable[[], Iterable[str]]") -> None:
        """The carrier goes; its layers stay where KEEP (chain ids, or a function giving them
        now: the build cache as another build may have added to it), an image or a container
        needs them."""
        if self.id is None:
            return
        keep = set(keep() if callable(keep) else keep)
        try:
            self.engine.images.remove(self.id, {}, force=True, container_lowers=protected(self.engine, keep))
        except ImageError:
            pass
        self.id = None


def has_layers(engine, config: dict) -> bool:
    return all(engine.images.has_layer(c) for c in chains(config))


def add_layer(engine, config: dict, tar: Path, keep: Callable[[], Iterable[str]]) -> None:
    """Bring TAR, the top layer of CONFIG, into the store (KEEP: the chain ids to keep)."""
    car = Carrier(engine, config)
    try:
        car.add(tar)
    finally:
        car.remove(lambda: set(keep()) | set(chains(config)))
