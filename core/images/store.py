"""Images: the index (name:tag -> image id) and image records over shared layers."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional

from ..store import Store, read_record, write_record
from .unpack import LayerError, unpack_layer


class ImageError(Exception):
    pass


_REF = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def parse_ref(ref: str) -> tuple[str, str]:
    """'name[:tag]' -> (name, tag); tag defaults to latest, as docker's."""
    name, tag = ref, "latest"
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1:]
    if not name or not _REF.match(name) or not _TAG.match(tag):
        raise ImageError(f'invalid reference format: "{ref}"')
    return name, tag


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Image:
    id: str                 # sha256:<hex> of the config
    tags: list
    config: dict            # the OCI image config
    layers: list            # chain ids, bottom first
    size: int
    created: str

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]


class ImageStore:
    def __init__(self, store: Store):
        self.store = store

    # ---- index ----
    def _load(self) -> dict:
        if not self.store.image_index.exists():
            return {"images": {}, "tags": {}}
        return read_record(self.store.image_index)

    def _save(self, idx: dict) -> None:
        write_record(self.store.image_index, idx)

    def list(self) -> list[Image]:
        idx = self._load()
        return [Image(**rec) for rec in idx["images"].values()]

    def get(self, ref: str) -> Image:
        """Find an image by name[:tag], full or short id."""
        idx = self._load()
        r = ref
        if r.startswith("sha256:"):
            r = r[7:]
        if re.fullmatch(r"[0-9a-f]{4,64}", r):
            hits = [rec for iid, rec in idx["images"].items() if iid[7:].startswith(r)]
            if len(hits) == 1:
                return Image(**hits[0])
        try:
            name, tag = parse_ref(ref)
        except ImageError:
            raise ImageError(f"No such image: {ref}") from None
        iid = idx["tags"].get(f"{name}:{tag}")
        if iid is None:
            raise ImageError(f"No such image: {ref}")
        return Image(**idx["images"][iid])

    def layer_paths(self, img: Image) -> list[str]:
        """Layer diff directories, topmost first (the order a union mount wants)."""
        return [str(self.store.layer_dir(c) / "diff") for c in reversed(img.layers)]

    # ---- import ----
    def import_tarball(self, stream: BinaryIO, ref: Optional[str], changes: Optional[dict] = None) -> Image:
        """docker import: a root filesystem tarball becomes a one-layer image."""
        if ref:
            name, tag = parse_ref(ref)
        tmp = self.store.tempdir("import-")
        try:
            diff = tmp / "diff"
            try:
                diff_id, size = unpack_layer(stream, diff)
            except LayerError as e:
                raise ImageError(str(e)) from None
            chain_id = diff_id  # one layer: chain id = diff id
            config = {
                "created": now_iso(),
                "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
                "os": "linux",
                "config": dict(changes or {}),
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": now_iso(), "created_by": "dunnage import", "comment": "Imported from tarball"}],
            }
            config.setdefault("config", {}).setdefault("Env", ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
            raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
            iid = "sha256:" + hashlib.sha256(raw).hexdigest()
            with self.store.lock("images"):
                ldir = self.store.layer_dir(chain_id)
                if not ldir.exists():
                    write_record(tmp / "meta.msgpack", {"diff_id": diff_id, "size": size, "parent": None})
                    os.rename(tmp, ldir)
                    tmp = None
                blob = self.store.blobs / iid[7:]
                if not blob.exists():
                    from ..store import atomic_write_bytes
                    atomic_write_bytes(blob, raw)
                idx = self._load()
                tags = []
                if ref:
                    full = f"{name}:{tag}"
                    old = idx["tags"].get(full)
                    if old and old != iid and old in idx["images"]:
                        idx["images"][old]["tags"] = [t for t in idx["images"][old]["tags"] if t != full]
                    idx["tags"][full] = iid
                    tags = [full]
                rec = idx["images"].get(iid)
                if rec:
                    rec["tags"] = sorted(set(rec["tags"]) | set(tags))
                else:
                    rec = {"id": iid, "tags": tags, "config": config, "layers": [chain_id],
                           "size": size, "created": config["created"]}
                    idx["images"][iid] = rec
                self._save(idx)
            return Image(**rec)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    # ---- remove ----
    def remove(self, ref: str, in_use: set[str], force: bool = False) -> list[str]:
        """rmi: untag REF; delete the image when no tag is left.  Returns docker-style lines."""
        with self.store.lock("images"):
            img = self.get(ref)
            idx = self._load()
            rec = idx["images"][img.id]
            out = []
            try:
                name, tag = parse_ref(ref)
                full = f"{name}:{tag}"
            except ImageError:
                full = None
            by_name = full is not None and full in rec["tags"]
            if by_name and len(rec["tags"]) > 1:
                rec["tags"].remove(full)
                idx["tags"].pop(full, None)
                self._save(idx)
                return [f"Untagged: {full}"]
            if img.id in in_use and not force:
                raise ImageError(f"conflict: unable to remove image {ref} (must force) - image is being used by a container")
            for t in rec["tags"]:
                idx["tags"].pop(t, None)
                out.append(f"Untagged: {t}")
            del idx["images"][img.id]
            self._save(idx)
            out.append(f"Deleted: {img.id}")
            # drop layers no other image uses
            used = {c for r in idx["images"].values() for c in r["layers"]}
            for c in img.layers:
                if c not in used:
                    d = self.store.layer_dir(c)
                    if d.exists():
                        trash = self.store.tempdir("rm-")
                        os.rename(d, trash / "layer")
                        shutil.rmtree(trash, ignore_errors=True)
            blob = self.store.blobs / img.id[7:]
            if blob.exists():
                blob.unlink()
            return out
