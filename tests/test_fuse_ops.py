"""The FUSE requests the kernel may take silently, audited against kernel overlayfs: what a
program sees of fallocate, SEEK_DATA/SEEK_HOLE, file attribute flags (lsattr/chattr), statx's
birth time, O_TMPFILE, O_DIRECT, POSIX ACLs, syncfs and epoll on the union filesystem, next to
overlayfs over copies of the same layers, in each of the union's modes.

Each test here found a difference.  Where no new handler in fuse/union.py can answer it (a
request libfuse 3.14 or pyfuse3 3.5 never hands to Python, one the kernel never sends, or a
fix inside the union's existing methods), the test is a strict xfail whose reason says what
the fix needs; it turns into a failure the day the union behaves as overlayfs does.

What matched overlayfs in every mode (no test here): posix_fallocate(3) (glibc writes the
blocks itself when FALLOCATE fails), copy_file_range, POSIX and flock locks between two
processes (the kernel keeps them: the server asks for no FUSE_POSIX_LOCKS), poll(2),
RENAME_NOREPLACE/EXCHANGE/WHITEOUT, utimensat's UTIME_NOW/UTIME_OMIT (on symlinks too),
trusted.* and security.* xattrs, fifos and unix sockets made in the mount, access(2)."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import mmap
import os
import re
import select
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from test_fuse import MODES, both_mounts, layers  # noqa: F401 - layers is a fixture
from test_fuse_sync import dirty_pages

pytestmark = pytest.mark.timeout(120)


LIBC = ctypes.CDLL(None, use_errno=True)


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


def outcome(fn):
    try:
        return ("ok", fn())
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- fallocate
def fallocations(m: Path) -> list:
    """fallocate(1) as a program uses it: reserve (mode 0), reserve past the end keeping the
    size (FALLOC_FL_KEEP_SIZE), punch a hole in a new file and in a lower one (copied up)."""
    out = []
    r = run("fallocate", "-l", "1M", str(m / "reserved"))
    out.append(("reserve", r.returncode, r.returncode or os.stat(m / "reserved").st_size))
    (m / "kept").write_bytes(b"k" * 100)
    r = run("fallocate", "--keep-size", "-l", "1M", str(m / "kept"))
    out.append(("keep-size", r.returncode, os.stat(m / "kept").st_size))
    (m / "holey").write_bytes(b"x" * (256 << 10))
    r = run("fallocate", "--punch-hole", "-o", "4096", "-l", "65536", str(m / "holey"))
    out.append(("punch", r.returncode, os.stat(m / "holey").st_size, digest(m / "holey")))
    r = run("fallocate", "--punch-hole", "-o", "0", "-l", "8", str(m / "etc/passwd"))
    out.append(("punch lower", r.returncode, digest(m / "etc/passwd")))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_fallocate_reaches_the_upper_file(tmp_path, layers, mode):
    """fallocate(1) (databases reserve their files' space so; docker's overlay2 passes it to the
    upper file): reserve, keep-size, punch a hole, as overlayfs (the union failed them all with
    EOPNOTSUPP before pyfuse3's patch 11)."""
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = fallocations(kmnt)
        assert [o[1] for o in want] == [0, 0, 0, 0], want  # the oracle does them all
        assert fallocations(fmnt) == want


# --------------------------------------------------------------------------- lseek
def sparse_offsets(m: Path) -> list:
    """SEEK_DATA and SEEK_HOLE (cp --sparse, tar -S, qemu-img, rsync -S) on a sparse file
    written through the mount and on one in a lower layer: 4 MiB with 4 KiB of data at 2 MiB."""
    out = []
    fd = os.open(m / "sparse", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 4 << 20)
        os.pwrite(fd, b"d" * 4096, 2 << 20)
        os.fsync(fd)
    finally:
        os.close(fd)
    for name in ("sparse", "lower-sparse"):
        fd = os.open(m / name, os.O_RDONLY)
        try:
            out.append((name, os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE),
                        os.lseek(fd, (2 << 20) + 4096, os.SEEK_HOLE)))
        finally:
            os.close(fd)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_seek_data_and_seek_hole_find_the_holes(tmp_path, layers, mode):
    top, base = layers
    with open(base / "lower-sparse", "wb") as f:
        f.truncate(4 << 20)
        f.seek(2 << 20)
        f.write(b"d" * 4096)
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = sparse_offsets(kmnt)
        assert want[1] == ("lower-sparse", 2 << 20, 0, (2 << 20) + 4096)
        assert sparse_offsets(fmnt) == want


# --------------------------------------------------------------------------- ioctl
def file_flags(m: Path) -> list:
    """lsattr of a new file, a lower file and a directory, chattr +A/-A of a lower file."""
    def flags(*args: str):
        r = run("lsattr", *args)
        return r.returncode, r.stdout.split()[0] if r.returncode == 0 else r.stderr.split(":")[1].strip()
    (m / "new").write_text("new")
    out = [flags(str(m / "new")), flags(str(m / "etc/passwd")), flags("-d", str(m / "etc"))]
    r = run("chattr", "+A", str(m / "dir/keep"))
    out.append(("chattr", r.returncode, flags(str(m / "dir/keep"))))
    run("chattr", "-A", str(m / "dir/keep"))
    return out


@pytest.mark.parametrize("mode", [pytest.param(m, marks=xfail(
    "IOCTL: lsattr/chattr ask FS_IOC_GETFLAGS/SETFLAGS (the kernel's fileattr_get/set send them to "
    "FUSE servers as FUSE_IOCTL); pyfuse3 3.5 sets no ioctl in libfuse's ops; needs pyfuse3's patch "
    "to pass those four (GET/SETFLAGS, FSGET/FSSETXATTR) to Python, answered on the top file (a "
    "set copies up first), as overlayfs's ovl_fileattr_get/set")) for m in MODES])
def test_lsattr_and_chattr_see_the_real_flags(tmp_path, layers, mode):
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = file_flags(kmnt)
        assert all(o[0] == 0 for o in want[:3]) and want[3][1] == 0, want
        assert "A" in want[3][2][1]
        assert file_flags(fmnt) == want


# --------------------------------------------------------------------------- statx
def birth_times(m: Path, up: Path, below: Path) -> list:
    """stat -c %W (statx's btime) of a new file and a lower one, next to their files' own."""
    (m / "born").write_text("x")
    w = [run("stat", "-c", "%W", str(p)).stdout.strip()
         for p in (m / "born", up / "born", m / "dir/keep", below / "dir/keep")]
    return [w[0] == w[1] != "0", w[2] == w[3] != "0"]


@pytest.mark.parametrize("mode", [pytest.param(m, marks=xfail(
    "STATX: the kernel asks FUSE_STATX for a statx(2) that wants btime (6.6+), and takes ENOSYS as "
    "'none' (no_statx); libfuse 3.14 dispatches no FUSE_STATX (3.17's has a statx op): needs pyfuse3's "
    "patch to answer it from Python with statx(2) of the top file, as overlayfs shows its real file's "
    "btime")) for m in MODES])
def test_statx_shows_the_birth_time(tmp_path, layers, mode):
    top, base = layers
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        assert birth_times(kmnt, kup, base) == [True, True]
        assert birth_times(fmnt, fup, base) == [True, True]


# --------------------------------------------------------------------------- O_TMPFILE
def each_tmpfile(m: Path, mode: int, then) -> list:
    """THEN(descriptor, directory) of a file opened O_TMPFILE with MODE in an upper directory and
    in a lower one, or the error."""
    (m / "made").mkdir(exist_ok=True)
    out = []
    for d in ("made", "etc"):
        def one(d=m / d):
            fd = os.open(d, os.O_TMPFILE | os.O_RDWR, mode)
            try:
                return then(fd, d)
            finally:
                os.close(fd)
        out.append(outcome(one))
    return out


def tmpfiles(m: Path) -> list:
    """open(O_TMPFILE): written and read back, no link, no entry."""
    def then(fd, d):
        os.write(fd, b"temporary")
        return os.pread(fd, 64, 0), os.fstat(fd).st_nlink, sorted(os.listdir(d))
    return each_tmpfile(m, 0o600, then)


@pytest.mark.parametrize("mode", MODES)
def test_o_tmpfile_makes_a_nameless_file(tmp_path, layers, mode):
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = tmpfiles(kmnt)
        assert want[0] == ("ok", (b"temporary", 0, [])), want
        assert tmpfiles(fmnt) == want


def linked_tmpfiles(m: Path) -> list:
    """A file made whole with no name, then given one (linkat(2) of its descriptor, AT_EMPTY_PATH,
    as systemd's atomic writes do); read back by its name, its link count and mode, after an
    unlink of the name too (the descriptor still reads)."""
    def then(fd, d):
        os.write(fd, b"whole before it had a name")
        if LIBC.linkat(fd, b"", -100, os.fsencode(d / "named"), 0x1000) != 0:  # AT_EMPTY_PATH
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        st = os.stat(d / "named")
        got = [(d / "named").read_bytes(), st.st_nlink, oct(stat.S_IMODE(st.st_mode))]
        os.unlink(d / "named")
        return got + [os.pread(fd, 5, 0), os.fstat(fd).st_nlink, "named" in os.listdir(d)]
    return each_tmpfile(m, 0o640, then)


@pytest.mark.parametrize("mode", MODES)
def test_an_o_tmpfile_given_a_name_by_linkat(tmp_path, layers, mode):
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        old = os.umask(0o022)
        try:
            want = linked_tmpfiles(kmnt)
            assert want[0] == ("ok", [b"whole before it had a name", 1, "0o640", b"whole", 0, False]), want
            assert linked_tmpfiles(fmnt) == want
        finally:
            os.umask(old)


# --------------------------------------------------------------------------- O_DIRECT
def direct_io(m: Path) -> list:
    """O_DIRECT with aligned buffers: dd oflag=direct to a new file and iflag=direct back, and
    a lower file opened O_RDWR|O_DIRECT while a reader holds it (copied up at that open)."""
    out = []
    r = run("dd", "if=/dev/zero", f"of={m}/direct", "bs=4096", "count=4", "oflag=direct")
    out.append(("dd out", r.returncode))
    r = run("dd", f"if={m}/direct", "of=/dev/null", "bs=4096", "iflag=direct")
    out.append(("dd in", r.returncode))
    buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT wants
    buf.write(b"d" * 4096)
    held = os.open(m / "etc/passwd", os.O_RDONLY)
    try:
        def write_read():
            fd = os.open(m / "etc/passwd", os.O_RDWR | os.O_DIRECT)
            try:
                return os.pwrite(fd, buf, 0), os.preadv(fd, [buf], 0)
            finally:
                os.close(fd)
        out.append(outcome(write_read))
    finally:
        os.close(held)
    out.append(digest(m / "etc/passwd"))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_o_direct_reads_and_writes(tmp_path, layers, mode):
    """Databases open their files O_DIRECT (InnoDB's innodb_flush_method=O_DIRECT, RocksDB,
    fio): their reads and writes work as on overlayfs (they failed with EINVAL where the
    server did the I/O with its own unaligned buffers)."""
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = direct_io(kmnt)
        assert want[:3] == [("dd out", 0), ("dd in", 0), ("ok", (4096, 4096))], want
        assert direct_io(fmnt) == want


# --------------------------------------------------------------------------- POSIX ACLs
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
NOBODY = 65534


def acl(*entries: tuple) -> bytes:
    """A system.posix_acl_* value (version 2; each entry tag, permissions, id)."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in entries)


def as_nobody_reads(m: Path, rel: str) -> str:
    """What a process of uid/gid 65534 without groups gets reading REL (the mount's root open
    as its directory descriptor: the test's directories are root's alone)."""
    dfd = os.open(m, os.O_RDONLY | os.O_DIRECTORY)
    code = (f"import os\nos.setgroups([]); os.setresgid({NOBODY}, {NOBODY}, {NOBODY}); "
            f"os.setresuid({NOBODY}, {NOBODY}, {NOBODY})\n"
            f"try:\n    print(open(os.open({rel!r}, os.O_RDONLY, dir_fd={dfd})).read(), end='')\n"
            "except OSError as e:\n    print(e.strerror, end='')")
    try:
        return subprocess.run([sys.executable, "-I", "-c", code], pass_fds=(dfd,), capture_output=True,
                              text=True, timeout=30).stdout
    finally:
        os.close(dfd)


def acl_effects(m: Path) -> list:
    """An access ACL granting nobody read on a 0600 file (setfacl -m u:nobody:r), and a
    default ACL's mask deciding a new file's group bits (the umask then does not apply)."""
    (m / "secret").write_text("granted\n")
    os.chmod(m / "secret", 0o600)
    os.setxattr(m / "secret", "system.posix_acl_access",
                acl((ACL_USER_OBJ, 6, 0xFFFFFFFF), (ACL_USER, 4, NOBODY), (ACL_GROUP_OBJ, 0, 0xFFFFFFFF),
                    (ACL_MASK, 4, 0xFFFFFFFF), (ACL_OTHER, 0, 0xFFFFFFFF)))
    (m / "shared").mkdir()
    os.setxattr(m / "shared", "system.posix_acl_default",
                acl((ACL_USER_OBJ, 7, 0xFFFFFFFF), (ACL_GROUP_OBJ, 7, 0xFFFFFFFF), (ACL_MASK, 7, 0xFFFFFFFF),
                    (ACL_OTHER, 5, 0xFFFFFFFF)))
    old = os.umask(0o022)
    try:
        (m / "shared/new").write_text("x")
    finally:
        os.umask(old)
    return [as_nobody_reads(m, "secret"), oct(stat.S_IMODE(os.stat(m / "shared/new").st_mode))]


@pytest.mark.parametrize("mode", MODES)
def test_posix_acls_are_enforced_and_inherited(tmp_path, layers, mode):
    """setfacl's grants decide who may read, and a directory's default ACL a new file's mode,
    as on overlayfs (docker's containers use ACLs: journald's /var/log/journal, shared dirs)."""
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = acl_effects(kmnt)
        assert want == ["granted\n", "0o664"]
        assert acl_effects(fmnt) == want


# --------------------------------------------------------------------------- syncfs
@pytest.mark.parametrize("mode", [pytest.param(m, marks=xfail(
    "SYNCFS: the kernel sends FUSE_SYNCFS only to virtiofs (fuse_sync_fs returns unless fc->sync_fs); "
    "syncfs(2) of the mount writes back the kernel's own FUSE pages (WRITEs) and nothing asks the "
    "server to sync the upper filesystem, as overlayfs's ovl_sync_fs does: needs the kernel's "
    "FUSE_SYNCFS for /dev/fuse servers (then libfuse/pyfuse3 to pass it on: syncfs(2) of the upper "
    "layer)")) for m in MODES])
def test_syncfs_of_the_mount_syncs_the_upper_layer(tmp_path, layers, mode):
    """`sync -f FILE` (syncfs(2): what a program calls to make all it wrote durable) gets the
    upper layer's data onto its disk on overlayfs; through the union the server is never
    asked to (its own system calls, traced, show no sync of the upper layer)."""
    data = os.urandom(256 << 10)
    with both_mounts(layers, tmp_path, *MODES[mode]) as pair:
        kmnt, fmnt, kup, fup = pair
        (kmnt / "written").write_bytes(data)
        assert run("sync", "-f", str(kmnt / "written")).returncode == 0
        assert dirty_pages(kup / "written") == 0
        (fmnt / "written").write_bytes(data)
        trace = tmp_path / "trace"
        s = subprocess.Popen(["timeout", "60", "strace", "-f", "-y", "-e", "trace=syncfs,sync,fsync,fdatasync",
                              "-o", str(trace), "-p", str(pair.fm.proc.pid)], stderr=subprocess.PIPE, text=True)
        try:
            assert "attached" in s.stderr.readline()
            assert run("sync", "-f", str(fmnt / "written")).returncode == 0
        finally:
            s.terminate()
            s.wait(20)
        calls = re.findall(r"(syncfs|sync|fsync|fdatasync)\((?:\d+<([^>]*)>)?\) = 0", trace.read_text())
        assert any(c == "sync" or path.startswith(f"{fup}/") for c, path in calls), calls


# --------------------------------------------------------------------------- epoll
@pytest.mark.parametrize("mode", [pytest.param(m, marks=xfail(
    "the kernel's: every FUSE file has a poll method (fuse_file_poll), so epoll_ctl(2) takes a "
    "regular file of the mount, which overlayfs refuses (EPERM) as its real file has none; no answer "
    "of the server changes it (POLL is answered ENOSYS: always ready)")) for m in MODES])
def test_epoll_refuses_a_regular_file(tmp_path, layers, mode):
    """asyncio's add_reader and libuv's watchers on a regular file: EPERM on overlayfs (they
    fall back to reading it), taken on the union (and then always ready)."""
    def register(m: Path):
        fd = os.open(m / "etc/passwd", os.O_RDONLY)
        ep = select.epoll()
        try:
            ep.register(fd, select.EPOLLIN)
        finally:
            ep.close()
            os.close(fd)
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = outcome(lambda: register(kmnt))
        assert want == ("err", "EPERM")
        assert outcome(lambda: register(fmnt)) == want


# --------------------------------------------------------------------------- names and paths
LONG = "n" * 256  # one byte past NAME_MAX


def descend(m: Path, depth: int = 20) -> bytes:
    """mkdir and chdir-like descent by directory descriptors, 250-byte names DEPTH deep (past
    PATH_MAX from the mount's root, which the kernel allows: each step is one name), and a
    file written and read at the bottom."""
    fd = os.open(m, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d" * 250, dir_fd=fd)
            down = os.open("d" * 250, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = down
        w = os.open("file", os.O_CREAT | os.O_RDWR, 0o644, dir_fd=fd)
        try:
            os.write(w, b"deep")
            return os.pread(w, 8, 0)
        finally:
            os.close(w)
    finally:
        os.close(fd)


def long_names(m: Path) -> list:
    return [outcome(lambda: os.close(os.open(m / LONG, os.O_CREAT | os.O_WRONLY, 0o644))),
            outcome(lambda: os.mkdir(m / "etc" / LONG)),
            outcome(lambda: os.symlink("passwd", m / "etc" / LONG)),
            outcome(lambda: os.rename(m / "etc/passwd", m / "etc" / LONG)),
            outcome(lambda: os.link(m / "top-only", m / "dir" / LONG))]


@pytest.mark.parametrize("mode", MODES)
def test_too_long_names_and_paths_leave_the_server_serving(tmp_path, layers, mode):
    """A name past NAME_MAX (stat of a 256-byte name: any process can ask it, a web server of a
    name it was sent) and a tree deeper than PATH_MAX: the union's server took the OSError of
    its own lstat for a crash and ended, and the container's root filesystem with it (every
    request then ECONNABORTED/ENOENT).  Now they fail, and the mount serves on; the changes
    fail with overlayfs's ENAMETOOLONG."""
    with both_mounts(layers, tmp_path, *MODES[mode]) as pair:
        kmnt, fmnt, kup, fup = pair
        want = long_names(kmnt)
        assert want == [("err", "ENAMETOOLONG")] * 5
        assert outcome(lambda: os.stat(fmnt / LONG))[0] == "err"
        assert outcome(lambda: os.stat(fmnt / "etc" / LONG))[0] == "err"
        assert long_names(fmnt) == want
        outcome(lambda: descend(fmnt))
        assert pair.fm.proc.poll() is None, pair.fm.proc.stderr.read().decode()[-2000:]
        assert sorted(os.listdir(fmnt / "etc")) == sorted(os.listdir(kmnt / "etc"))
        assert (fmnt / "etc/passwd").read_text() == (kmnt / "etc/passwd").read_text()


@pytest.mark.parametrize("mode", MODES)
def test_stat_of_a_too_long_name_says_so(tmp_path, layers, mode):
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = outcome(lambda: os.stat(kmnt / LONG))
        assert want == ("err", "ENAMETOOLONG")
        assert outcome(lambda: os.stat(fmnt / LONG)) == want


@pytest.mark.parametrize("mode", [pytest.param(m, marks=xfail(
    "the union reaches every entry by its path from the layer's root (LayerStack._real), which the "
    "kernel refuses past PATH_MAX (ENAMETOOLONG); overlayfs resolves one name at a time; fix: "
    "resolve relative to a descriptor of the parent directory (openat/fstatat with dir_fd) once a "
    "path grows past PATH_MAX")) for m in MODES])
def test_a_tree_deeper_than_path_max(tmp_path, layers, mode):
    """node_modules, maven repositories and fuzzers make trees deeper than 4,096 bytes of path,
    which every filesystem takes one name at a time."""
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        assert outcome(lambda: descend(kmnt)) == ("ok", b"deep")
        assert outcome(lambda: descend(fmnt)) == ("ok", b"deep")


# --------------------------------------------------------------------------- a full upper layer
@contextlib.contextmanager
def small_uppers(tmp_path: Path, lower: Path, tmpfs: str, mode: str):
    """Kernel overlayfs and the union (in MODE) over LOWER, each with its upper layer on a tmpfs
    of its own (options TMPFS): mount(side) mounts "overlay" or "union" and gives its mount
    point; all are unmounted after."""
    from test_fuse import mount_overlay, mount_union
    mounts = []

    def mount(side: str) -> Path:
        fs = tmp_path / f"{side}-fs"
        fs.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", tmpfs, "tmpfs", str(fs)], check=True, timeout=30)
        mounts.append(fs)
        (fs / "upper").mkdir()
        mnt = tmp_path / f"{side}-mnt"
        if side == "overlay":
            (fs / "work").mkdir()
            mounts.append(mount_overlay([lower], fs / "upper", fs / "work", mnt))
        else:
            mounts.append(mount_union([lower], fs / "upper", mnt, *MODES[mode]))
        return mnt
    try:
        yield mount
    finally:
        for m in reversed(mounts):
            if isinstance(m, Path):
                subprocess.run(["umount", "-l", str(m)], capture_output=True, timeout=30)
            else:
                m.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_full_upper_layer_fails_a_create_with_enospc(tmp_path, layers, mode):
    """A container that filled its upper layer's filesystem creates a file in a directory of
    its image (which must be copied up first): overlayfs says ENOSPC and serves on."""
    got = {}
    with small_uppers(tmp_path, layers[1], "size=1m,nr_inodes=16", mode) as mount:
        for side in ("overlay", "union"):
            mnt = mount(side)
            filled = [outcome(lambda i=i: (mnt / f"fill{i}").write_text("x")) for i in range(20)]
            assert ("err", "ENOSPC") in filled, filled
            got[side] = [outcome(lambda: (mnt / "dir/new").write_text("x")),
                         outcome(lambda: (mnt / "etc/passwd").read_text())]
    assert got["overlay"] == [("err", "ENOSPC"), ("ok", "root:x:0:0::/root:/bin/sh\n")]
    assert got["union"] == got["overlay"]


# --------------------------------------------------------------------------- readdir while deleting
def remove_trees(m: Path) -> list:
    """busybox rm -rf (Alpine's rm, which unlinks each entry as readdir returns it) of a
    directory of 2,000 files made through the mount and of one only in a lower layer."""
    (m / "made").mkdir()
    for i in range(2000):
        (m / f"made/file-with-a-longer-name-{i:05d}").write_text("x")
    out = []
    for d in ("made", "many"):
        r = run("busybox", "rm", "-rf", str(m / d))
        out.append((d, r.returncode, (m / d).exists()))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_readdir_while_deleting_returns_every_entry(tmp_path, layers, mode):
    """rm -rf of busybox (Alpine images), and every C program's readdir/unlink loop (systemd's
    rm_rf_children): every entry is read and removed, as on overlayfs (half of a big directory
    was left, 'Directory not empty', while readdir's offsets were positions in its listing)."""
    for i in range(2000):
        (layers[1] / f"many/lower-file-name-{i:05d}").parent.mkdir(exist_ok=True)
        (layers[1] / f"many/lower-file-name-{i:05d}").write_text("x")
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        want = remove_trees(kmnt)
        assert want == [("made", 0, False), ("many", 0, False)]
        assert remove_trees(fmnt) == want


# --------------------------------------------------------------------------- a full upper layer, written back
@pytest.mark.parametrize("mode", ("writeback", "no-open"))
def test_a_full_upper_layer_fails_the_copy_written_back(tmp_path, layers, mode):
    """cp of 1 MiB onto an upper layer with room for 256 KiB: overlayfs fails it (ENOSPC, cp
    exits 1); through the union's writeback cache cp exited 0, the mount showed the whole file
    from the kernel's pages, and the upper layer kept a quarter of it: lost at the next restart
    or commit, with no error to anyone."""
    data = tmp_path / "data"
    data.write_bytes(os.urandom(1 << 20))
    got = {}
    with small_uppers(tmp_path, layers[1], "size=256k", mode) as mount:
        for side in ("overlay", "union"):
            r = run("cp", str(data), str(mount(side) / "copy"))
            got[side] = (r.returncode, "No space left on device" in r.stderr)
    assert got["overlay"] == (1, True)
    assert got["union"] == got["overlay"]


# --------------------------------------------------------------------------- copy-up of a sparse file
@pytest.mark.parametrize("mode", MODES)
def test_copy_up_keeps_a_sparse_file_sparse(tmp_path, layers, mode):
    """/var/log/lastlog is sparse at uid * 292 bytes (useradd -u 1000000000: 292 GB, a few KiB
    of data); the first login, or a chmod, copies it up.  On overlayfs the upper file keeps its
    holes; the union wrote every block of it (here 32 MiB for 8 KiB of data)."""
    with open(layers[1] / "etc/lastlog", "wb") as f:
        f.seek(32 << 20)
        f.write(b"last")
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        for m in (kmnt, fmnt):
            os.chmod(m / "etc/lastlog", 0o600)
            with open(m / "etc/lastlog", "r+b") as f:
                f.write(b"x")
        assert os.stat(kup / "etc/lastlog").st_blocks * 512 <= 64 << 10
        assert os.stat(fup / "etc/lastlog").st_blocks * 512 <= 64 << 10
        assert (fmnt / "etc/lastlog").read_bytes() == (kmnt / "etc/lastlog").read_bytes()


# --------------------------------------------------------------------------- directories' attributes
@pytest.mark.parametrize("mode", MODES)
def test_a_merged_directory_shows_one_link(tmp_path, layers, mode):
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        (kmnt / "etc/new").write_text("x")
        (fmnt / "etc/new").write_text("x")
        want = [os.stat(kmnt / d).st_nlink for d in ("", "etc")]
        assert want == [1, 1]
        assert [os.stat(fmnt / d).st_nlink for d in ("", "etc")] == want


@pytest.mark.parametrize("mode", MODES)
def test_a_copy_up_leaves_the_directory_times(tmp_path, layers, mode):
    """make, rsync and caches keyed on a directory's mtime, and docker diff/commit of the upper
    layer: chmod of a file (or its first write) is no change of its directory.  (The kernel
    shows the union's directory with the times it cached until a listing or their expiry.)"""
    os.utime(layers[1] / "dir", ns=(10**18, 10**18))
    with both_mounts(layers, tmp_path, *MODES[mode]) as pair:
        kmnt, fmnt, kup, fup = pair
        for m in (kmnt, fmnt):
            os.chmod(m / "dir/keep", 0o600)
        assert os.stat(kup / "dir").st_mtime_ns == 10**18
        pair.remount()
        assert [os.stat(m / "dir").st_mtime_ns for m in (kmnt, fmnt)] == [10**18] * 2
        assert os.stat(fup / "dir").st_mtime_ns == 10**18


# --------------------------------------------------------------------------- file capabilities
CAP_NET_RAW = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)  # VFS_CAP_REVISION_2, effective


@pytest.mark.parametrize("mode", MODES)
def test_a_copy_up_keeps_file_capabilities(tmp_path, layers, mode):
    """setcap cap_net_bind_service=+ep /usr/bin/node (Dockerfiles do, to bind :80 as a user),
    ping's cap_net_raw: a chmod or a touch of the binary in the container took them away."""
    for name in ("ping", "ping2"):
        binary = layers[1] / "bin" / name
        binary.write_text("ping")
        os.chmod(binary, 0o755)
        os.setxattr(binary, "security.capability", CAP_NET_RAW)
    with both_mounts(layers, tmp_path, *MODES[mode]) as (kmnt, fmnt, kup, fup):
        def caps(m: Path) -> list:
            os.chmod(m / "bin/ping", 0o750)
            os.utime(m / "bin/ping2")
            return [outcome(lambda: os.getxattr(m / f"bin/{n}", "security.capability")) for n in ("ping", "ping2")]
        want = caps(kmnt)
        assert want == [("ok", CAP_NET_RAW)] * 2
        assert caps(fmnt) == want
