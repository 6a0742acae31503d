"""What of a file open passthrough still comes to the union's server, and how it is answered.

With passthrough the kernel drops a file's size after each write it passes through and its
S_NOSEC at each refresh of the attributes: a program that appends a block after asking for
the size (postgres: lseek(SEEK_END), then an 8 KiB pwrite) sends a GETATTR and a GETXATTR
of security.capability per block, which pyfuse3 answers without Python (patch revision 7,
fuse/union.py FAST_ATTR).  And posix_fadvise(WILLNEED) has the kernel fill the node's page
cache, which no passthrough read uses, with READs.  The evidence is counted by a server
that counts what reaches its Python handlers."""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import pytest

from conftest import wait_for
from test_fuse import PASSTHROUGH_HERE, asking_server
from dunnage.fuse.union import FAST_ATTR

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not (PASSTHROUGH_HERE and FAST_ATTR),
                                 reason="no FUSE passthrough or pyfuse3 patch 7 here")]

# a server that counts the GETATTRs, GETXATTRs and READs its Python handlers answer: a line
# on its stdin, the counts and the descriptors pyfuse3 answers from as JSON on its stdout
SERVER = """
import json, sys, threading
from dunnage.fuse.mount import serve
from dunnage.fuse.union import UnionFS
lower, upper, mnt = sys.argv[1:]
calls = {"getattr": 0, "getxattr": 0, "read data": 0, "read failed": 0}
class Counting(UnionFS):
    PT_KEPT = 0  # no node keeps its descriptor past its last close (FAST_PT: test_fuse_lower_fast)
    async def read(self, fh, off, size):
        try:
            data = await super().read(fh, off, size)
        except Exception:
            calls["read failed"] += 1
            raise
        calls["read data"] += 1
        return data
    async def getattr(self, inode, ctx=None):
        calls["getattr"] += 1
        return await super().getattr(inode, ctx)
    async def getxattr(self, inode, name, ctx):
        calls["getxattr"] += 1
        return await super().getxattr(inode, name, ctx)
ops = Counting([lower], upper)
def answer():
    for _ in sys.stdin:
        while True:
            try:
                fast = sorted(ops._fast.values())
                break
            except RuntimeError:  # changed while read
                pass
        print(json.dumps(dict(calls, fast=fast)), flush=True)
threading.Thread(target=answer, daemon=True).start()
serve([lower], upper, mnt, ops=ops)
"""


@contextlib.contextmanager
def counting_server(tmp_path: Path):
    """The union (of one lower file, and an upper file "other") served by SERVER: its mount
    point and a function that asks it for its counts."""
    base, up, mnt = tmp_path / "base", tmp_path / "upper", tmp_path / "mnt"
    for d in (base, up, mnt):
        d.mkdir()
    (base / "lower").write_text("below\n")
    (up / "other").write_bytes(b"abc")
    with asking_server(SERVER, [str(base), str(up), str(mnt)], mnt) as ask:
        yield mnt, up, ask


def test_a_table_extended_block_by_block_costs_python_nothing(tmp_path):
    """lseek(SEEK_END) and an 8 KiB pwrite, 50 times, through passthrough: every size is right
    and Python answers one GETATTR and one GETXATTR of the file in all; stat and the file's
    xattrs (set through the mount, small and large, and one it lacks) are the upper file's.
    Once closed, the file's GETATTR comes to Python again, when the descriptor pyfuse3 read
    is another file's: the size shown is its own."""
    with counting_server(tmp_path) as (mnt, up, ask):
        fd = os.open(mnt / "rel", os.O_RDWR | os.O_CREAT, 0o600)
        before = ask()
        for i in range(50):
            assert os.lseek(fd, 0, os.SEEK_END) == i * 8192
            os.pwrite(fd, bytes([65 + i % 26]) * 8192, i * 8192)
        assert os.lseek(fd, 0, os.SEEK_END) == 50 * 8192
        after = ask()
        assert after["getattr"] - before["getattr"] <= 1, (before, after)
        assert after["getxattr"] - before["getxattr"] <= 1, (before, after)
        st, ust = os.fstat(fd), os.stat(up / "rel")
        for field in ("st_ino", "st_size", "st_blocks", "st_mode", "st_nlink", "st_uid", "st_gid",
                      "st_mtime_ns", "st_ctime_ns"):
            assert getattr(st, field) == getattr(ust, field), field
        os.setxattr(mnt / "rel", "user.small", b"v")
        os.setxattr(mnt / "rel", "user.big", b"b" * 1000)
        n = ask()["getxattr"]
        assert os.getxattr(fd, "user.small") == b"v"
        assert os.getxattr(fd, "user.big") == b"b" * 1000
        with pytest.raises(OSError) as e:
            os.getxattr(fd, "user.none")
        assert e.value.errno == errno.ENODATA
        assert ask()["getxattr"] == n
        fast = ask()["fast"]
        assert len(fast) == 1, fast
        os.pwrite(fd, b"!", 50 * 8192)  # the kernel drops the size again
        os.close(fd)
        wait_for(lambda: not ask()["fast"])  # its RELEASE took the node back
        other = os.open(mnt / "other", os.O_RDWR)
        try:
            os.pwrite(other, b"A", 0)
            assert os.lseek(other, 0, os.SEEK_END) == 3
            assert ask()["fast"] == fast  # the descriptor's number, now another file's
            n = ask()["getattr"]
            assert os.stat(mnt / "rel").st_size == 50 * 8192 + 1
            assert ask()["getattr"] == n + 1
        finally:
            os.close(other)
        assert (up / "rel").read_bytes()[-8193:] == b"X" * 8192 + b"!"


def test_readahead_of_a_passthrough_file_copies_nothing(tmp_path):
    """posix_fadvise(WILLNEED) of a file open passthrough has the kernel fill the node's page
    cache, which no read of it uses, with READs: they fail here without reading the file (the
    advice goes to the upper file), and the file reads right.  An open with direct I/O among
    passthrough ones (a setuid file opened for writing) reads through the server."""
    data = os.urandom(1 << 20)
    with counting_server(tmp_path) as (mnt, up, ask):
        fd = os.open(mnt / "data", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, data, 0)
            before = ask()
            os.posix_fadvise(fd, 0, len(data), os.POSIX_FADV_WILLNEED)
            wait_for(lambda: ask()["read failed"] > before["read failed"])
            assert ask()["read data"] == before["read data"]
            assert os.pread(fd, len(data), 0) == data
        finally:
            os.close(fd)
        (mnt / "tool").write_bytes(b"#!/bin/sh\n")
        os.chmod(mnt / "tool", 0o4755)
        with open(mnt / "tool", "rb") as held:  # passthrough: the writer's open gets direct I/O
            n = ask()["read data"]
            fd = os.open(mnt / "tool", os.O_RDWR)
            try:
                assert os.pread(fd, 100, 0) == b"#!/bin/sh\n"
            finally:
                os.close(fd)
            assert ask()["read data"] > n
            assert held.read() == b"#!/bin/sh\n"


def test_a_new_files_first_write_asks_python_nothing(tmp_path):
    """Files made (CREATE) and written once through passthrough, as cp -a makes them: the kernel
    asks for a new inode's security.capability before its first write, which pyfuse3 answers
    from the descriptor handed over at the CREATE (at a first GETATTR, which cp never sends,
    it came to Python: a GETXATTR a file).  The files hold what was written."""
    with counting_server(tmp_path) as (mnt, up, ask):
        before = ask()
        for i in range(10):
            fd = os.open(mnt / f"new{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, b"x" * i)
            finally:
                os.close(fd)
        assert ask()["getxattr"] == before["getxattr"]
        assert [(up / f"new{i}").read_bytes() for i in range(10)] == [b"x" * i for i in range(10)]
        wait_for(lambda: not ask()["fast"])  # released: taken back
