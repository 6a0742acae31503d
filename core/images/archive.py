"""dunnage load: docker-archive (docker save, podman save) and OCI image layouts
(directory, or tar as written by skopeo's oci-archive and docker save).

The archive is unpacked into a staging directory first (unpack.unpack_archive:
every entry made beneath it, no symlink followed), then every manifest, config
and layer is checked against its digest before the image is recorded.  Files
named by the archive's JSON are opened by the kernel beneath its directory
(openat2's RESOLVE_BENEATH), so no name or symlink in it leads outside."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tarfile
import threading
from pathlib import Path
from typing import BinaryIO, Optional

from . import oci
from .store import Image, ImageError, ImageStore, parse_ref
from .unpack import _RESOLVE_BENEATH, _RESOLVE_NO_MAGICLINKS, HOST_ERRNOS, LayerError, Pipe, openat2, unpack_archive

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def _read(path: Path, limit: int = 64 << 20) -> bytes:
    try:
        if path.is_symlink() or not path.is_file():
            raise ImageError(f"archive: {path.name} is missing or not a file", status=400)
        if path.stat().st_size > limit:
            raise ImageError(f"archive: {path.name} is too large for a JSON document", status=400)
        return path.read_bytes()
    except OSError as e:
        raise ImageError(f"archive: cannot read {path.name}: {e.strerror}", status=500) from None


def _inside(root: Path, rel: str) -> Optional[Path]:
    """REL under ROOT, as the path the kernel resolves it to without leaving ROOT
    (its symlinks followed only while they stay inside: docker save links layers
    it holds twice); None if REL names nothing."""
    try:
        rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise ImageError(f"archive: cannot read {root}: {e.strerror}", status=500) from None
    try:
        fd = openat2(rfd, rel, os.O_PATH, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    except OSError as e:
        if e.errno == errno.EXDEV:
            raise ImageError(f"archive: path {rel!r} points outside the archive", status=400) from None
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise ImageError(f"archive: cannot read {rel}: {e.strerror}", status=500) from None
    finally:
        os.close(rfd)
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)


def _verified_blob(root: Path, digest: str) -> Path:
    """The blob file for DIGEST, after hashing it."""
    import hashlib
    oci.check_digest(digest)
    p = _inside(root, f"blobs/sha256/{digest[7:]}")
    if p is None or not p.is_file():
        raise ImageError(f"archive: blob {digest} is missing", status=400)
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if "sha256:" + h.hexdigest() != digest:
        raise ImageError(f"archive: blob {digest} does not match its digest", status=400)
    return p


def _tag_of(name: str | None) -> str | None:
    if not name:
        return None
    name = name.removeprefix("docker.io/library/").removeprefix("docker.io/")
    if "@" in name:
        return None
    try:
        return ":".join(parse_ref(name))
    except ImageError:
        return None


def _stager(store: ImageStore, layers: list[Path], movable: bool, pre: "_Prestager | None"):
    """add_staged's STAGE for the layer files LAYERS: a layer unpacked while the archive
    was, or the file unpacked now (files of an archive we unpacked into staging are
    linked as the blobs; a directory the user gave is copied from)."""
    def stage(i: int, diff_id: str) -> Path:
        if pre is not None:
            tmp = pre.take(layers[i], diff_id)
            if tmp is not None:
                return tmp
        if movable:
            return store.stage_layer(layers[i], diff_id)[0]
        with open(layers[i], "rb") as f:
            return store.stage_layer(f, diff_id)[0]
    return stage


class _Prestager:
    """Layers unpacked while the archive is: each big file of it is handed, as it is
    written, to a thread that unpacks it as a layer, before the manifest says which
    files are layers (docker save writes manifest.json last).  The ones a manifest
    names with their diff id are adopted; what else was made goes.  A file that was
    no layer, or a hostile one, is only dropped here: unpacked again from the file,
    it fails there with the error it earns."""

    MIN = 1 << 20

    def __init__(self, store: ImageStore, dest: Path):
        self.store, self.dest = store, dest
        self.jobs: dict[str, tuple[threading.Thread, list]] = {}

    def tap(self, name: str, size: int) -> Optional[Pipe]:
        if size < self.MIN:
            return None
        pipe, out = Pipe(), []

        def run() -> None:
            try:
                out.append(self.store.prestage(pipe))
            except BaseException as e:  # noqa: BLE001 - any fault: the file is unpacked again if it is a layer
                out.append(e)
            finally:
                pipe.close()
        t = threading.Thread(target=run, name="prestage", daemon=True)
        t.start()
        self.jobs[os.path.realpath(self.dest / name)] = (t, out)
        return pipe

    def take(self, path: Path, diff_id: str) -> Optional[Path]:
        job = self.jobs.pop(str(path), None)
        if job is None:
            return None
        job[0].join()
        got = job[1][0]
        if isinstance(got, BaseException):
            return None
        if got[1] != diff_id:
            shutil.rmtree(got[0], ignore_errors=True)
            return None
        return self.store.adopt(got, path)

    def close(self) -> None:
        for t, out in self.jobs.values():
            t.join()
            if out and not isinstance(out[0], BaseException):
                shutil.rmtree(out[0][0], ignore_errors=True)
        self.jobs.clear()


def load_docker_archive(store: ImageStore, root: Path, movable: bool = False,
                        pre: Optional[_Prestager] = None) -> list[tuple[Image, list[str]]]:
    try:
        manifest = json.loads(_read(root / "manifest.json"))
    except ValueError as e:
        raise ImageError(f"archive: malformed manifest.json: {e}", status=400) from None
    if not isinstance(manifest, list) or not manifest:
        raise ImageError("archive: manifest.json lists no images", status=400)
    out = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or not isinstance(entry.get("Layers"), list):
            raise ImageError("archive: malformed manifest.json entry", status=400)
        cfg_path = _inside(root, entry["Config"])
        if cfg_path is None:
            raise ImageError(f"archive: {os.path.basename(entry['Config'])} is missing or not a file", status=400)
        config_raw = _read(cfg_path)
        m = re.search(r"([0-9a-f]{64})(\.json)?$", entry["Config"])
        if m and oci.digest_of(config_raw) != "sha256:" + m.group(1):
            raise ImageError(f"archive: config {entry['Config']} does not match its digest", status=400)
        try:
            diff_ids = oci.parse_config(config_raw)["rootfs"]["diff_ids"]
        except oci.FormatError as e:
            raise ImageError(f"archive: {e}", status=400) from None
        layers = [_inside(root, p) if isinstance(p, str) else None for p in entry["Layers"]]
        if len(layers) != len(diff_ids):
            raise ImageError("archive: the manifest and the config disagree on the number of layers", status=400)
        for rel, p in zip(entry["Layers"], layers):
            if p is None or not p.is_file():
                raise ImageError(f"archive: layer {rel} is missing", status=400)
        tags = [t for t in (_tag_of(x) for x in entry.get("RepoTags") or []) if t]
        img = store.add_staged(config_raw, _stager(store, layers, movable, pre), tags, parallel=2)
        out.append((img, tags))
    return out


def load_oci_layout(store: ImageStore, root: Path, movable: bool = False,
                    pre: Optional[_Prestager] = None) -> list[tuple[Image, list[str]]]:
    try:
        index = oci.parse_json(_read(root / "index.json"), "index.json")
    except oci.FormatError as e:
        raise ImageError(f"archive: {e}", status=400) from None
    out = []
    for desc in index.get("manifests") or []:
        try:
            oci.descriptor(desc, "manifest")
            ann = desc.get("annotations") or {}
            name = ann.get(CONTAINERD_NAME) or ann.get(REF_NAME)
            raw = _verified_blob(root, desc["digest"]).read_bytes()
            mdigest = desc["digest"]
            if oci.media_type(oci.parse_json(raw, "manifest"), desc.get("mediaType", "")) in oci.INDEX_TYPES:
                sub = oci.pick_from_index(raw)
                mdigest = sub["digest"]
                raw = _verified_blob(root, mdigest).read_bytes()
            man = oci.parse_manifest(raw)
            config_raw = _verified_blob(root, man["config"]["digest"]).read_bytes()
            layers = [_verified_blob(root, layer["digest"]) for layer in man["layers"]]
        except oci.FormatError as e:
            raise ImageError(f"archive: {e}", status=400) from None
        tag = _tag_of(name) if name and (":" in name or "/" in name) else None
        img = store.add_staged(config_raw, _stager(store, layers, movable, pre), [tag] if tag else [], parallel=2)
        out.append((img, [tag] if tag else []))
    if not out:
        raise ImageError("archive: index.json lists no images", status=400)
    return out


def load(store: ImageStore, source: str | BinaryIO) -> list[tuple[Image, list[str]]]:
    """Load every image in SOURCE (a path to a tar or OCI layout directory, or a stream)."""
    if isinstance(source, str) and os.path.isdir(source):
        return _load_dir(store, Path(source))
    tmp = store.store.tempdir("load-")
    pre = _Prestager(store, tmp / "archive")
    try:
        try:
            if isinstance(source, str):
                with open(source, "rb") as f:
                    unpack_archive(f, tmp / "archive", pre.tap)
            else:
                unpack_archive(source, tmp / "archive", pre.tap)
        except FileNotFoundError as e:
            if e.filename != source:
                raise ImageError(f"archive: not a valid image archive ({e.strerror}: {e.filename})",
                                 status=400) from None
            raise ImageError(f"open {source}: no such file or directory", status=404) from None
        except LayerError as e:
            raise ImageError(f"archive: {str(e).replace(' in layer', ' in archive')}", status=400) from None
        except Exception as e:  # noqa: BLE001 - tarfile's, zlib's, zstd's errors
            first = str(e).splitlines()[0].rstrip(":") if str(e) else type(e).__name__
            if isinstance(e, OSError) and e.errno in HOST_ERRNOS:  # a full disk is not the archive's fault
                raise ImageError(f"archive: cannot unpack: {e.strerror}", status=500) from None
            raise ImageError(f"archive: not a valid image archive ({first})", status=400) from None
        return _load_dir(store, tmp / "archive", movable=True, pre=pre)
    finally:
        pre.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _load_dir(store: ImageStore, root: Path, movable: bool = False,
              pre: Optional[_Prestager] = None) -> list[tuple[Image, list[str]]]:
    if (root / "manifest.json").is_file():
        return load_docker_archive(store, root, movable, pre)
    if (root / "index.json").is_file() and (root / "oci-layout").is_file():
        return load_oci_layout(store, root, movable, pre)
    raise ImageError("archive: neither a docker archive (manifest.json) nor an OCI layout (oci-layout, index.json)",
                     status=400)


# ---------------------------------------------------------------- save
def save(store: ImageStore, refs: list[str], out: BinaryIO, fmt: str = "docker-archive") -> None:
    """Write REFS as one archive that docker load and podman load accept."""
    import io
    import time
    if fmt not in ("docker-archive", "oci-archive"):
        raise ImageError(f'unknown format "{fmt}" (docker-archive or oci-archive)', status=400)
    images = []
    for ref in refs:
        img = store.get(ref)
        tag = None
        try:
            name, t = parse_ref(ref)
            if f"{name}:{t}" in img.tags:
                tag = f"{name}:{t}"
        except ImageError:
            pass
        images.append((img, tag))
    tmp = store.store.tempdir("save-")
    now = int(time.time())

    def add_bytes(tf, name: str, data: bytes) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode = len(data), now, 0o644
        tf.addfile(ti, io.BytesIO(data))

    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            written: set[str] = set()
            if fmt == "docker-archive":
                manifest = []
                for img, tag in images:
                    cfg_raw = (store.store.blobs / img.id[7:]).read_bytes()
                    if img.id not in written:
                        add_bytes(tf, f"{img.id[7:]}.json", cfg_raw)
                        written.add(img.id)
                    layer_paths = []
                    for chain, diff_id in zip(img.layers, img.config["rootfs"]["diff_ids"]):
                        name = f"{diff_id[7:]}/layer.tar"
                        layer_paths.append(name)
                        if name in written:
                            continue
                        blob, _ = store.layer_blob(chain)
                        raw = tmp / "layer.tar"
                        from .unpack import decompressed
                        with open(blob, "rb") as src, open(raw, "wb") as dst:
                            shutil.copyfileobj(decompressed(src), dst, 1 << 20)
                        tf.add(raw, arcname=name)
                        raw.unlink()
                        written.add(name)
                    tags = [tag] if tag else list(img.tags)
                    manifest.append({"Config": f"{img.id[7:]}.json", "RepoTags": tags or None, "Layers": layer_paths})
                add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
            else:
                index = {"schemaVersion": 2, "manifests": []}
                add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
                for img, tag in images:
                    man, cfg_raw, layers = store.manifest(img)
                    mdigest = oci.digest_of(man)
                    for blob, desc in layers:
                        if desc["digest"] not in written:
                            tf.add(blob, arcname=f"blobs/sha256/{desc['digest'][7:]}")
                            written.add(desc["digest"])
                    for digest, data in ((img.id, cfg_raw), (mdigest, man)):
                        if digest not in written:
                            add_bytes(tf, f"blobs/sha256/{digest[7:]}", data)
                            written.add(digest)
                    entry = {"mediaType": oci.MT_OCI_MANIFEST, "digest": mdigest, "size": len(man)}
                    if tag or img.tags:
                        entry["annotations"] = {REF_NAME: tag or img.tags[0]}
                    index["manifests"].append(entry)
                add_bytes(tf, "index.json", json.dumps(index).encode())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
