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
import shutil
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
    """A layer tar written to PATH in a fixed form, hashed as it goes (its diff id).
    With a MIRROR (a directory to make), the layer's tree is made from the same bytes as
    they are written (Mirror), so the store need not unpack the tar again."""

    def __init__(self, path: Path, epoch: Optional[int], mirror: Optional[Path] = None):
        self.path, self.epoch = path, epoch
        self.f = open(path, "wb")
        self.h = hashlib.sha256()
        self.n = 0
        # for gettarinfo and tobuf's format and encoding: the entries are written by add_info
        self.tf = tarfile.TarFile(fileobj=self, mode="w", format=tarfile.PAX_FORMAT)
        self.count = 0
        self.mirror = Mirror(mirror) if mirror is not None else None

    def write(self, b) -> int:
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def tell(self) -> int:
        return self.n

    def fix(self, ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uname = ti.gname = ""
        ti.mtime = int(ti.mtime)
        if self.epoch is not None and ti.mtime > self.epoch:
            ti.mtime = self.epoch
        ti.pax_headers = {k: v for k, v in ti.pax_headers.items() if k.startswith("SCHILY.xattr.")}
        return ti

    def add_info(self, ti: tarfile.TarInfo, fileobj=None) -> None:
        ti = self.fix(ti)
        if self.mirror is not None and self.mirror.ok:
            fileobj = self.mirror.entry(ti, fileobj)
        # what tarfile's addfile writes, without its copy of TI and its per-entry checks
        self.write(_header(ti) or ti.tobuf(self.tf.format, self.tf.encoding, self.tf.errors))
        if fileobj is not None and ti.size:
            left = ti.size
            while left:
                want = min(left, COPY_CHUNK)
                b = fileobj.read(want)
                if len(b) < want:
                    raise OSError("unexpected end of data")
                self.write(b)
                left -= want
            if ti.size % tarfile.BLOCKSIZE:
                self.write(tarfile.NUL * (tarfile.BLOCKSIZE - ti.size % tarfile.BLOCKSIZE))
        if self.mirror is not None and self.mirror.ok:
            self.mirror.done(ti)
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
        self.write(tarfile.NUL * (tarfile.BLOCKSIZE * 2))  # the end, padded to a record: as tarfile's close
        if self.n % tarfile.RECORDSIZE:
            self.write(tarfile.NUL * (tarfile.RECORDSIZE - self.n % tarfile.RECORDSIZE))
        self.f.close()
        if self.mirror is not None:
            self.mirror.finish()
        return "sha256:" + self.h.hexdigest()

    def abort(self) -> None:
        try:
            self.f.close()
        finally:
            self.path.unlink(missing_ok=True)
            if self.mirror is not None:
                self.mirror.drop()

    def tree(self) -> Optional[tuple[Path, int]]:
        """The layer's tree as the mirror made it and its regular files' bytes, or None
        (no mirror, or an entry it does not make: the store unpacks the tar)."""
        if self.mirror is None or not self.mirror.ok:
            return None
        return self.mirror.root, self.mirror.size


COPY_CHUNK = 1 << 20


def _header(ti: tarfile.TarInfo) -> Optional[bytes]:
    """TI's header block as `ti.tobuf(PAX_FORMAT)` makes it, made directly in the plain case
    (an ASCII name and link target of 100 bytes at most, no owner names, integer numbers
    within the ustar fields, no PAX records, no device); None otherwise (tobuf then)."""
    if ti.pax_headers or ti.uname or ti.gname or ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        return None
    name = ti.name + "/" if ti.type == tarfile.DIRTYPE and not ti.name.endswith("/") else ti.name
    try:
        n, link = name.encode("ascii"), ti.linkname.encode("ascii")
    except UnicodeEncodeError:
        return None
    uid, gid, size, mtime = ti.uid, ti.gid, ti.size, ti.mtime
    if (len(n) > 100 or len(link) > 100 or not all(type(v) is int for v in (uid, gid, size, mtime))
            or not (0 <= uid < 8 ** 7 and 0 <= gid < 8 ** 7 and 0 <= size < 8 ** 11 and 0 <= mtime < 8 ** 11)):
        return None
    buf = b"".join((n.ljust(100, b"\0"), b"%07o\0" % (ti.mode & 0o7777), b"%07o\0" % uid, b"%07o\0" % gid,
                    b"%011o\0" % size, b"%011o\0" % mtime, b"        ", ti.type, link.ljust(100, b"\0"),
                    tarfile.POSIX_MAGIC)).ljust(tarfile.BLOCKSIZE, b"\0")
    return buf[:148] + b"%06o\0" % sum(buf) + buf[155:]


class Mirror:
    """A layer's tree made entry by entry as its tar is written, as the store's unpacker
    would make it from the tar (owners, modes, times, xattrs; directories' at the end):
    the data is written once more from the buffer the tar's was, not read back, parsed
    and written.  Only what a build's layers hold in the plain case is made here
    (directories, files, symlinks, hard links, each name once, every parent a directory
    made before it); anything else gives up (OK false, the tree dropped), and the tar is
    unpacked by the store as before."""

    def __init__(self, root: Path):
        self.root = root
        os.mkdir(root)  # as the unpacker makes a layer's root
        self.ok = True
        self.dirs: dict[str, tarfile.TarInfo] = {"": None}
        self.names: set[str] = set()
        self.size = 0
        self.fd: Optional[int] = None

    def _path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _fail(self) -> None:
        self.ok = False
        self.drop()

    def entry(self, ti: tarfile.TarInfo, fileobj):
        """Make TI's entry (a regular file: created, to be filled as the tar reads
        FILEOBJ, which is returned wrapped); FILEOBJ as it was if the mirror gave up."""
        name = ti.name.rstrip("/")
        parent = os.path.dirname(name)
        try:
            if not name or name.startswith("/") or ".." in name.split("/") or parent not in self.dirs:
                raise _GiveUp
            path = self._path(name)
            if ti.isdir():
                if name not in self.dirs:
                    if name in self.names:
                        raise _GiveUp
                    os.mkdir(path, 0o700)
                self.dirs[name] = ti
                return fileobj
            if name in self.names or name in self.dirs:
                raise _GiveUp
            self.names.add(name)
            if ti.isreg():
                self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  ti.mode & 0o777)
                return _Tee(fileobj, self.fd) if fileobj is not None else None
            if ti.issym():
                os.symlink(ti.linkname, path)
            elif ti.islnk() and ti.linkname in self.names:
                os.link(self._path(ti.linkname), path, follow_symlinks=False)
            else:
                raise _GiveUp
        except (_GiveUp, OSError):
            self._fail()
        return fileobj

    def done(self, ti: tarfile.TarInfo) -> None:
        """The entry's owner, mode, xattrs and times, once its data is written."""
        try:
            if ti.isdir() or ti.islnk():
                return  # a directory's at the end; a hard link shares its target's
            if self.fd is not None:
                fd, self.fd = self.fd, None
                try:
                    os.fchown(fd, ti.uid, ti.gid)
                    os.fchmod(fd, ti.mode & 0o7777)  # after the owner: a chown clears setuid
                    for k, v in _xattrs(ti):
                        os.setxattr(fd, k, v)
                    os.utime(fd, (ti.mtime, ti.mtime))
                finally:
                    os.close(fd)
                self.size += ti.size
                return
            path = self._path(ti.name.rstrip("/"))
            os.chown(path, ti.uid, ti.gid, follow_symlinks=False)
            for k, v in _xattrs(ti):
                os.setxattr(path, k, v, follow_symlinks=False)
            os.utime(path, (ti.mtime, ti.mtime), follow_symlinks=False)
        except OSError:
            self._fail()

    def finish(self) -> None:
        if not self.ok:
            return
        try:
            for name in sorted((n for n in self.dirs if n), reverse=True):
                ti = self.dirs[name]
                path = self._path(name)
                os.chown(path, ti.uid, ti.gid)
                os.chmod(path, ti.mode & 0o7777)
                for k, v in _xattrs(ti):
                    os.setxattr(path, k, v)
                os.utime(path, (ti.mtime, ti.mtime))
        except OSError:
            self._fail()

    def drop(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        shutil.rmtree(self.root, ignore_errors=True)


class _GiveUp(Exception):
    pass


class _Tee:
    """A file the tar reads from, whose bytes also go to FD."""

    def __init__(self, f, fd: int):
        self.f, self.fd = f, fd

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        mv = memoryview(b)
        while mv:
            mv = mv[os.write(self.fd, mv):]
        return b


def _xattrs(ti: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    return [(k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape"))
            for k, v in sorted(ti.pax_headers.items()) if k.startswith("SCHILY.xattr.")]


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
    base = str(engine.store.layer_dir("sha256:x").parent)  # a path per chain: pathlib for thousands is slow
    return frozenset(f"{base}/{c.replace('sha256:', '')}/diff" for c in keep) | frozenset(lowers_in_use(engine.store))


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

    def add(self, layer: Optional[Path] = None, tree: Optional[tuple] = None):
        """The carrier's image; LAYER: the tar of its top layer, if the store lacks it;
        TREE: that layer's tree already made (TarWriter.tree), moved in rather than unpacked."""
        top = len(self.config["rootfs"]["diff_ids"]) - 1

        def open_layer(i: int):
            if layer is None or i != top:
                raise ImageError("a layer of the build is missing from the store (removed meanwhile?)")
            return layer
        if tree is None:
            img = self.engine.images.add_image(raw(self.config), open_layer, [])
        else:
            def stage(i: int, diff_id: str) -> Path:
                return self.engine.images.stage_tree(tree[0], open_layer(i), diff_id, tree[1])
            img = self.engine.images.add_staged(raw(self.config), stage, [])
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


def add_layer(engine, config: dict, tar: Path, keep: Callable[[], Iterable[str]],
              tree: Optional[tuple] = None) -> None:
    """Bring TAR, the top layer of CONFIG, into the store (KEEP: the chain ids to keep);
    TREE: its tree as TarWriter's mirror made it (dropped if the store has the layer)."""
    car = Carrier(engine, config)
    try:
        car.add(tar, tree)
    finally:
        if tree is not None:
            shutil.rmtree(tree[0], ignore_errors=True)
        car.remove(lambda: set(keep()) | set(chains(config)))
