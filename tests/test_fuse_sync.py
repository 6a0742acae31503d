"""What fsync(2) reaches through the union filesystem: the upper layer's files and directories
on disk, in every mode, as overlayfs syncs the upper ones.  The evidence is the kernel's: the
upper file's dirty pages (/proc/kpageflags), and the server's own fsync calls (strace)."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from dunnage.fuse.union import UnionFS
from test_fuse import MODES, layers  # noqa: F401 - layers is a fixture
from test_fuse_passthrough import mounted

pytestmark = pytest.mark.timeout(120)


def dirty_pages(path) -> int:
    """How many of PATH's pages in the page cache are dirty (written, not yet on disk): its
    pages mapped here, their frames found in /proc/self/pagemap and their flags in
    /proc/kpageflags (KPF_DIRTY), which root may read."""
    import ctypes
    import mmap
    import struct
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    try:
        base = ctypes.addressof(ctypes.c_char.from_buffer(m))
        n = (size + 4095) // 4096
        dirty = 0
        with open("/proc/self/pagemap", "rb", buffering=0) as pm, open("/proc/kpageflags", "rb", buffering=0) as kf:
            for i in range(n):
                m[i * 4096]  # read: mapped, not written
                pm.seek((base // 4096 + i) * 8)
                entry = struct.unpack("<Q", pm.read(8))[0]
                assert entry >> 63, "page not present"
                pfn = entry & ((1 << 55) - 1)
                assert pfn, "no frame number (root sees them)"
                kf.seek(pfn * 8)
                dirty += struct.unpack("<Q", kf.read(8))[0] >> 4 & 1
        return dirty
    finally:
        del base
        m.close()


@pytest.mark.parametrize("mode", ["no-open", "default"])
def test_fsync_reaches_a_file_whose_descriptor_the_server_closed(tmp_path, layers, mode):
    """fsync(2) of a file written through the mount gets its data onto the upper layer's disk
    even after the server closed the descriptor it wrote it with (more files written since
    than it keeps descriptors of, UnionFS.NODE_FDS): coreutils' `sync FILE` and a database's
    checkpoint fsync files written long before."""
    with mounted(tmp_path, layers, *MODES[mode]) as (m, up):
        data = os.urandom(64 << 10)
        with open(m.mnt / "first", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the kernel's writeback cache sent it: its WRITEs are in
        with open(m.mnt / "first", "ab") as f:
            f.write(data)  # written again, not synced
        (m.mnt / "more").mkdir()
        for i in range(UnionFS.NODE_FDS + 10):
            (m.mnt / f"more/{i}").write_bytes(b"x")
        subprocess.run(["sync", "-f", str(m.mnt / "more/0")], check=True, timeout=30)  # the WRITEs only
        assert dirty_pages(up / "first") > 0  # what fsync must write is there to write
        fd = os.open(m.mnt / "first", os.O_RDONLY)  # as coreutils' sync FILE does
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        assert dirty_pages(up / "first") == 0
        assert (up / "first").read_bytes() == data * 2


@pytest.mark.parametrize("mode", MODES)
def test_fsync_of_a_directory_syncs_its_upper_directory(tmp_path, layers, mode):
    """fsync(2) of a directory (a database after it made a file there) fsyncs the directory of
    the upper layer, as overlayfs does; a directory only below has nothing to sync.  Seen in
    the server's own system calls."""
    with mounted(tmp_path, layers, *MODES[mode]) as (m, up):
        (m.mnt / "etc/new").write_text("x")  # a lower directory, copied up for its new entry
        (m.mnt / "fresh").mkdir()
        (m.mnt / "fresh/f").write_text("y")
        trace = tmp_path / "trace"
        s = subprocess.Popen(["strace", "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", str(trace),
                              "-p", str(m.proc.pid)], stderr=subprocess.PIPE, text=True)
        try:
            assert "attached" in s.stderr.readline()
            for d in ("etc", "fresh", "dir", "fresh"):  # dir: only in a lower layer
                fd = os.open(m.mnt / d, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    (os.fdatasync if d == "fresh" else os.fsync)(fd)
                finally:
                    os.close(fd)
        finally:
            s.terminate()
            s.wait(20)
        calls = re.findall(r"(fsync|fdatasync)\(\d+<([^>]*)>\) = 0", trace.read_text())
        assert calls == [("fsync", f"{up}/etc"), ("fdatasync", f"{up}/fresh"), ("fdatasync", f"{up}/fresh")], calls
