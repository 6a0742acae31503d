"""The union filesystem with the kernel opening files without asking (pyfuse3 patch revision 6,
fuse/union.py NO_OPEN, `--open-requests off`): no OPEN or RELEASE reaches the server, whose
READ, WRITE, FSYNC and SETATTR come by node.

The evidence is timing-free, as for passthrough: the server is stopped (SIGSTOP) and a program
opens and reads files the kernel has cached; without no_open each open waits for the server."""
from __future__ import annotations

import os
import subprocess

import pytest

from dunnage.fuse.union import NO_OPEN, UnionFS
from test_fuse import MODES, layers  # noqa: F401 - layers is a fixture
from test_fuse_passthrough import mounted, without_server

pytestmark = pytest.mark.timeout(120)

READ_BOTH = ("import os\n"
             "for p in ({a!r}, {b!r}):\n"
             "    fd = os.open(p, os.O_RDONLY)\n"
             "    print(os.read(fd, 100))\n"
             "    os.close(fd)\n")


def test_patch_six_is_built():
    assert NO_OPEN, "pyfuse3 lacks dunnage's patch 6: run scripts/dev.sh"


@pytest.mark.parametrize("mode", ["no-open", "default"])
def test_opening_cached_files_asks_the_server_nothing(tmp_path, layers, mode):
    with mounted(tmp_path, layers, *MODES[mode]) as (m, up):
        lower, new = m.mnt / "etc/passwd", m.mnt / "new"
        new.write_bytes(b"written here\n")
        want = [lower.read_bytes()[:100], b"written here\n"]  # now in the kernel's cache
        r = without_server(m, READ_BOTH.format(a=str(lower), b=str(new)))
        if mode == "no-open":
            assert r.returncode == 0, r
            assert r.stdout.splitlines() == [repr(x) for x in want]
        else:  # every open is a round trip to the server, stopped: the program is killed
            assert r.returncode != 0


def test_truncating_opens_renames_over_and_many_files(tmp_path, layers):
    """O_TRUNC (a SETATTR of size 0 here: no atomic_o_trunc), a file renamed over while a
    program writes it (its descriptor kept until the FORGET), and more files written than
    the server keeps descriptors of (UnionFS.NODE_FDS)."""
    with mounted(tmp_path, layers, *MODES["no-open"]) as (m, up):
        for rel in ("etc/passwd", "etc/hostname"):  # lower files
            with open(m.mnt / rel, "w") as f:
                f.write("x\n")
            assert (m.mnt / rel).read_text() == "x\n" == (up / rel).read_text()
        (m.mnt / "a").write_text("a long first version\n")
        with open(m.mnt / "a", "w") as f:  # an upper file
            f.write("b\n")
        assert (m.mnt / "a").read_text() == "b\n"

        fd = os.open(m.mnt / "a", os.O_RDWR)
        (m.mnt / "c").write_text("replaces a\n")
        os.rename(m.mnt / "c", m.mnt / "a")
        os.pwrite(fd, b"still mine\n", 0)
        os.fsync(fd)
        assert os.pread(fd, 100, 0) == b"still mine\n" and os.fstat(fd).st_nlink == 0
        os.close(fd)
        assert (m.mnt / "a").read_text() == "replaces a\n"

        n = UnionFS.NODE_FDS * 2 + 10
        (m.mnt / "many").mkdir()
        for rnd in range(2):
            for i in range(n):
                with open(m.mnt / f"many/{i}", "a") as f:
                    f.write(f"{rnd}:{i}\n")
        subprocess.run(["sync", "-f", str(m.mnt)], check=True, timeout=30)
        for i in range(n):
            assert (up / f"many/{i}").read_text() == f"0:{i}\n1:{i}\n"

