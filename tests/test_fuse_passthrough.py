"""FUSE passthrough in the union filesystem (pyfuse3 patch revision 5, fuse/union.py
PASSTHROUGH): files of the upper layer are read, written and mmapped by the kernel itself.

The evidence is timing-free: the server is stopped (SIGSTOP) and a program does I/O on a
file it opened before; with passthrough that I/O completes, without it the program waits
for the server (and is killed by its timeout)."""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from test_fuse import PASSTHROUGH_HERE, layers, mount_union  # noqa: F401 - layers is a fixture

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not PASSTHROUGH_HERE, reason="no FUSE passthrough here (kernel or pyfuse3)")]


@contextlib.contextmanager
def mounted(tmp_path: Path, lowers: list[Path], *options: str):
    up = tmp_path / "upper"
    up.mkdir()
    m = mount_union(lowers, up, tmp_path / "mnt", *options)
    try:
        yield m, up
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(m.proc.pid, signal.SIGCONT)
        m.close()


# mmap(2) itself (Python's mmap module stats the file first: a GETATTR after a write)
MMAP = """import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
"""


def without_server(m, code: str, fds: tuple = ()) -> subprocess.CompletedProcess:
    """CODE (Python, the descriptors FDS passed under their numbers) run while the server is
    stopped: it finishes only if nothing it does needs the server (else it is killed after
    5 s; one the kernel holds unkillable is waited for once the server runs again)."""
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        c = subprocess.Popen(["timeout", "-s", "KILL", "5", sys.executable, "-I", "-S", "-c", MMAP + code],
                             pass_fds=fds, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        try:
            out, err = c.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out = err = None
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    if out is None:
        out, err = c.communicate(timeout=20)
    return subprocess.CompletedProcess(c.args, c.returncode, out, err)


def test_reads_writes_and_mmap_of_upper_files_skip_the_server(tmp_path, layers):
    """A new file, a lower file opened for writing (copied up at its open) and a file open
    twice (a reader and a writer) are read, written and mmapped while the server is stopped;
    what they wrote is in the upper layer and the lower layer is untouched."""
    with mounted(tmp_path, layers) as (m, up):
        new = os.open(m.mnt / "new", os.O_RDWR | os.O_CREAT, 0o644)
        lower = os.open(m.mnt / "etc/passwd", os.O_RDWR)
        os.write(new, b"0123456789")
        # a node's first write asks for its security.capability (the kernel's check, before
        # each write until it found none: S_NOSEC), so each is written once before the stop
        os.pwrite(lower, b"r", 0)
        reader = os.open(m.mnt / "new", os.O_RDONLY)
        try:
            r = without_server(m, f"""
os.pwrite({new}, b"written while stopped\\n", 10)
assert os.pread({reader}, 100, 0) == b"0123456789written while stopped\\n", os.pread({reader}, 100, 0)
assert os.pread({lower}, 4, 0) == b"root"
os.pwrite({lower}, b"ROOT", 0)
p = libc.mmap(None, 4096, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, {new}, 0)
assert p != ctypes.c_void_p(-1).value
ctypes.memmove(p, b"MMAP", 4)
assert libc.msync(ctypes.c_void_p(p), 4096, 4) == 0  # MS_SYNC
libc.munmap(ctypes.c_void_p(p), 4096)
assert os.pread({reader}, 4, 0) == b"MMAP"
print("done")
""", (new, lower, reader))
            assert r.returncode == 0 and r.stdout == "done\n", r
        finally:
            for fd in (new, lower, reader):
                os.close(fd)
        assert (up / "new").read_bytes() == b"MMAP456789written while stopped\n"
        assert (m.mnt / "new").read_bytes() == b"MMAP456789written while stopped\n"
        assert (up / "etc/passwd").read_bytes() == b"ROOT:x:0:0::/root:/bin/sh\n"
        assert (layers[1] / "etc/passwd").read_bytes() == b"root:x:0:0::/root:/bin/sh\n"


@pytest.mark.parametrize("options", [("--passthrough", "off", "--writeback-cache", "off"),
                                     ("--passthrough", "off"), ()])
def test_without_passthrough_io_goes_through_the_server(tmp_path, layers, options):
    """The fallback (forced here, as where the kernel has no passthrough): a read of what the
    kernel does not hold waits for the server; with passthrough it does not."""
    with mounted(tmp_path, layers, *options) as (m, up):
        (up / "f").write_bytes(b"x" * 10)  # never read through the mount
        fd = os.open(m.mnt / "f", os.O_RDWR)
        try:
            r = without_server(m, f"print(os.pread({fd}, 10, 0))", (fd,))
        finally:
            os.close(fd)
        assert r.returncode == (-signal.SIGKILL if options else 0), r
        assert (m.mnt / "f").read_bytes() == b"x" * 10


def test_size_and_times_after_passthrough_writes(tmp_path, layers):
    """The kernel's attributes of a node written through passthrough follow the upper file:
    stat through the mount shows its size and mtime, after writes, appends and a truncate."""
    with mounted(tmp_path, layers) as (m, up):
        with open(m.mnt / "log", "ab", buffering=0) as f:
            for i in range(500):
                f.write(b"line %d\n" % i)
                if i % 100 == 0:
                    st, ust = os.stat(m.mnt / "log"), os.stat(up / "log")
                    assert (st.st_size, st.st_mtime_ns) == (ust.st_size, ust.st_mtime_ns)
            before = os.fstat(f.fileno()).st_mtime_ns
            os.utime(up / "log", ns=(10**9, 10**9))  # an older mtime than any write's
            f.write(b"last\n")
            os.ftruncate(f.fileno(), 4000)
            st = os.fstat(f.fileno())
        ust = os.stat(up / "log")
        assert st.st_size == ust.st_size == 4000
        assert st.st_mtime_ns == ust.st_mtime_ns > before
        st = os.stat(m.mnt / "etc/group")
        with open(m.mnt / "etc/group", "ab") as f:  # a lower file: copy-up, then passthrough
            f.write(b"staff:x:50:\n")
        st2, ust = os.stat(m.mnt / "etc/group"), os.stat(up / "etc/group")
        assert st2.st_size == ust.st_size == st.st_size + 12
        assert st2.st_mtime_ns == ust.st_mtime_ns
        assert st2.st_ino == st.st_ino  # the number programs saw stays


def test_a_lower_file_open_for_reading_while_copied_up(tmp_path, layers):
    """The kernel takes no passthrough open of a node open cached (a lower file is): a file a
    reader holds open is copied up by a writer, which writes through the server; the reader
    reads what was written (as on overlayfs); once both closed, the next opens pass through."""
    with mounted(tmp_path, layers) as (m, up):
        with open(m.mnt / "dir/keep", "rb") as reader:
            assert reader.read(2) == b"ke"
            with open(m.mnt / "dir/keep", "ab") as writer:
                writer.write(b"more\n")
            assert reader.read() == b"ep\nmore\n"
        fd = os.open(m.mnt / "dir/keep", os.O_RDWR)
        try:
            os.pwrite(fd, b"k", 0)  # the node's capability check (see above)
            r = without_server(m, f"print(os.pread({fd}, 100, 0)); os.pwrite({fd}, b'KEEP', 0); "
                                  f"print(os.pread({fd}, 100, 0))", (fd,))
        finally:
            os.close(fd)
        assert r.returncode == 0 and r.stdout == "b'keep\\nmore\\n'\nb'KEEP\\nmore\\n'\n", r
        assert (up / "dir/keep").read_bytes() == b"KEEP\nmore\n"


def test_what_a_killed_server_leaves_with_passthrough(tmp_path, layers):
    """Every write() that returned went to the upper file itself: after kill -9 of the
    server, the file written and closed and the one still open both have all of it."""
    with mounted(tmp_path, layers) as (m, up):
        with open(m.mnt / "closed", "wb") as f:
            for _ in range(100):
                f.write(b"x" * 1000)
        held = open(m.mnt / "open", "wb", buffering=0)
        held.write(b"y" * 5000)
        m.proc.kill()
        m.proc.wait(10)
        assert (up / "closed").read_bytes() == b"x" * 100000
        assert (up / "open").read_bytes() == b"y" * 5000
        with contextlib.suppress(OSError):
            held.close()


def test_setuid_file_written_by_a_user_loses_its_bits(tmp_path, layers):
    """A passthrough write goes to the backing file as the server (root), and with
    FUSE_HANDLE_KILLPRIV_V2 the kernel leaves clearing setuid/setgid to the server's WRITE:
    a writable open of such a file is not passed through (here direct I/O, as a passthrough
    open of the node is held), so a user's append clears both bits, as the kernel does."""
    with mounted(tmp_path, layers) as (m, up):
        (m.mnt / "tool").write_bytes(b"#!/bin/sh\n")
        os.chmod(m.mnt / "tool", 0o6777)
        with open(m.mnt / "tool", "rb") as held:  # a passthrough open of the node, before the writer's
            subprocess.run(["timeout", "20", "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                            "sh", "-c", "printf y >> tool"], cwd=m.mnt, check=True)  # (tmp_path is root's alone)
            assert held.read() == b"#!/bin/sh\ny"
        assert stat.S_IMODE(os.stat(m.mnt / "tool").st_mode) == 0o0777
        assert stat.S_IMODE(os.stat(up / "tool").st_mode) == 0o0777
