"""A layer's top directories: its root is marked as a top of hierarchies (ext4 places
each directory made in it in a flex group of its own, not beside the last removed
layer), and each is made under a random name and renamed; the tree is the same as
ever, no temporary name stays, and a name already taken is handled as mkdir's
EEXIST always was (pure: a layer in a temporary directory, owned by whoever runs this)."""
from __future__ import annotations

import array
import fcntl
import io
import os
import stat
import tarfile

from dunnage.core.images.unpack import unpack_layer

FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data else None)
    return out.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644, **kw) -> tuple:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mtime, ti.mode = kind, len(data), 1700000000, mode
    ti.uid, ti.gid = os.geteuid(), os.getegid()
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def _flags(path) -> int | None:
    """The directory's inode flags, None where the file system has none (not ext2/3/4)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        a = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, a, True)
        return a[0]
    except OSError:
        return None
    finally:
        os.close(fd)


def _topdir_settable(path) -> bool:
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        a = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, a, True)
        a[0] |= FS_TOPDIR_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, a, True)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _names(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, ds, fs in os.walk(root) for n in ds + fs)


def test_top_dirs_made_in_place(tmp_path):
    """Also a top directory whose name an earlier entry took as a symlink out of the
    layer: the rename into place neither replaces nor follows it; the symlink goes, as
    before, and the directory is made inside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    raw = _tar([_info("var", tarfile.SYMTYPE, linkname="../outside"),
                _info("var/", tarfile.DIRTYPE, mode=0o755),
                _info("var/x", data=b"x"),
                _info("etc/", tarfile.DIRTYPE, mode=0o755),
                _info("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
                _info("./usr/", tarfile.DIRTYPE, mode=0o750, mtime=1600000000),
                _info("usr/bin/", tarfile.DIRTYPE, mode=0o755),
                _info("usr/bin/sh", data=b"#!\n", mode=0o755),
                _info("etc/", tarfile.DIRTYPE, mode=0o711),          # listed again: the same directory
                _info("b", data=b"a file first"),
                _info("b/", tarfile.DIRTYPE, mode=0o755),            # then a directory of that name
                _info("c/x", data=b"x"),                              # a top directory no entry names
                _info("lib", tarfile.SYMTYPE, linkname="usr/lib")])
    dest = tmp_path / "layer"
    unpack_layer(io.BytesIO(raw), dest)
    assert _names(dest) == ["b", "c", "c/x", "etc", "etc/passwd", "lib", "usr", "usr/bin", "usr/bin/sh", "var", "var/x"]
    assert stat.S_ISDIR(os.lstat(dest / "var").st_mode) and (dest / "var/x").read_bytes() == b"x"
    assert list(outside.iterdir()) == []
    assert (dest / "etc/passwd").read_bytes() == b"root:x:0:0::/root:/bin/sh\n"
    assert stat.S_IMODE(os.lstat(dest / "etc").st_mode) == 0o711
    assert stat.S_IMODE(os.lstat(dest / "usr").st_mode) == 0o750
    assert os.lstat(dest / "usr").st_mtime == 1600000000
    assert stat.S_ISDIR(os.lstat(dest / "b").st_mode)
    assert stat.S_IMODE(os.lstat(dest / "c").st_mode) == 0o755   # made as its parent, as GNU tar does
    assert os.readlink(dest / "lib") == "usr/lib"
    if _topdir_settable(tmp_path / "probe"):
        assert _flags(dest) & FS_TOPDIR_FL, "the layer's root is not marked as a top of hierarchies"
