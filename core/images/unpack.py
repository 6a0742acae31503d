"""Unpacking a layer tarball into the layer store, refusing entries that escape it.

tarfile parses the headers; nothing else of its extraction is used (its "data"
filter checks names with os.path.realpath, which a path longer than PATH_MAX
fools: CVE-2025-4517).  Every entry is made relative to a descriptor of its
parent directory, opened beneath the layer by the kernel with openat2's
RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: no symlink the archive made is ever
followed, for a name or a hard link's target, and no name leaves the layer."""
from __future__ import annotations

import array
import base64
import ctypes
import errno
import fcntl
import hashlib
import io
import os
import posixpath
import queue
import secrets
import shutil
import stat
import struct
import tarfile
import threading
import urllib.parse
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..runtime.openat import RESOLVE_BENEATH as _RESOLVE_BENEATH
from ..runtime.openat import RESOLVE_NO_MAGICLINKS as _RESOLVE_NO_MAGICLINKS
from ..runtime.openat import RESOLVE_NO_SYMLINKS as _RESOLVE_NO_SYMLINKS
from ..runtime.openat import RESOLVE_NO_XDEV as _RESOLVE_NO_XDEV
from ..runtime.openat import openat2
from ..errors import InvalidParameter
from .oci import ImageError


class LayerError(ImageError, InvalidParameter):
    """A layer or image archive that cannot be unpacked as it is: broken, hostile or too
    large (400); the host's own faults on the way (a full disk) are raised as System's 500."""


# errnos that are the host's fault, not the archive's, while unpacking
HOST_ERRNOS = frozenset([errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE,
                          errno.ENFILE, errno.EACCES, errno.EPERM])


# ---------------------------------------------------------------- reading the stream
class SourceBroke(Exception):
    """The stream under the layer failed (a registry's connection broke): not the
    archive's fault, and raised to the caller as it came (ERR), who may try again."""

    def __init__(self, err: BaseException):
        super().__init__(str(err))
        self.err = err


class _Counted:
    """The compressed stream, counting what was read of it (the bomb check's measure).
    Its pieces go on as the source gave them, not copied into a buffer of ours."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.n = raw, 0

    def read(self, size: int = -1) -> bytes:
        try:
            b = self.raw.read(size) or b""
        except SourceBroke:
            raise
        except Exception as e:  # noqa: BLE001 - whatever the source raises is the source's
            raise SourceBroke(e) from e
        if type(b) is not bytes:
            b = bytes(b)
        self.n += len(b)
        return b


class _Replay:
    """STREAM with HEAD, already read of it to tell its kind, put back in front."""

    def __init__(self, head: bytes, stream: _Counted):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(size)
        if 0 <= size < len(self.head):
            b, self.head = self.head[:size], self.head[size:]
        else:
            b, self.head = self.head, b""
        return b


def max_layer_bytes() -> int:
    """The bound on a layer's unpacked size; read at each unpack (a command run by the
    fork server brings its own environment)."""
    return int(os.environ.get("DUNNAGE_MAX_LAYER_BYTES", 64 << 30))


# A compressed layer may unpack to RATIO times what was read of it, or to FLOOR bytes,
# whichever is more.  Real layers compress 2-10 times (binaries 2-4, text 5-10); a layer
# more than a hundred times smaller than its tar is nearly all zeros or repeats (a sparse
# or preallocated file), and up to FLOOR such a layer still passes.  gzip reaches 1032:1,
# zstd tens of thousands: without the ratio an 8 MB gzip bomb unpacks 8.6 GB.
RATIO_FLOOR = 1 << 30


def max_layer_ratio() -> int:
    return int(os.environ.get("DUNNAGE_MAX_LAYER_RATIO", 100))


try:  # ISA-L's igzip (python-isal): inflates gzip in half zlib's time, and lets go of the GIL as zlib does
    from isal import igzip as _gzip
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - a dependency; zlib does the same, slower
    import gzip as _gzip
    import zlib as _inflate


def _gunzip(read, chunk: int) -> Iterator[bytes]:
    """The inflated bytes of the gzip stream READ(n) gives, at most CHUNK at a time
    (a bomb never inflates more than that in one call): the members one after the
    other (pigz, concatenated files), the zeros gzip allows between them skipped."""
    d = None  # between members
    while True:
        buf = read(chunk)
        if not buf:
            while d is not None and not d.eof:  # what the output bound held back
                out = d.decompress(d.unconsumed_tail, chunk)
                if not out:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                yield out
            return
        while buf:
            if d is None:
                buf = buf.lstrip(b"\0")
                if not buf:
                    break
                d = _inflate.decompressobj(31)
            out = d.decompress(buf, chunk)
            if out:
                yield out
            if d.eof:
                buf, d = d.unused_data, None
            else:
                buf = d.unconsumed_tail


def _open_chunks(stream: _Counted, chunk: int) -> tuple[Iterator[bytes], bool]:
    """(the uncompressed tar inside STREAM in pieces of at most CHUNK bytes, whether it
    was compressed): gzip, zstd or plain, told by magic bytes.  A plain tar's pieces
    are the source's own."""
    head = b""
    while len(head) < 4:
        b = stream.read(chunk)
        if not b:
            break
        head += b
    src = _Replay(head, stream)
    if head[:2] == b"\x1f\x8b":
        return _gunzip(src.read, chunk), True
    if head[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard
        f = zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)
        return iter(lambda: f.read(chunk), b""), True
    return iter(lambda: src.read(chunk), b""), False


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed tar inside STREAM (gzip, zstd or plain, told by magic bytes)."""
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)
    head = stream.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        return _gzip.GzipFile(fileobj=stream)
    if head == b"\x28\xb5\x2f\xfd":
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return stream


class _Prefetch:
    """The uncompressed tar, read ahead by a thread: decompression and hashing
    (zlib, zstd and sha256 let go of the GIL) run beside the extraction instead
    of before each of its reads.  Counts what passed (refusing more than LIMIT
    bytes, and a compressed stream unpacking to more than the bomb ratio allows)
    and hashes it into the diff id (not if DIGEST is false: an image archive, whose
    own digest nobody asks, and whose layers are hashed as they are unpacked).  A
    forward-only file for tarfile (tell, seek ahead) that also writes file contents
    straight from its chunks (copy_to)."""

    CHUNK = 1 << 20

    def __init__(self, raw: BinaryIO, limit: int | None, digest: bool = True):
        self.raw, self.limit, self.ratio = _Counted(raw), limit, max_layer_ratio()
        self.h, self.n = hashlib.sha256() if digest else None, 0
        # hashed by a thread of its own (sha256 lets go of the GIL): the inflating thread,
        # the longest of the stages, does not wait for it
        self.hq: queue.Queue = queue.Queue(maxsize=16)
        self.ht = threading.Thread(target=self._hash, name="layer-digest", daemon=True) if digest else None
        if self.ht is not None:
            self.ht.start()
        self.q: queue.Queue = queue.Queue(maxsize=8)
        self.stop, self.left = threading.Event(), False
        self.buf, self.pos, self.eof, self.off = b"", 0, False, 0
        self.t = threading.Thread(target=self._run, name="layer-reader", daemon=True)
        self.t.start()

    def _run(self) -> None:
        try:
            chunks, compressed = _open_chunks(self.raw, self.CHUNK)
            for b in chunks:
                if self.stop.is_set():
                    break
                self.n += len(b)
                if self.limit is not None and self.n > self.limit:
                    raise LayerError(f"layer is larger than {self.limit} bytes uncompressed (DUNNAGE_MAX_LAYER_BYTES)")
                if compressed and self.ratio and self.n > max(self.ratio * self.raw.n, RATIO_FLOOR):
                    raise LayerError(f"decompression bomb: {self.raw.n} compressed bytes unpacked to more than "
                                     f"{self.n - len(b)} (at most {self.ratio} times, or 1 GiB: DUNNAGE_MAX_LAYER_RATIO)")
                if self.ht is not None:
                    self.hq.put(b)
                self._put(b)
            self._put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread
            self._put(e)
        finally:
            self.hq.put(None)

    def _hash(self) -> None:
        for b in iter(self.hq.get, None):
            self.h.update(b)

    def hexdigest(self) -> str:
        """The digest of all that passed: once the stream is read to its end."""
        self.ht.join()
        return self.h.hexdigest()

    def _put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _fill(self) -> bool:
        """The next chunk into buf; False at the end of the stream."""
        if self.eof:
            return False
        item = self.q.get()
        if item is None:
            self.eof = True
            return False
        if isinstance(item, BaseException):
            self.eof = True
            raise item
        self.buf, self.pos = item, 0
        return True

    def read(self, size: int = -1) -> bytes:
        out = []
        want = size if size >= 0 else 1 << 62
        while want > 0:
            if self.pos >= len(self.buf) and not self._fill():
                break
            b = self.buf[self.pos:self.pos + want]
            self.pos += len(b)
            want -= len(b)
            out.append(b)
        data = out[0] if len(out) == 1 else b"".join(out)
        self.off += len(data)
        return data

    def tell(self) -> int:
        return self.off

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or pos < self.off:
            raise tarfile.ReadError("seeking backwards is not allowed")
        while self.off < pos:
            if not self.read(min(pos - self.off, self.CHUNK)):
                break
        return self.off

    def copy_to(self, fd: int, n: int, tap: "Pipe | None" = None) -> None:
        """Write the next N bytes of the stream to FD, from the chunks as they are
        (and hand them to TAP too)."""
        while n > 0:
            if self.pos >= len(self.buf) and not self._fill():
                raise tarfile.ReadError("unexpected end of data")
            take = min(n, len(self.buf) - self.pos)
            if tap is not None:
                tap.put(self.buf if take == len(self.buf) else self.buf[self.pos:self.pos + take])
            mv = memoryview(self.buf)[self.pos:self.pos + take]
            while mv:
                mv = mv[os.write(fd, mv):]
            self.pos += take
            self.off += take
            n -= take

    def drain(self) -> None:
        """Read to the end, so that the digest covers the whole stream."""
        self.pos = len(self.buf)
        while self._fill():
            self.off += len(self.buf)
            self.pos = len(self.buf)

    def close(self, wait: bool = True) -> None:
        """Stops the thread (on an error midway) and waits for it: the raw
        stream is the caller's again.  Not WAIT (ctrl-c): the thread may be
        blocked reading a stalled source, and goes once that read ends."""
        self.stop.set()
        self.left = self.left or not wait
        if not self.left:
            self.t.join()



# ---------------------------------------------------------------- where ext4 puts a layer's inodes
_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000
_RENAME_NOREPLACE = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _mark_top(fd: int) -> bool:
    """Marks directory FD as a top of hierarchies (chattr +T): ext4 then places each
    directory made in it as it places one made in /, in a flex group with more free
    inodes than most and the fewest directories, searched from where the hash of its
    name points, instead of beside its parent.  Whether it took (other file systems
    have no such flag)."""
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        flags[0] |= _FS_TOPDIR_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, True)
        return True
    except OSError:
        return False


def _mkdir_top(pfd: int, base: str, mode: int) -> None:
    """mkdir BASE in PFD, a layer's root marked by _mark_top, made under a random name
    and renamed (not replacing anything: FileExistsError as mkdir's): with its own
    name the search would start where that of the last layer's directory of that
    name did, and find the flex group it left when removed.  ext4 without a journal
    (this host's) skips every inode freed in the last minutes, reading its table block
    again at each allocation: a layer unpacked where one was just removed spent 2-5 s
    of system time on it, one in a group of its own 0.2 s."""
    tmp = f".dunnage-mkdir-{secrets.token_hex(8)}"
    try:
        os.mkdir(tmp, mode, dir_fd=pfd)
    except FileExistsError:
        os.mkdir(base, mode, dir_fd=pfd)
        return
    if _libc.renameat2(pfd, tmp.encode(), pfd, os.fsencode(base), _RENAME_NOREPLACE) == 0:
        return
    err = ctypes.get_errno()
    os.rmdir(tmp, dir_fd=pfd)
    if err in (errno.EINVAL, errno.ENOSYS):  # no RENAME_NOREPLACE here: made as it is named
        os.mkdir(base, mode, dir_fd=pfd)
        return
    raise OSError(err, os.strerror(err), base)


# ---------------------------------------------------------------- making entries beneath a directory
_openat2_missing = False
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_STRICT = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_XDEV


def clean_name(name: str, what: str = "") -> str:
    """NAME as a path inside the layer: leading slashes dropped (as docker does),
    '.' and '..' folded; '' is the layer's root.  One that leads above it is refused."""
    p = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if p == ".." or p.startswith("../"):
        raise LayerError(f"unsafe entry in layer: {what}{name!r} points outside the layer")
    return "" if p == "." else p


class _Beneath:
    """Directories under ROOT (a directory descriptor), opened by the kernel without
    following a symlink or leaving ROOT; the last few stay open, since a tar lists a
    directory's entries together."""

    KEEP = 16

    def __init__(self, root_fd: int, top: bool = False):
        self.root, self.top = root_fd, top  # TOP: the root is marked (_mark_top)
        self.open: dict[str, int] = {}

    def close(self) -> None:
        for fd in self.open.values():
            os.close(fd)
        self.open.clear()

    def forget(self, rel: str) -> None:
        """REL was removed: descriptors of it and below it would write where no name leads."""
        for k in [k for k in self.open if k == rel or k.startswith(rel + "/")]:
            os.close(self.open.pop(k))

    def dir(self, rel: str, entry: str, create: bool) -> int:
        """A descriptor of directory REL (owned here: not to be closed), made with its
        missing parents (0755, as containerd and GNU tar do) if CREATE.  ENTRY names the
        archive's entry in errors."""
        if not rel:
            return self.root
        fd = self.open.pop(rel, None)
        if fd is not None:
            self.open[rel] = fd  # the most recently used, the last to go
            return fd
        fd = self._open(rel, entry, create)
        if len(self.open) >= self.KEEP:
            os.close(self.open.pop(next(iter(self.open))))
        self.open[rel] = fd
        return fd

    def _open(self, rel: str, entry: str, create: bool) -> int:
        global _openat2_missing
        if not _openat2_missing:
            try:
                return openat2(self.root, rel, _DIR, _STRICT)
            except OSError as e:
                if e.errno == errno.ENOSYS:
                    _openat2_missing = True
                elif e.errno in (errno.ELOOP, errno.EXDEV):
                    raise LayerError(f"unsafe entry in layer: {entry!r} passes through a symbolic link") from None
                elif not (e.errno == errno.ENOENT and create):
                    raise
        return self._walk(rel, entry, create)

    def _walk(self, rel: str, entry: str, create: bool) -> int:
        """REL opened one component at a time with O_NOFOLLOW (made where missing)."""
        fd = os.dup(self.root)
        try:
            for i, part in enumerate(rel.split("/")):
                try:
                    nfd = os.open(part, _DIR | os.O_NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        if self.top and i == 0:
                            _mkdir_top(fd, part, 0o755)
                        else:
                            os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                    nfd = os.open(part, _DIR | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR) and stat.S_ISLNK(
                            os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise LayerError(f"unsafe entry in layer: {entry!r} passes through a symbolic link") from None
                    raise
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def clear(self, pfd: int, parent: str, base: str) -> None:
        """Make room for a new entry BASE in PFD: what has that name goes (a directory
        with all it holds, as GNU tar's --recursive-unlink)."""
        try:
            os.unlink(base, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            self.forget(posixpath.join(parent, base))
            shutil.rmtree(base, dir_fd=pfd)


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    """Extended attributes from PAX headers: GNU tar's and podman's SCHILY.xattr.*,
    libarchive's base64 LIBARCHIVE.xattr.*."""
    out = []
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            out.append((key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape")))
        elif key.startswith("LIBARCHIVE.xattr."):
            out.append((urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):]),
                        base64.b64decode(value + "=" * (-len(value) % 4))))
    return out


def _set_xattrs(m: tarfile.TarInfo, target, follow: bool = True) -> None:
    """Set after the owner, since a chown drops security.capability: file
    capabilities survive as the archive says."""
    if not m.pax_headers:
        return
    for name, raw in _xattrs(m):
        try:
            os.setxattr(target, name, raw, follow_symlinks=follow)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EPERM):  # trusted.*, or a symlink's user.*: as tar, go on
                continue
            raise


def _times(m: tarfile.TarInfo) -> tuple[float, float]:
    return (m.mtime, m.mtime)


class _Maker:
    """What a new entry already has, so that only what differs is set (one syscall
    fewer or two per file: most of a layer is root's, with its umask's modes).  An
    entry is made by this process, so owned by its effective user and group (its
    directories, 0700 until the end, pass on no group); the umask from /proc, since
    os.umask would change it for every thread to read it."""

    def __init__(self):
        self.uid, self.gid = os.geteuid(), os.getegid()
        self.umask = 0o022
        try:
            with open("/proc/self/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Umask:"):
                        self.umask = int(line.split()[1], 8)
                        break
        except OSError:
            pass

    def owned(self, m: tarfile.TarInfo) -> bool:
        return m.uid == self.uid and m.gid == self.gid

    def made_as(self, mode: int) -> bool:
        """Whether a file created with MODE has it (no umask bit, no setuid/setgid/sticky)."""
        return not mode & (self.umask | 0o7000)


def _attrs_fd(m: tarfile.TarInfo, fd: int, mk: "_Maker | None" = None) -> None:
    """Owner, mode, xattrs and times of FD; MK: a file just made with the archive's
    mode, whose owner and mode need setting only where they differ."""
    owned = mk is not None and mk.owned(m)
    if not owned:
        os.fchown(fd, m.uid, m.gid)
    if not (owned and mk.made_as(m.mode & 0o7777)):
        os.fchmod(fd, m.mode & 0o7777)  # after the owner: a chown clears setuid
    _set_xattrs(m, fd)
    os.utime(fd, _times(m))


def _attrs_at(m: tarfile.TarInfo, pfd: int, base: str, symlink: bool, mk: "_Maker | None" = None) -> None:
    """Owner, mode, xattrs and times of an entry that cannot be opened (a symlink, a
    device, a fifo), set by name in its parent's descriptor without following it."""
    if mk is None or not mk.owned(m):
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
    if not symlink:
        os.chmod(base, m.mode & 0o7777, dir_fd=pfd)  # just made by mknod: not a symlink
    if m.pax_headers and _xattrs(m):
        _set_xattrs(m, f"/proc/self/fd/{pfd}/{base}", follow=False)
    os.utime(base, _times(m), dir_fd=pfd, follow_symlinks=False)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Pipe(io.RawIOBase):
    """Bytes handed from one thread to another's reader, a few chunks at most in
    flight: an image archive's file passed to a layer's unpacker as it is written.
    Once the reader is done (closed), what is put is dropped."""

    def __init__(self):
        super().__init__()
        self.q: queue.Queue = queue.Queue(maxsize=8)
        self.buf, self.pos, self.done = b"", 0, False

    def put(self, item) -> None:
        """Bytes, None for the end, or the exception the reader is to raise."""
        while not self.done:
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        """The next piece into buf; False at the end."""
        item = self.q.get()
        if item is None or isinstance(item, BaseException):
            self.q.put(item, block=False)  # the end stays the end
            if item is None:
                return False
            raise item
        self.buf, self.pos = item, 0
        return True

    def read(self, size: int = -1) -> bytes:
        """The rest of the current piece, at most SIZE bytes: a whole piece as it was put."""
        while self.pos >= len(self.buf):
            if not self._next():
                return b""
        if self.pos == 0 and (size < 0 or size >= len(self.buf)):
            b = self.buf
        else:
            b = self.buf[self.pos:self.pos + size] if size >= 0 else self.buf[self.pos:]
        self.pos += len(b)
        return b

    def readinto(self, buf) -> int:
        while self.pos >= len(self.buf):
            if not self._next():
                return 0
        n = min(len(buf), len(self.buf) - self.pos)
        buf[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n

    def close(self) -> None:
        self.done = True
        super().close()


def _extract(tf: tarfile.TarFile, src: _Prefetch, root_fd: int, image: bool,
             tap: "Callable[[str, int], Pipe | None] | None" = None) -> int:
    """Make every entry of TF under ROOT_FD; returns the bytes of the regular files.

    IMAGE: a layer (owners, modes, times, xattrs, devices as the archive says);
    else an image archive's files (docker save, OCI layout), made for root alone
    (dirs 0700, files 0600) and without special files."""
    tree = _Beneath(root_fd, image and _mark_top(root_fd))
    mk = _Maker()
    dirs: dict[str, tarfile.TarInfo] = {}
    size = 0
    try:
        while True:
            m = tf.next()
            if m is None:
                break
            tf.members.clear()  # tarfile keeps every header otherwise: memory for nothing
            name = clean_name(m.name)
            parent, base = posixpath.split(name)
            if not base and not m.isdir():
                raise LayerError(f"unsafe entry in layer: {m.name!r} would replace the layer's root")
            if m.isdir():
                if base:
                    pfd = tree.dir(parent, m.name, True)
                    try:
                        if tree.top and not parent:
                            _mkdir_top(pfd, base, 0o700)
                        else:
                            os.mkdir(base, 0o700, dir_fd=pfd)
                    except FileExistsError:
                        if not stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                            tree.clear(pfd, parent, base)
                            os.mkdir(base, 0o700, dir_fd=pfd)
                # owner, mode, times and xattrs of directories are set at the end, as
                # GNU tar does: what is made inside would move the times
                dirs[name] = m
                continue
            dirs.pop(name, None)
            pfd = tree.dir(parent, m.name, True)
            if m.issym():
                try:  # a name seldom taken: made first, cleared only if it was
                    os.symlink(m.linkname, base, dir_fd=pfd)
                except FileExistsError:
                    tree.clear(pfd, parent, base)
                    os.symlink(m.linkname, base, dir_fd=pfd)
                if image:
                    _attrs_at(m, pfd, base, True, mk)
            elif m.islnk():
                target = clean_name(m.linkname, f"hard link {m.name!r} to ")
                tparent, tbase = posixpath.split(target)
                if not tbase:
                    raise LayerError(f"unsafe entry in layer: hard link {m.name!r} points to the layer's root")
                tfd = tree.dir(tparent, m.name, False)  # PFD, just used, stays open
                # not followed if a symlink: the link is to the symlink itself.  A hard
                # link shares its target's inode: its own header's mode and owner must
                # not overwrite the target's (as GNU tar)
                try:
                    os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
                except FileExistsError:
                    if (tparent, tbase) == (parent, base):
                        raise
                    tree.clear(pfd, parent, base)
                    tfd = tree.dir(tparent, m.name, False)  # (what the clear removed may have held it)
                    os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            elif m.ischr() or m.isblk() or m.isfifo():
                if not image:
                    raise LayerError(f"unsafe entry in archive: {m.name!r} is a special file")
                tree.clear(pfd, parent, base)
                if m.isfifo():
                    os.mkfifo(base, 0o600, dir_fd=pfd)
                else:
                    kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                    os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
                _attrs_at(m, pfd, base, symlink=False)
            else:  # regular files, and types tarfile does not know, as it does
                # made with the archive's permission bits (no setuid or the like before its owner is set)
                new_mode = m.mode & 0o777 if image else 0o600
                try:
                    fd = os.open(base, _NEW_FILE, new_mode, dir_fd=pfd)
                except FileExistsError:
                    tree.clear(pfd, parent, base)
                    fd = os.open(base, _NEW_FILE, new_mode, dir_fd=pfd)
                try:
                    if m.sparse is not None:
                        with tf.extractfile(m) as f:
                            for chunk in iter(lambda: f.read(src.CHUNK), b""):
                                mv = memoryview(chunk)
                                while mv:
                                    mv = mv[os.write(fd, mv):]
                    else:
                        src.seek(m.offset_data)
                        pipe = tap(name, m.size) if tap is not None else None
                        try:
                            src.copy_to(fd, m.size, pipe)
                        except BaseException as e:
                            if pipe is not None:
                                pipe.put(SourceBroke(e))
                            raise
                        if pipe is not None:
                            pipe.put(None)
                    if image:
                        _attrs_fd(m, fd, mk)
                finally:
                    os.close(fd)
                size += m.size
        for name in sorted(dirs, reverse=True):
            m = dirs[name]
            if not name:
                fd = os.dup(root_fd)
            else:
                try:
                    fd = openat2(root_fd, name, _DIR, _STRICT) if not _openat2_missing else tree._walk(name, name, False)
                except (OSError, LayerError):
                    continue  # replaced by a later entry, or under one that was
            try:
                if image:
                    _attrs_fd(m, fd)
                else:
                    os.fchmod(fd, 0o700)
            finally:
                os.close(fd)
        return size
    finally:
        tree.close()


_HEADER = struct.Struct("100s8s8s8s12s12s8s1s100s8x32s32s8s8s155s12x")


def _octal(field: bytes) -> int:
    """A plain octal number field as tarfile's nti reads it; ValueError for anything
    else (a base-256 number, text that is no number)."""
    if field[0] & 0x80:
        raise ValueError("base-256")
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


class _Info(tarfile.TarInfo):
    """tarfile's member with a quicker header decoder (the most of tarfile's cost per
    member, a tenth of a second in a Debian base layer): a header of plain octal
    fields with the usual checksum is decoded at once, field for field as tarfile's
    frombuf does; any other (base-256 numbers, a signed or bad checksum, the old GNU
    sparse type, a zero block, a short one) goes to tarfile's own frombuf, so what is
    accepted, refused and how it reads stays tarfile's.  Long names, pax headers and
    sparse files are tarfile's, which reads them with this class."""

    __slots__ = ()

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            if len(buf) != tarfile.BLOCKSIZE or buf[156:157] == tarfile.GNUTYPE_SPARSE:
                raise ValueError("not for here")
            name, mode, uid, gid, size, mtime, chk, typ, link, uname, gname, dmaj, dmin, prefix = _HEADER.unpack(buf)
            chksum = _octal(chk)
            if chksum != sum(buf) - sum(chk) + 256:
                raise ValueError("checksum")
            obj = cls()
            obj.mode, obj.uid, obj.gid, obj.size = _octal(mode), _octal(uid), _octal(gid), _octal(size)
            obj.mtime, obj.devmajor, obj.devminor = _octal(mtime), _octal(dmaj), _octal(dmin)
        except ValueError:
            return super().frombuf(buf, encoding, errors)
        obj.chksum, obj.type = chksum, typ
        obj.name = name.split(b"\0", 1)[0].decode(encoding, errors)
        obj.linkname = link.split(b"\0", 1)[0].decode(encoding, errors)
        obj.uname = uname.split(b"\0", 1)[0].decode(encoding, errors)
        obj.gname = gname.split(b"\0", 1)[0].decode(encoding, errors)
        prefix = prefix.split(b"\0", 1)[0].decode(encoding, errors)
        if typ == tarfile.AREGTYPE and obj.name.endswith("/"):  # old V7: a directory as a file with a slash
            obj.type = tarfile.DIRTYPE
        if obj.type == tarfile.DIRTYPE:
            obj.name = obj.name.rstrip("/")
        if prefix and typ not in tarfile.GNU_TYPES:
            obj.name = prefix + "/" + obj.name
        return obj


def _reader(src: _Prefetch) -> tarfile.TarFile:
    # "r", not "r|": tarfile's stream mode copies its buffer at every read; SRC is a
    # file that only goes forward, which is all "r" needs when read in order
    return tarfile.TarFile(fileobj=src, mode="r", tarinfo=_Info)


def unpack_layer(stream: BinaryIO, dest: Path, expect_diff_id: str | None = None) -> tuple[str, int]:
    """Unpack an (optionally compressed) tar stream into DEST.

    Returns (diff_id of the uncompressed tar, unpacked size in bytes); checks
    the diff id against EXPECT_DIFF_ID.  STREAM is read to its end.  On any
    error DEST is removed."""
    dest.mkdir(parents=True, exist_ok=False)
    hr = _Prefetch(stream, max_layer_bytes())
    try:
        root_fd = os.open(dest, _DIR | os.O_NOFOLLOW)
        try:
            size = _extract(_reader(hr), hr, root_fd, image=True)
        finally:
            os.close(root_fd)
        hr.drain()
        diff_id = "sha256:" + hr.hexdigest()
        if expect_diff_id is not None and diff_id != expect_diff_id:
            raise LayerError(f"layer content does not match its diff id: expected {expect_diff_id}, got {diff_id}")
        return diff_id, size
    except SourceBroke:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (tarfile.TarError, EOFError, OSError, LayerError, ValueError, KeyError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(e, LayerError):
            raise
        if isinstance(e, OSError) and e.errno in HOST_ERRNOS:
            raise LayerError(f"unpacking layer: {e.strerror}", status=500) from None
        raise LayerError(f"invalid layer archive: {e}") from None
    except Exception as e:  # noqa: BLE001 - zstd's errors and the like
        shutil.rmtree(dest, ignore_errors=True)
        raise LayerError(f"invalid layer archive: {e}") from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        hr.close(wait=False)
        raise
    finally:
        hr.close()


def unpack_archive(stream: BinaryIO, dest: Path, tap: "Callable[[str, int], Pipe | None] | None" = None) -> None:
    """Unpack an image archive (docker save, an OCI layout as a tar; optionally
    compressed) into DEST, which must not exist, as unpack_layer unpacks a layer but
    for root alone and without special files.  Raises tarfile's errors for a broken
    archive and LayerError for a hostile one; DEST is the caller's to remove.
    TAP(name, size) may give a Pipe for a regular file's bytes as they are written
    (then None once they are all there, or SourceBroke if the archive failed)."""
    dest.mkdir(mode=0o700)
    hr = _Prefetch(stream, None, digest=False)
    try:
        root_fd = os.open(dest, _DIR | os.O_NOFOLLOW)
        try:
            _extract(_reader(hr), hr, root_fd, image=False, tap=tap)
        finally:
            os.close(root_fd)
    finally:
        hr.close()
