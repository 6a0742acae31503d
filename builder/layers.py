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
import stat
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

    def __init__(self, path: Path, epoch: Optional[int], mirror: Optional[Path] = None,
                 reuse: Optional["Linker"] = None):
        self.path, self.epoch = path, epoch
        self.f = open(path, "wb")
        self.h = hashlib.sha256()
        self.n = 0
        # for gettarinfo and tobuf's format and encoding: the entries are written by add_info
        self.tf = tarfile.TarFile(fileobj=self, mode="w", format=tarfile.PAX_FORMAT)
        self.count = 0
        self.mirror = Mirror(mirror, reuse) if mirror is not None else None

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

    def add_info(self, ti: tarfile.TarInfo, fileobj=None, digest: Optional[str] = None) -> None:
        """TI (with FILEOBJ's data); DIGEST: the sha256 of a regular file's content, if known."""
        ti = self.fix(ti)
        if self.mirror is not None and self.mirror.ok:
            fileobj = self.mirror.entry(ti, fileobj, digest)
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

    def tree(self) -> Optional[tuple[Path, int, list]]:
        """The layer's tree as the mirror made it, its regular files' bytes and their
        [(content digest, name)], or None (no mirror, or an entry it does not make: the
        store unpacks the tar)."""
        if self.mirror is None or not self.mirror.ok:
            return None
        return self.mirror.root, self.mirror.size, self.mirror.files


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

    def __init__(self, root: Path, reuse: Optional["Linker"] = None):
        self.root = root
        os.mkdir(root)  # as the unpacker makes a layer's root
        self.ok = True
        self.dirs: dict[str, tarfile.TarInfo] = {"": None}
        self.names: set[str] = set()
        self.size = 0
        self.fd: Optional[int] = None
        self.reuse = reuse
        self.files: list[tuple[str, str]] = []  # (content digest, name) of the regular files
        self.check: Optional[_Compare] = None  # a linked file, read beside what the tar gets
        self.hashing: Optional[tuple] = None  # a file written without a digest: (its hash, name)

    def _path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _fail(self) -> None:
        self.ok = False
        self.drop()

    def entry(self, ti: tarfile.TarInfo, fileobj, digest: Optional[str] = None):
        """Make TI's entry (a regular file: created, to be filled as the tar reads
        FILEOBJ, which is returned wrapped, or, where REUSE has a stored file of its
        DIGEST and metadata, a hard link to that, whose bytes are compared with the
        tar's); FILEOBJ as it was if the mirror gave up."""
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
            if ti.isreg() and digest is not None:
                self.files.append((digest, name))
                stored = self.reuse.find(digest, ti) if self.reuse is not None and fileobj is not None else None
                if stored is not None:
                    try:
                        os.link(stored, path, follow_symlinks=False)
                    except OSError:
                        pass  # gone meanwhile (a prune): written as any other
                    else:
                        self.check = _Compare(fileobj, path)
                        return self.check
            if ti.isreg():
                self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  ti.mode & 0o777)
                if fileobj is None:
                    return None
                # a file of unknown content (a RUN's) is hashed as written: a later COPY --from may link it
                self.hashing = (hashlib.sha256(), name) if digest is None and ti.size else None
                return _Tee(fileobj, self.fd, self.hashing[0] if self.hashing else None)
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
            if self.check is not None:  # a stored file linked: what the tar got must be its content
                check, self.check = self.check, None
                if not check.close():
                    raise OSError(f"{ti.name}: not the content of the file linked")
                self.size += ti.size
                return
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
                if self.hashing is not None:
                    (h, name), self.hashing = self.hashing, None
                    self.files.append((h.hexdigest(), name))
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
        if self.check is not None:
            self.check.other.close()
            self.check = None
        shutil.rmtree(self.root, ignore_errors=True)


class _GiveUp(Exception):
    pass


class _Tee:
    """A file the tar reads from, whose bytes also go to FD (and into the hash H)."""

    def __init__(self, f, fd: int, h=None):
        self.f, self.fd, self.h = f, fd, h

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        if self.h is not None:
            self.h.update(b)
        mv = memoryview(b)
        while mv:
            mv = mv[os.write(self.fd, mv):]
        return b


class _Compare:
    """A file the tar reads from, whose bytes are compared with those of the file at
    PATH (a stored file linked in place of writing them): whatever the index of stored
    files said, the tree gets what the tar does, or the mirror gives up."""

    def __init__(self, f, path: str):
        self.f = f
        self.other = open(path, "rb", buffering=0)
        self.same = True

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        if self.same:
            got = bytearray()
            while len(got) < len(b):
                more = self.other.read(len(b) - len(got))
                if not more:
                    break
                got += more
            self.same = got == b
        return b

    def close(self) -> bool:
        """Whether the two were the same, to the end of the linked one."""
        try:
            return self.same and self.other.read(1) == b""
        finally:
            self.other.close()


class Reuse:
    """Where the store's layers (those a build made) hold a file of a given content: a
    COPY whose files are already in a layer (the same content, mode, owner and mtime, no
    xattrs) hard-links them into its new layer instead of writing them again (a rebuild
    after one file of the context changed writes that file alone).  Layers never change
    in place (a container's changes go to its upper directory, a copy-up copies), so a
    file may be shared by layers, as long as no stack ever holds it twice: a name is
    only linked where every name of its inode is known here (its link count says how
    many) and none of them is in the new layer's own stack, and once per layer.  What a
    stored file holds is checked against the bytes the tar gets.  Kept in the store
    (`<root>/builder/trees.msgpack`): {content digest: [[chain id, name], ...]}, the
    newest last, a few per content."""

    PER_CONTENT = 8
    LIMIT = 200_000

    def __init__(self, engine, path: Path):
        import threading
        from dunnage.core.store import read_record
        self.engine, self.path = engine, path
        self.lock = threading.Lock()
        self.dirs: dict[str, str] = {}  # chain id -> its tree's path (pathlib is slow for thousands)
        self.new: dict[str, list] = {}
        try:
            self.old: dict[str, list] = read_record(path).get("files") or {}
        except (OSError, ValueError, KeyError, AttributeError):
            self.old = {}

    def _holders(self, digest: str) -> list:
        with self.lock:
            return list(self.new.get(digest) or self.old.get(digest) or [])

    def tree_of(self, chain: str) -> str:
        d = self.dirs.get(chain)
        if d is None:
            d = self.dirs[chain] = str(self.engine.store.layer_dir(chain) / "diff")
        return d

    def linker(self, stack: Iterable[str]) -> "Linker":
        return Linker(self, frozenset(stack))

    def record(self, chain: str, files: list[tuple[str, str]]) -> None:
        """CHAIN's layer holds FILES [(content digest, name)] now."""
        with self.lock:
            for digest, name in files:
                have = [h for h in self.new.get(digest) or self.old.get(digest) or [] if h != [chain, name]]
                self.new[digest] = (have + [[chain, name]])[-self.PER_CONTENT:]

    def save(self) -> None:
        if not self.new:
            return
        from dunnage.core.store import read_record, write_record
        try:
            merged = read_record(self.path).get("files") or {}  # another build's, meanwhile
        except (OSError, ValueError, KeyError, AttributeError):
            merged = {}
        merged.update(self.new)
        if len(merged) > self.LIMIT:
            merged = dict(list(merged.items())[-self.LIMIT:])
        try:
            write_record(self.path, {"files": merged})
        except OSError:
            pass


class Linker:
    """Reuse's stored files for one new layer on a stack of STACK's chain ids."""

    def __init__(self, reuse: Reuse, stack: frozenset):
        self.reuse, self.stack = reuse, stack
        self.used: set[tuple[int, int]] = set()

    def find(self, digest: str, ti: tarfile.TarInfo) -> Optional[str]:
        """A stored file of DIGEST with TI's metadata that the new layer may link, or None."""
        if ti.size == 0 or any(k.startswith("SCHILY.xattr.") for k in ti.pax_headers):
            return None  # an empty file costs no more to make than a link
        holders = self.reuse._holders(digest)
        stats = []
        for c, n in holders:
            p = self.reuse.tree_of(c) + "/" + n
            try:
                stats.append((c, p, os.lstat(p)))
            except OSError:
                pass
        for c, p, st in reversed(stats):
            key = (st.st_dev, st.st_ino)
            if (key in self.used or not stat.S_ISREG(st.st_mode) or st.st_size != ti.size
                    or stat.S_IMODE(st.st_mode) != ti.mode & 0o7777 or (st.st_uid, st.st_gid) != (ti.uid, ti.gid)
                    or st.st_mtime_ns != int(ti.mtime) * 1_000_000_000):
                continue
            names = [c2 for c2, _, st2 in stats if (st2.st_dev, st2.st_ino) == key]
            if len(names) != st.st_nlink or self.stack.intersection(names):
                continue
            try:
                if os.listxattr(p, follow_symlinks=False):
                    continue
            except OSError:
                continue
            self.used.add(key)
            return p
        return None


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
