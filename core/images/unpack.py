"""Unpacking a layer tarball into the layer store, refusing entries that escape it."""
from __future__ import annotations

import hashlib
import os
import queue
import shutil
import tarfile
import threading
from pathlib import Path
from typing import BinaryIO


class LayerError(Exception):
    pass


class _Prefetch:
    """The uncompressed tar, read ahead by a thread: decompression and hashing
    (zlib, zstd and sha256 let go of the GIL) run beside the extraction instead
    of before each of its reads.  Counts what passed (refusing more than LIMIT
    bytes: a small archive cannot fill the disk) and hashes it into the diff id."""

    CHUNK = 1 << 20

    def __init__(self, raw: BinaryIO, limit: int):
        self.raw, self.limit = raw, limit
        self.h, self.n = hashlib.sha256(), 0
        self.q: queue.Queue = queue.Queue(maxsize=8)
        self.stop = threading.Event()
        self.buf, self.pos, self.eof = b"", 0, False
        self.t = threading.Thread(target=self._run, name="layer-reader", daemon=True)
        self.t.start()

    def _run(self) -> None:
        try:
            f = decompressed(self.raw)
            while not self.stop.is_set():
                b = f.read(self.CHUNK)
                if not b:
                    break
                self.n += len(b)
                if self.n > self.limit:
                    raise LayerError(f"layer is larger than {self.limit} bytes uncompressed (DUNNAGE_MAX_LAYER_BYTES)")
                self.h.update(b)
                self._put(b)
            self._put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread
            self._put(e)

    def _put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        out = []
        want = size if size >= 0 else 1 << 62
        while want > 0:
            if self.pos >= len(self.buf):
                if self.eof:
                    break
                item = self.q.get()
                if item is None:
                    self.eof = True
                    break
                if isinstance(item, BaseException):
                    self.eof = True
                    raise item
                self.buf, self.pos = item, 0
            b = self.buf[self.pos:self.pos + want]
            self.pos += len(b)
            want -= len(b)
            out.append(b)
        return out[0] if len(out) == 1 else b"".join(out)

    def close(self) -> None:
        """Stops the thread (on an error midway) and waits for it: the raw
        stream is the caller's again."""
        self.stop.set()
        self.t.join()


def _member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    # tarfile's "tar" filter refuses absolute paths, ".." escapes and links
    # that point outside the destination; unlike it we keep setuid/setgid and
    # modes exactly as the image says, as container engines must.
    try:
        safe = tarfile.tar_filter(member, dest)
    except tarfile.FilterError as e:
        raise LayerError(f"unsafe entry in layer: {e}") from None
    if member.islnk():
        # a hard link must name a file inside the layer (tar_filter checks
        # links only in its "data" mode, which also strips setuid bits)
        target = os.path.realpath(os.path.join(dest, member.linkname.lstrip("/")))
        if os.path.isabs(member.linkname) or os.path.commonpath([target, os.path.realpath(dest)]) != os.path.realpath(dest):
            raise LayerError(f"unsafe entry in layer: hard link {member.name!r} points outside the layer")
    return safe.replace(mode=member.mode, deep=False) if member.mode is not None else safe


def max_layer_bytes() -> int:
    """The bound on a layer's unpacked size; read at each unpack (a command run by the
    fork server brings its own environment)."""
    return int(os.environ.get("DUNNAGE_MAX_LAYER_BYTES", 64 << 30))


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed tar inside STREAM (gzip, zstd or plain, told by magic bytes)."""
    import io
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)
    head = stream.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        import gzip
        return gzip.GzipFile(fileobj=stream)
    if head == b"\x28\xb5\x2f\xfd":
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return stream


def _set_xattrs(m: tarfile.TarInfo, path: str) -> None:
    """Extended attributes from PAX headers (GNU tar's and podman's SCHILY.xattr.*,
    libarchive's base64 LIBARCHIVE.xattr.*), set after the owner, since a chown
    drops security.capability: file capabilities survive as the archive says."""
    import base64
    import urllib.parse
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            name, raw = key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
            raw = base64.b64decode(value + "=" * (-len(value) % 4))
        else:
            continue
        try:
            os.setxattr(path, name, raw, follow_symlinks=False)
        except OSError as e:
            if e.errno in (95, 1):  # ENOTSUP, EPERM (trusted.* or a symlink's user.*): as tar, go on
                continue
            raise


def unpack_layer(stream: BinaryIO, dest: Path, expect_diff_id: str | None = None) -> tuple[str, int]:
    """Unpack an (optionally compressed) tar stream into DEST.

    Returns (diff_id of the uncompressed tar, unpacked size in bytes); checks
    the diff id against EXPECT_DIFF_ID.  STREAM is read to its end.  On any
    error DEST is removed."""
    dest.mkdir(parents=True, exist_ok=False)
    size = 0
    hr = _Prefetch(stream, max_layer_bytes())
    try:
        dirs: dict[str, tarfile.TarInfo] = {}
        with tarfile.open(fileobj=hr, mode="r|") as tf:
            for m in tf:
                m2 = _member_filter(m, str(dest))
                if m2.isdir():
                    # owner, mode, times and xattrs of directories are set at the
                    # end, as GNU tar does: what is made inside would move the times
                    tf.extract(m2, dest, set_attrs=False, numeric_owner=True, filter="fully_trusted")
                    dirs[m2.name] = m2
                    continue
                dirs.pop(m2.name, None)
                # a hard link shares its target's inode: its own header's
                # mode and owner must not overwrite the target's (as GNU tar)
                tf.extract(m2, dest, set_attrs=not m.islnk(), numeric_owner=True, filter="fully_trusted")
                if not m.islnk():
                    _set_xattrs(m2, os.path.join(dest, m2.name))
                if m.isfile():
                    size += m.size
            for name in sorted(dirs, reverse=True):
                path = os.path.join(dest, name)
                m2 = dirs[name]
                tf.chown(m2, path, numeric_owner=True)
                tf.utime(m2, path)
                tf.chmod(m2, path)
                _set_xattrs(m2, path)
        # drain trailing padding so the digest covers the whole stream
        while hr.read(1 << 20):
            pass
        diff_id = "sha256:" + hr.h.hexdigest()
        if expect_diff_id is not None and diff_id != expect_diff_id:
            raise LayerError(f"layer content does not match its diff id: expected {expect_diff_id}, got {diff_id}")
        return diff_id, size
    except (tarfile.TarError, EOFError, OSError, LayerError, ValueError, KeyError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        msg = str(e) if isinstance(e, LayerError) else f"invalid layer archive: {e}"
        raise LayerError(msg) from None
    except Exception as e:  # noqa: BLE001 - zstd's errors and the like
        shutil.rmtree(dest, ignore_errors=True)
        raise LayerError(f"invalid layer archive: {e}") from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        hr.close()
