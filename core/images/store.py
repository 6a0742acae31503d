"""Images: the index (name:tag -> image id) and image records over shared layers."""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from ..store import Store, atomic_write_bytes, read_record, write_record
from . import oci
from .reference import ImageError, parse_ref  # noqa: F401  (the store's names: reference.py)
from .unpack import LayerError, SourceBroke, unpack_layer


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _Tee(io.RawIOBase):
    """Reads from a stream while hashing what passed (and copying it to OUT, if given).
    A fault of the stream itself is raised as SourceBroke, apart from the archive's.
    A stream that starts as no gzip or zstd does is the tar itself: the unpacker
    hashes it whole into its diff id, which is then its digest too, and it is not
    hashed twice (H None)."""

    def __init__(self, f: BinaryIO, out):
        super().__init__()
        self.f, self.out, self.h, self.n = f, out, hashlib.sha256(), 0

    def digest(self, diff_id: str) -> str:
        return diff_id if self.h is None else "sha256:" + self.h.hexdigest()

    def read(self, size: int = -1) -> bytes:
        try:
            b = self.f.read(size)
        except SourceBroke:
            raise
        except Exception as e:  # noqa: BLE001 - the source's, whatever it is
            raise SourceBroke(e) from e
        if b:
            if self.out is not None:
                self.out.write(b)
            if self.n == 0 and len(b) >= 4 and b[:2] != b"\x1f\x8b" and b[:4] != b"\x28\xb5\x2f\xfd":
                self.h = None
            if self.h is not None:
                self.h.update(b)
            self.n += len(b)
        return b

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        b = self.read(len(buf))
        buf[:len(b)] = b
        return len(b)


@dataclass
class Image:
    id: str                 # sha256:<hex> of the config
    tags: list
    config: dict            # the OCI image config
    layers: list            # chain ids, bottom first
    size: int
    created: str
    digests: list = None    # repository digests (name@sha256:...) of manifests it was pulled by

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

    def has(self, image_id: str) -> bool:
        return image_id in self._load()["images"]

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
            raise ImageError(f"No such image: {ref}", status=404) from None
        iid = idx["tags"].get(f"{name}:{tag}")
        if iid is None:
            raise ImageError(f"No such image: {ref}", status=404)
        return Image(**idx["images"][iid])

    def layer_paths(self, img: Image) -> list[str]:
        """Layer diff directories, topmost first (the order a union mount wants)."""
        return [str(self.store.layer_dir(c) / "diff") for c in reversed(img.layers)]

    # ---- adding images ----
    def _commit(self, config_raw: bytes, staged: list[tuple[Path, str]], tags: list[str],
                repo_digests: list[str] = ()) -> Image:
        """Move staged layers into place and record the image, under the images lock."""
        config = oci.parse_config(config_raw)
        iid = oci.digest_of(config_raw)
        chains = oci.chain_ids(config["rootfs"]["diff_ids"])
        with self.store.lock("images"):
            for tmp, chain in staged:
                ldir = self.store.layer_dir(chain)
                if not ldir.exists():
                    meta = read_record(tmp / "meta.msgpack")
                    blob = self.store.blobs / meta["blob"][7:]
                    if (tmp / "blob").exists():
                        if blob.exists():
                            (tmp / "blob").unlink()
                        else:
                            os.rename(tmp / "blob", blob)
                    os.rename(tmp, ldir)
            missing = [c for c in chains if not (self.store.layer_dir(c) / "diff").is_dir()]
            if missing:
                raise ImageError(f"layer {missing[0]} is missing from the store", status=500)
            blob = self.store.blobs / iid[7:]
            if not blob.exists():
                atomic_write_bytes(blob, config_raw)
            idx = self._load()
            for full in tags:
                old = idx["tags"].get(full)
                if old and old != iid and old in idx["images"]:
                    idx["images"][old]["tags"] = [t for t in idx["images"][old]["tags"] if t != full]
                idx["tags"][full] = iid
            rec = idx["images"].get(iid)
            size = sum(read_record(self.store.layer_dir(c) / "meta.msgpack").get("size", 0) for c in chains)
            if rec:
                rec["tags"] = sorted(set(rec["tags"]) | set(tags))
                rec["digests"] = sorted(set(rec.get("digests") or []) | set(repo_digests))
            else:
                rec = {"id": iid, "tags": list(tags), "config": config, "layers": chains, "size": size,
                       "created": config.get("created") or now_iso(), "digests": list(repo_digests)}
                idx["images"][iid] = rec
            self._save(idx)
        return Image(**rec)

    def stage_layer(self, source: "BinaryIO | Path", diff_id: Optional[str],
                    blob_digest: Optional[str] = None) -> tuple[Path, str, int]:
        """Unpack one layer into a staging directory, keeping the archive as it
        came (the blob that save and push hand on).  SOURCE is a stream (copied
        aside as it is read: a registry's body is downloaded, hashed, inflated
        and unpacked at once) or a file of our own staging area (hard-linked,
        not copied).  The stream must hash to BLOB_DIGEST when given, and the
        tar to DIFF_ID.  Returns (dir, diff id, size); on any fault nothing stays."""
        tmp = self.store.tempdir("layer-")
        try:
            if isinstance(source, Path):
                # hashed as it is unpacked, not in a second pass
                with open(source, "rb") as f:
                    tee = _Tee(f, None)
                    got, size = unpack_layer(tee, tmp / "diff", diff_id)
                    while tee.read(1 << 20):
                        pass
                os.link(source, tmp / "blob")  # same file system: no copy, and the source stays usable
            else:
                with open(os.open(tmp / "blob", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as bf:
                    tee = _Tee(source, bf)
                    got, size = "", 0
                    try:
                        got, size = unpack_layer(tee, tmp / "diff", diff_id)
                    except LayerError:
                        if blob_digest is None:
                            raise
                        # content that is not what was asked for (cut short, corrupt) says so,
                        # rather than what it made of the layer
                        while tee.read(1 << 20):
                            pass
                        if tee.h is None or "sha256:" + tee.h.hexdigest() == blob_digest:
                            raise
                    while tee.read(1 << 20):
                        pass
            got_digest, blob_size = tee.digest(got), tee.n
            if blob_digest is not None and got_digest != blob_digest:
                raise ImageError(f"blob {blob_digest}: downloaded content does not match its digest "
                                 "(truncated or corrupt)", status=500)
            blob_digest = got_digest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._record_staged(tmp, got, size, blob_digest, blob_size)
        return tmp, got, size

    def stage_tree(self, diff: Path, tar: Path, diff_id: str, size: int) -> Path:
        """A layer whose tree DIFF (a directory of our staging area, moved in) was made
        alongside its uncompressed archive TAR (hard-linked as the blob): what stage_layer
        would have made of TAR, without unpacking it again (a build's COPY and RUN)."""
        tmp = self.store.tempdir("layer-")
        try:
            os.rename(diff, tmp / "diff")
            os.link(tar, tmp / "blob")
            self._record_staged(tmp, diff_id, size, diff_id, tar.stat().st_size)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp

    def _record_staged(self, tmp: Path, diff_id: str, size: int, blob_digest: str, blob_size: int) -> None:
        with open(tmp / "blob", "rb") as f:
            magic = f.read(4)
        comp = "gzip" if magic[:2] == b"\x1f\x8b" else ("zstd" if magic == b"\x28\xb5\x2f\xfd" else "none")
        write_record(tmp / "meta.msgpack", {"diff_id": diff_id, "size": size, "blob": blob_digest,
                                            "blob_size": blob_size, "compression": comp})

    def prestage(self, source: BinaryIO) -> tuple[Path, str, int, str, int]:
        """Unpack a layer from SOURCE before it is known to be one (an image archive's
        file as it is read; its blob comes later, by adopt).  Returns (dir, diff id,
        size, blob digest, blob size); on any fault nothing stays."""
        tmp = self.store.tempdir("layer-")
        try:
            tee = _Tee(source, None)
            diff_id, size = unpack_layer(tee, tmp / "diff", None)
            while tee.read(1 << 20):
                pass
            return tmp, diff_id, size, tee.digest(diff_id), tee.n
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def adopt(self, pre: tuple[Path, str, int, str, int], blob: Path) -> Path:
        """A prestaged layer with its archive BLOB (a file of our staging area, the
        one it was unpacked from) linked in: what stage_layer would have made of BLOB."""
        tmp, diff_id, size, blob_digest, blob_size = pre
        os.link(blob, tmp / "blob")
        self._record_staged(tmp, diff_id, size, blob_digest, blob_size)
        return tmp

    def layer_meta(self, chain_id: str) -> dict:
        return read_record(self.store.layer_dir(chain_id) / "meta.msgpack")

    def layer_blob(self, chain_id: str) -> tuple[Path, dict]:
        """The archive a layer came in (what save and push hand on), and its metadata."""
        meta = self.layer_meta(chain_id)
        p = self.store.blobs / meta["blob"][7:] if meta.get("blob") else None
        if p is None or not p.is_file():
            raise ImageError(f"layer {chain_id[7:19]} was stored without its archive (imported by an older "
                             "dunnage): pull or load the image again", status=404)
        return p, meta

    def manifest(self, img: Image) -> tuple[bytes, bytes, list[tuple[Path, dict]]]:
        """An OCI manifest for IMG over the stored blobs: (manifest, config, [(blob file, descriptor)])."""
        config_raw = (self.store.blobs / img.id[7:]).read_bytes()
        layers = []
        for chain in img.layers:
            blob, meta = self.layer_blob(chain)
            layers.append((blob, {"mediaType": oci.layer_media_type(meta.get("compression", "none")),
                                  "digest": meta["blob"], "size": blob.stat().st_size}))
        man = json.dumps({"schemaVersion": 2, "mediaType": oci.MT_OCI_MANIFEST,
                          "config": {"mediaType": oci.MT_OCI_CONFIG, "digest": img.id, "size": len(config_raw)},
                          "layers": [d for _, d in layers]}, separators=(",", ":")).encode()
        return man, config_raw, layers

    def has_layer(self, chain_id: str) -> bool:
        return (self.store.layer_dir(chain_id) / "diff").is_dir()

    def add_image(self, config_raw: bytes, open_layer, tags: list[str], repo_digests: list[str] = (),
                  parallel: int = 1) -> Image:
        """Add an image from its config and a callable giving layer I's archive: a
        stream, or a file in our staging area that may be moved into the store.
        Layers already in the store (same chain id) are not fetched again."""
        def stage(i: int, diff_id: str) -> Path:
            src = open_layer(i)
            if isinstance(src, Path):
                return self.stage_layer(src, diff_id)[0]
            with src as f:
                return self.stage_layer(f, diff_id)[0]
        return self.add_staged(config_raw, stage, tags, repo_digests, parallel)

    def add_staged(self, config_raw: bytes, stage: Callable[[int, str], Path], tags: list[str],
                   repo_digests: list[str] = (), parallel: int = 1, cancel: Optional[threading.Event] = None) -> Image:
        """Add an image from its config, STAGE(i, diff id) unpacking layer I into a
        staging directory (stage_layer's).  The layers the store lacks are staged
        PARALLEL at a time, and the image is recorded only once every one is whole:
        on any fault (or ctrl-c) CANCEL is set for the stages still running, and no
        staged layer stays."""
        config = oci.parse_config(config_raw)
        diff_ids = config["rootfs"]["diff_ids"]
        todo = [(i, d, chain) for i, (d, chain) in enumerate(zip(diff_ids, oci.chain_ids(diff_ids)))
                if not self.has_layer(chain)]
        staged: list[tuple[Path, str]] = []
        cancel = cancel or threading.Event()

        def one(i: int, d: str, chain: str) -> None:
            if not cancel.is_set():
                staged.append((stage(i, d), chain))  # list.append is atomic
        try:
            try:
                if parallel > 1 and len(todo) > 1:
                    ex = ThreadPoolExecutor(max_workers=min(parallel, len(todo)), thread_name_prefix="stage")
                    try:
                        futures = [ex.submit(one, *t) for t in todo]
                        wait(futures, return_when=FIRST_EXCEPTION)  # the first fault stops the others
                        for f in sorted(futures, key=lambda f: not (f.done() and f.exception())):
                            f.result()
                    except BaseException:
                        cancel.set()
                        raise
                    finally:
                        ex.shutdown(wait=True, cancel_futures=True)
                else:
                    for t in todo:
                        one(*t)
            except BaseException:
                cancel.set()
                raise
            return self._commit(config_raw, staged, tags, repo_digests)
        finally:
            for tmp, _ in staged:
                shutil.rmtree(tmp, ignore_errors=True)

    def commit_layer(self, parent: Image, upper: Path, ref: Optional[str], changes: Optional[dict] = None,
                     comment: str = "", author: str = "", created_by: str = "") -> Image:
        """docker commit: UPPER (an OCI layer diff as it stands: whiteouts included)
        becomes a new layer on top of PARENT's."""
        import tarfile as _tarfile
        import threading
        tags = [":".join(parse_ref(ref))] if ref else []
        r, w = os.pipe()
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                with os.fdopen(w, "wb") as out, _tarfile.open(fileobj=out, mode="w|", format=_tarfile.PAX_FORMAT) as tf:
                    for dirpath, dirs, files in os.walk(upper):
                        dirs.sort()
                        for n in sorted(dirs + files):
                            if n.startswith(".wh..dunnage-tmp."):
                                continue
                            full = os.path.join(dirpath, n)
                            tf.add(full, arcname=os.path.relpath(full, upper), recursive=False)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        with os.fdopen(r, "rb") as f:
            tmp, diff_id, size = self.stage_layer(f, None)
        t.join()
        try:
            if errors:
                raise ImageError(f"commit: reading the container's changes: {errors[0]}", status=500)
            config = json.loads(json.dumps(parent.config))
            config["created"] = now_iso()
            config["rootfs"]["diff_ids"] = list(config["rootfs"]["diff_ids"]) + [diff_id]
            changes = dict(changes or {})
            if "Env" in changes:  # ENV adds to the parent's environment
                env = {e.partition("=")[0]: e for e in config.get("config", {}).get("Env") or []}
                env.update({e.partition("=")[0]: e for e in changes.pop("Env")})
                changes["Env"] = list(env.values())
            config.setdefault("config", {}).update(changes)
            if author:
                config["author"] = author
            hist = list(config.get("history") or [])
            hist.append({"created": config["created"], "created_by": created_by, "comment": comment})
            config["history"] = hist
            raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
            chain = oci.chain_ids(config["rootfs"]["diff_ids"])[-1]
            return self._commit(raw, [(tmp, chain)], tags)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def import_tarball(self, stream: BinaryIO, ref: Optional[str], changes: Optional[dict] = None) -> Image:
        """docker import: a root filesystem tarball becomes a one-layer image."""
        tags = [":".join(parse_ref(ref))] if ref else []
        tmp, diff_id, size = self.stage_layer(stream, None)
        try:
            cfg = dict(changes or {})
            cfg.setdefault("Env", ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
            config = {
                "created": now_iso(),
                "architecture": oci.host_platform()[1],
                "os": "linux",
                "config": cfg,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": now_iso(), "created_by": "dunnage import", "comment": "Imported from tarball"}],
            }
            raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
            return self._commit(raw, [(tmp, diff_id)], tags)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def tag(self, src: str, target: str) -> Image:
        img = self.get(src)
        name, tag = parse_ref(target)
        full = f"{name}:{tag}"
        with self.store.lock("images"):
            idx = self._load()
            old = idx["tags"].get(full)
            if old and old != img.id and old in idx["images"]:
                idx["images"][old]["tags"] = [t for t in idx["images"][old]["tags"] if t != full]
            idx["tags"][full] = img.id
            rec = idx["images"][img.id]
            if full not in rec["tags"]:
                rec["tags"].append(full)
            self._save(idx)
            return Image(**rec)

    def prune(self, in_use: set[str], all_: bool = False, container_lowers: frozenset = frozenset(),
              select=None) -> list[str]:
        """Remove dangling images (no tag), or with ALL_ every image no container uses; with
        SELECT(image), only those it lets go (prune --filter)."""
        out = []
        for img in self.list():
            if img.id in in_use or (img.tags and not all_) or (select is not None and not select(img)):
                continue
            for t in list(img.tags):
                out += self.remove(t, {}, force=False, container_lowers=container_lowers)
            if not img.tags:
                out += self.remove(img.id, {}, force=False, container_lowers=container_lowers)
        return out

    # ---- remove ----
    def remove(self, ref: str, in_use: dict[str, bool], force: bool = False,
               container_lowers: frozenset = frozenset()) -> list[str]:
        """rmi: untag REF; delete the image when no tag is left.  Returns docker-style lines.

        IN_USE maps the ids of images containers use to whether one of them runs. As docker:
        an image a running container uses cannot be removed, even with FORCE; one only
        stopped containers use needs FORCE, and then the layers those containers stand on
        stay (CONTAINER_LOWERS) until the last of them is removed."""
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
            short = img.id[7:19]
            if in_use.get(img.id):
                raise ImageError(f"conflict: unable to delete {short} (cannot be forced) - "
                                 "image is being used by running container", status=409)
            if img.id in in_use and not force:
                raise ImageError(f"conflict: unable to delete {short} (must be forced) - "
                                 "image is being used by stopped container", status=409)
            for t in rec["tags"]:
                idx["tags"].pop(t, None)
                out.append(f"Untagged: {t}")
            del idx["images"][img.id]
            self._save(idx)
            out.append(f"Deleted: {img.id}")
            self._drop_unused_layers(idx, img.layers, container_lowers)
            blob = self.store.blobs / img.id[7:]
            if blob.exists():
                blob.unlink()
            return out

    def _drop_unused_layers(self, idx: dict, candidates, container_lowers: frozenset) -> None:
        """Delete the layers among CANDIDATES that no image lists and no container stands on."""
        used = {c for r in idx["images"].values() for c in r["layers"]}
        for c in candidates:
            d = self.store.layer_dir(c)
            if c in used or str(d / "diff") in container_lowers or not d.exists():
                continue
            try:
                lblob = read_record(d / "meta.msgpack").get("blob")
                if lblob:
                    (self.store.blobs / lblob[7:]).unlink(missing_ok=True)
            except (OSError, KeyError):
                pass
            trash = self.store.tempdir("rm-")
            os.rename(d, trash / "layer")
            shutil.rmtree(trash, ignore_errors=True)

    def release_layers(self, lowers: list[str], container_lowers: frozenset) -> None:
        """A container went: the layers it stood on go too if nothing else needs them
        (an image removed with rmi -f while the container stayed)."""
        chains = [f"sha256:{os.path.basename(os.path.dirname(lo))}" for lo in lowers
                  if os.path.dirname(os.path.dirname(lo)) == str(self.store.layers)]
        if chains:
            with self.store.lock("images"):
                self._drop_unused_layers(self._load(), chains, container_lowers)
