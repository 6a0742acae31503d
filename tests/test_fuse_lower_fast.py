"""Requests about nodes of a lower layer answered by pyfuse3's C layer, without Python (pyfuse3
patch revision 8, fuse/union.py FAST_LOWER): GETATTR, GETXATTR and LISTXATTR of a lower node
with no xattrs, and OPEN for reading (and its RELEASE) of a lower file opened before; and
everything that changes such a node (a copy-up, chmod, setxattr, an unlink) ends those answers
first.

The evidence is counted by a server that counts what reaches its Python handlers and asks
pyfuse3 what it answered itself.  statx(AT_STATX_FORCE_SYNC) makes the kernel ask the server
for a node's attributes whatever it has cached."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import wait_for
from test_fuse import MODES, PASSTHROUGH_HERE, asking_server, mount_overlay, mount_union
from dunnage.fuse.union import ACL, FAST_LOWER

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not FAST_LOWER, reason="pyfuse3 lacks dunnage's patch 8: run scripts/dev.sh")]

# a server that counts the requests its Python handlers answer and those pyfuse3 answered: a
# line on its stdin, both as JSON on its stdout
SERVER = """
import json, sys, threading
import pyfuse3
from dunnage.fuse.mount import serve
from dunnage.fuse.union import UnionFS
lower, upper, mnt, mode = sys.argv[1:]
calls = {}
class Counting(UnionFS):
    pass
for name in ("getattr", "getxattr", "listxattr", "open", "release", "read", "lookup", "fsync"):
    def counted(self, *a, _name=name, _fn=getattr(UnionFS, name), **kw):
        calls[_name] = calls.get(_name, 0) + 1
        return _fn(self, *a, **kw)
    setattr(Counting, name, counted)
ops = Counting([lower], upper, passthrough=mode == "default", writeback=mode != "neither",
               no_open=mode == "no-open")
def answer():
    for _ in sys.stdin:
        print(json.dumps({"python": dict(calls), "c": pyfuse3.fast_answered(),
                          "passthrough": sorted(ops._pt_fh.values()),
                          "kept": sorted(n for n, f in ops._pt_kept.items() if f is not None)}), flush=True)
threading.Thread(target=answer, daemon=True).start()
serve([lower], upper, mnt, ops=ops)
"""

FAST_MODES = [m for m in MODES if m != "default" or PASSTHROUGH_HERE]

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_EMPTY_PATH, AT_STATX_FORCE_SYNC = -100, 0x1000, 0x2000


class Statx(ctypes.Structure):
    _fields_ = [("mask", ctypes.c_uint32), ("blksize", ctypes.c_uint32), ("attributes", ctypes.c_uint64),
                ("nlink", ctypes.c_uint32), ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32),
                ("mode", ctypes.c_uint16), ("pad", ctypes.c_uint16), ("ino", ctypes.c_uint64),
                ("size", ctypes.c_uint64), ("blocks", ctypes.c_uint64), ("rest", ctypes.c_uint8 * 200)]  # 256 bytes


def statx(path, fd: int = AT_FDCWD) -> Statx:
    """The attributes the server gives now (AT_STATX_FORCE_SYNC: never the kernel's cache)."""
    st = Statx()
    flags = AT_STATX_FORCE_SYNC | (AT_EMPTY_PATH if path == "" else 0)
    if _libc.statx(fd, os.fsencode(str(path)), flags, 0x7ff, ctypes.byref(st)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return st


@contextlib.contextmanager
def counting_server(tmp_path: Path, mode: str):
    """A lower layer served by SERVER in MODE: the mount point, the upper layer and a function
    that asks the server for its counts."""
    base, up, mnt = tmp_path / "base", tmp_path / "upper", tmp_path / "mnt"
    for d in (base / "dir", up, mnt):
        d.mkdir(parents=True)
    for name in ("data", "other", "gone", "chmod", "xattr", "dir/deep"):
        (base / name).write_text(f"{name} below\n")
    os.setxattr(base / "xattr", "user.below", b"v")
    with asking_server(SERVER, [str(base), str(up), str(mnt), mode], mnt) as ask:
        yield mnt, base, up, ask


def delta(before: dict, after: dict, side: str, name: str) -> int:
    return after[side].get(name, 0) - before[side].get(name, 0)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_lower_attributes_and_xattrs_are_answered_without_python(tmp_path, mode):
    """GETATTR of lower files and directories (looked up once), and GETXATTR and LISTXATTR of a
    lower file with no xattrs (once one found none), 20 times each: Python answers none of
    them, and they are the lower file's.  A lower file with an xattr shows it."""
    with counting_server(tmp_path, mode) as (mnt, base, up, ask):
        data, deep = mnt / "data", mnt / "dir/deep"
        want = os.stat(data)
        assert os.listxattr(data) == []  # Python's: it found none
        before = ask()
        for _ in range(20):
            for p in (data, deep, mnt / "dir"):
                st = statx(p)
                assert (st.size, st.ino, st.mode) == (os.stat(p).st_size, os.stat(p).st_ino, os.stat(p).st_mode)
            assert (statx(data).size, statx(data).ino, statx(data).nlink) == (want.st_size, want.st_ino, 1)
            assert os.listxattr(data) == []
            for name in ("security.capability", "user.x", "trusted.x"):
                with pytest.raises(OSError) as e:
                    os.getxattr(data, name)
                assert e.value.errno == errno.ENODATA
        after = ask()
        for name in ("getattr", "getxattr", "listxattr"):
            assert delta(before, after, "python", name) == 0, (name, before, after)
        assert delta(before, after, "c", "getattr") >= 20 * 5
        assert delta(before, after, "c", "getxattr") == 20 * 3
        assert delta(before, after, "c", "listxattr") >= 20
        assert os.getxattr(mnt / "xattr", "user.below") == b"v"
        assert os.listxattr(mnt / "xattr") == ["user.below"]
        assert os.getxattr(mnt / "xattr", "user.below") == b"v"


ACLS = ("system.posix_acl_access", "system.posix_acl_default")


def acl_xattr(uid: int) -> bytes:
    """An access ACL as the xattr holds it: the owner rw, user UID r, the group r, others r."""
    undefined = 0xFFFFFFFF
    entries = ((0x01, 6, undefined), (0x02, 4, uid), (0x04, 4, undefined), (0x10, 4, undefined),
               (0x20, 4, undefined))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def xattr_errno(path, name: str) -> int:
    with pytest.raises(OSError) as e:
        os.getxattr(path, name)
    return e.value.errno


@pytest.mark.parametrize("mode", FAST_MODES)
def test_a_non_owners_acl_checks_are_answered_without_python(tmp_path, mode):
    """With POSIX ACLs the kernel asks a node's access ACL at every permission check of a caller
    that is not its owner (the mount's root, a directory, the file), and keeps no answer: a
    process of uid 65534 reading a root-owned file 10 times sends them all to pyfuse3, which
    answers the lower ones registered with no xattrs and the upper directories from their
    descriptors (patch 16: the merged root showing one link), and none reach Python."""
    if not ACL:
        pytest.skip("pyfuse3's patch 13 not built: no POSIX ACLs asked for")
    with counting_server(tmp_path, mode) as (mnt, base, up, ask):
        # (from the mount's root as its working directory: the test's own directories are root's)
        read = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", "dir/deep"]
        assert subprocess.run(read, cwd=mnt, capture_output=True, text=True, timeout=30).stdout == "dir/deep below\n"
        assert os.stat(mnt).st_nlink == 1  # the root: merged from the upper and lower layers
        before = ask()
        for _ in range(10):
            assert subprocess.run(read, cwd=mnt, capture_output=True, text=True, timeout=30).stdout == "dir/deep below\n"
        after = ask()
        assert delta(before, after, "python", "getxattr") == 0, (before, after)
        assert delta(before, after, "c", "getxattr") >= 10, (before, after)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_acls_of_a_lower_file_with_no_xattrs_are_answered_without_python(tmp_path, mode):
    """cp -a asks for a file's access ACL after its LISTXATTR: once Python found a lower file
    with no xattrs, its POSIX ACLs' GETXATTRs (ENODATA, as its lower file's) are pyfuse3's
    (patch 9), and with POSIX ACLs settled (patch 13) the kernel keeps what it got.  A lower
    file with an ACL shows it, and one given an ACL shows that."""
    with counting_server(tmp_path, mode) as (mnt, base, up, ask):
        acl = acl_xattr(1000)
        os.setxattr(base / "other", ACLS[0], acl)  # before anything of it is looked up
        assert [xattr_errno(base / "data", n) for n in ACLS] == [errno.ENODATA] * 2  # ext4's, tmpfs's
        assert os.listxattr(mnt / "data") == []  # Python's: it found none
        before = ask()
        for _ in range(20):
            for name in ACLS:
                assert xattr_errno(mnt / "data", name) == errno.ENODATA
        after = ask()
        assert delta(before, after, "python", "getxattr") == 0, (before, after)
        if ACL:  # the kernel keeps each inode's ACLs (patch 13): one request each at most
            assert 1 <= delta(before, after, "c", "getxattr") <= 2, (before, after)
        else:
            assert delta(before, after, "c", "getxattr") == 20 * 2
        assert os.listxattr(mnt / "other") == [ACLS[0]]
        assert os.getxattr(mnt / "other", ACLS[0]) == os.getxattr(base / "other", ACLS[0])
        assert xattr_errno(mnt / "other", ACLS[1]) == errno.ENODATA
        os.setxattr(mnt / "data", ACLS[0], acl)
        assert os.getxattr(mnt / "data", ACLS[0]) == os.getxattr(up / "data", ACLS[0])
        assert os.listxattr(mnt / "data") == [ACLS[0]]
        assert xattr_errno(base / "data", ACLS[0]) == errno.ENODATA


@pytest.mark.parametrize("mode", FAST_MODES)
def test_changes_to_a_lower_node_end_its_answers(tmp_path, mode):
    """A lower file whose GETATTR, GETXATTR and LISTXATTR pyfuse3 answers is written (copied
    up), chmod'ed, given an xattr, unlinked and renamed over while open: what the server gives
    after each is the new state (size, mode, xattr, nlink 0), not what pyfuse3 had."""
    with counting_server(tmp_path, mode) as (mnt, base, up, ask):
        for name in ("data", "chmod", "other", "gone"):
            assert os.listxattr(mnt / name) == []
            statx(mnt / name)
        n = ask()["c"]["getattr"]
        statx(mnt / "data")
        assert ask()["c"]["getattr"] == n + 1  # pyfuse3 answers it now

        with open(mnt / "data", "a") as f:  # through another open: copied up (no_open: at the write)
            f.write("appended\n")
        assert statx(mnt / "data").size == len("data below\nappended\n") == os.stat(mnt / "data").st_size
        assert (up / "data").read_text() == "data below\nappended\n"
        assert (base / "data").read_text() == "data below\n"

        os.chmod(mnt / "chmod", 0o600)
        assert stat.S_IMODE(statx(mnt / "chmod").mode) == 0o600

        os.setxattr(mnt / "other", "user.new", b"here")
        assert os.getxattr(mnt / "other", "user.new") == b"here"
        assert os.listxattr(mnt / "other") == ["user.new"]

        fd = os.open(mnt / "gone", os.O_RDONLY)
        try:
            assert statx("", fd).nlink == 1
            os.unlink(mnt / "gone")
            assert statx("", fd).nlink == 0
            assert os.pread(fd, 100, 0) == b"gone below\n"
        finally:
            os.close(fd)

        fd = os.open(mnt / "dir/deep", os.O_RDONLY)  # a lower file renamed over
        try:
            assert statx("", fd).nlink == 1
            (mnt / "new").write_text("new\n")
            os.rename(mnt / "new", mnt / "dir/deep")
            assert statx("", fd).nlink == 0
            assert os.pread(fd, 100, 0) == b"dir/deep below\n"
        finally:
            os.close(fd)


@pytest.mark.skipif(not PASSTHROUGH_HERE, reason="no FUSE passthrough here")
def test_opens_of_an_upper_file_open_passthrough_before_are_answered_without_python(tmp_path):
    """initdb opens and closes each file again and again: once a file was opened passthrough
    (its CREATE), pyfuse3 answers its next opens (reading, writing, appending) with the same
    backing id, and their RELEASEs (patch 9, FAST_PT): none reaches Python, the reads and
    writes are the upper file's, fsync works.  A truncating open, a writable open of a file
    made setuid and any open of a file unlinked and made anew come to Python; the descriptor
    the node kept goes with its name (an open of it unlinked still reads, writes, fsyncs and
    stats it)."""
    with counting_server(tmp_path, "default") as (mnt, base, up, ask):
        f = mnt / "new"
        f.write_bytes(b"0")  # its CREATE, Python's
        before = wait_for(lambda: (lambda a: a if a["python"].get("release") == 1 else None)(ask()))
        want = bytearray(b"0")
        for i in range(20):
            fd = os.open(f, (os.O_RDONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND)[i % 3])
            try:
                if i % 3 == 0:
                    assert os.pread(fd, 100, 0) == (up / "new").read_bytes() == want
                else:
                    os.write(fd, b"%d" % (i % 10))  # at 0 (O_RDWR), at the end (O_APPEND)
                    want = want + b"%d" % (i % 10) if i % 3 == 2 else bytearray(b"%d" % (i % 10)) + want[1:]
                    os.fsync(fd)
            finally:
                os.close(fd)
        after = wait_for(lambda: (lambda a: a if delta(before, a, "c", "release") == 20 else None)(ask()))
        for name in ("open", "release", "read"):
            assert delta(before, after, "python", name) == 0, (name, before, after)
        assert delta(before, after, "c", "open") == 20
        assert delta(before, after, "python", "fsync") == 13  # by node: the descriptor it kept
        assert (up / "new").read_bytes() == f.read_bytes() == want
        assert len(after["kept"]) == 1

        fd = os.open(f, os.O_WRONLY | os.O_TRUNC)  # Python's (the truncation is its)
        os.close(fd)
        assert ask()["python"]["open"] == after["python"].get("open", 0) + 1
        assert (up / "new").read_bytes() == b""
        os.chmod(f, 0o4755)
        n = ask()["python"]["open"]
        os.close(os.open(f, os.O_WRONLY))
        assert ask()["python"]["open"] == n + 1  # (its writes must clear the bit: see PASSTHROUGH)
        os.chmod(f, 0o644)
        os.close(os.open(f, os.O_RDONLY))
        assert ask()["python"]["open"] == n + 2
        fd = os.open(f, os.O_RDWR)  # pyfuse3's
        try:
            os.unlink(f)
            assert ask()["kept"] == []
            os.write(fd, b"still")
            os.fsync(fd)
            st = os.fstat(fd)
            assert (st.st_nlink, st.st_size, os.pread(fd, 10, 0)) == (0, 5, b"still")
        finally:
            os.close(fd)
        assert ask()["python"]["open"] == n + 2
        f.write_bytes(b"again")
        assert f.read_bytes() == b"again" and (up / "new").read_bytes() == b"again"
        assert ask()["python"]["open"] == n + 2


@pytest.mark.parametrize("mode", [m for m in FAST_MODES if m != "no-open"])
def test_opens_of_lower_files_for_reading_are_answered_without_python(tmp_path, mode):
    """A lower file opened once (Python's open) is opened, read and closed 20 times more: no
    OPEN or RELEASE reaches Python, the data is the file's.  A reader open so before a copy-up
    reads what was written since (the upper file, as overlayfs's reopened one), also after the
    file is unlinked; while such a reader holds the node a writer's open is not passed through
    (the kernel refuses passthrough of a node open cached: EIO), and once it is released one is."""
    with counting_server(tmp_path, mode) as (mnt, base, up, ask):
        data = mnt / "data"
        assert data.read_bytes() == b"data below\n"  # Python's open
        before = wait_for(lambda: (lambda a: a if a["python"].get("release") == 1 else None)(ask()))
        for _ in range(20):
            fd = os.open(data, os.O_RDONLY)
            try:
                assert os.pread(fd, 100, 0) == b"data below\n"
            finally:
                os.close(fd)
        after = wait_for(lambda: (lambda a: a if delta(before, a, "c", "release") == 20 else None)(ask()))
        assert delta(before, after, "python", "open") == 0, (before, after)
        assert delta(before, after, "python", "release") == 0, (before, after)
        assert delta(before, after, "c", "open") == 20

        reader = os.open(data, os.O_RDONLY)  # pyfuse3's
        try:
            assert ask()["c"]["open"] == after["c"]["open"] + 1
            writer = os.open(data, os.O_RDWR)  # copied up; cached, as the reader holds the node
            try:
                os.pwrite(writer, b"DATA", 0)
                assert ask()["passthrough"] == []
            finally:
                os.close(writer)
            assert os.pread(reader, 100, 0) == b"DATA below\n"  # (the kernel's pages)
            os.unlink(data)
            reads = ask()["python"]["read"]
            os.posix_fadvise(reader, 0, 0, os.POSIX_FADV_DONTNEED)  # the next READ reaches the server
            assert os.pread(reader, 100, 0) == b"DATA below\n"
            assert ask()["python"]["read"] > reads
            assert statx("", reader).nlink == 0
        finally:
            os.close(reader)
        assert (base / "data").read_text() == "data below\n"

        other = mnt / "other"
        assert other.read_text() == "other below\n"
        reader = os.open(other, os.O_RDONLY)  # pyfuse3's
        with open(other, "r+") as w:
            w.write("OTHER")
        os.close(reader)
        # Python's opens (data's first and its writer, other's first and its writer) and
        # pyfuse3's two readers released: nothing holds the node cached now
        wait_for(lambda: (lambda a: a["c"]["release"] == after["c"]["release"] + 2 and
                          a["python"]["release"] == 4)(ask()))
        writer = os.open(other, os.O_RDWR)
        try:
            if mode == "default":
                assert len(ask()["passthrough"]) == 1
            assert os.pread(writer, 100, 0) == b"OTHER below\n"
        finally:
            os.close(writer)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_lower_answers_match_kernel_overlayfs(tmp_path, mode):
    """What a program sees of lower files (stat, xattrs, reads of a file opened before its
    copy-up, after it) whose requests pyfuse3 answers is what it sees on kernel overlayfs."""
    base = tmp_path / "base"
    (base / "d").mkdir(parents=True)
    for name in ("a", "b", "d/c"):
        (base / name).write_text(f"{name}\n")
    os.setxattr(base / "b", "user.k", b"v")

    def observe(mnt: Path) -> list:
        out = []
        for name in ("a", "b", "d/c", "d"):
            p = mnt / name
            for _ in range(2):
                if not p.is_dir():
                    p.read_bytes()
                out.append((name, stat.filemode(os.stat(p).st_mode), os.stat(p).st_size,
                            os.stat(p).st_nlink, sorted(os.listxattr(p))))
                try:
                    out.append(os.getxattr(p, "security.capability"))
                except OSError as e:
                    out.append(e.errno)
        r = os.open(mnt / "a", os.O_RDONLY)
        try:
            with open(mnt / "a", "a") as f:
                f.write("more\n")
            out.append(os.pread(r, 100, 0))
            os.chmod(mnt / "d/c", 0o640)
            out.append(stat.filemode(statx(mnt / "d/c").mode))
            (mnt / "d/new").write_text("new\n")
            out.append(sorted(os.listdir(mnt / "d")))
            os.unlink(mnt / "a")
            out.append((statx("", r).nlink, os.pread(r, 100, 0)))
        finally:
            os.close(r)
        return out

    kup, fup = tmp_path / "kup", tmp_path / "fup"
    kup.mkdir()
    fup.mkdir()
    k = mount_overlay([base], kup, tmp_path / "kwork", tmp_path / "kmnt")
    try:
        want = observe(k.mnt)
    finally:
        k.close()
    f = mount_union([base], fup, tmp_path / "fmnt", *MODES[mode])
    try:
        assert observe(f.mnt) == want
    finally:
        f.close()


@pytest.mark.parametrize("mode", FAST_MODES)
def test_directories_made_into_are_answered_without_python(tmp_path, mode):
    """Each entry made in a directory drops its attributes in the kernel, whose next permission
    check in it asks for them: 30 files made in an upper directory send Python one GETATTR of
    it, pyfuse3 answers the rest from a descriptor of it.  What stat shows of it (size, nlink,
    st_ino) is the upper directory's, after entries come and go, after a rename, and for a new
    directory made where a removed one was."""
    with counting_server(tmp_path, mode) as (mnt, base, up, ask):
        os.mkdir(mnt / "d")
        before = ask()
        for i in range(30):
            (mnt / f"d/{i}").write_text("x")
        after = ask()
        assert delta(before, after, "python", "getattr") <= 2, (before, after)
        assert delta(before, after, "c", "getattr") >= 25, (before, after)

        def same(name: str) -> None:
            st, ust = statx(mnt / name), os.stat(up / name)
            assert (st.size, st.nlink, st.mode, st.ino) == (ust.st_size, ust.st_nlink, ust.st_mode, ust.st_ino)
        same("d")
        os.mkdir(mnt / "d/sub")
        same("d")
        for i in range(30):
            os.unlink(mnt / f"d/{i}")
        same("d")
        os.rename(mnt / "d", mnt / "e")
        same("e")
        os.mkdir(mnt / "d")
        same("d")
        os.rmdir(mnt / "e/sub")
        same("e")
        os.rmdir(mnt / "e")
        same("d")
        assert not (mnt / "e").exists()
