"""A union filesystem over read-only lower layers and one upper layer (pyfuse3).

Semantics follow kernel overlayfs with OCI whiteouts:
- a name is looked up in the upper layer, then in each lower layer top-down;
- ``.wh.NAME`` in a layer hides NAME in the layers below it;
- ``.wh..wh..opq`` inside a directory hides everything below that directory;
- directories present in several layers are merged;
- any change to an entry that lives only in a lower layer first copies it up
  into the upper layer (data, mode, owner, times, xattrs), via a temporary
  name and a rename, so a crash never leaves a torn file;
- deleting an entry that exists in a lower layer leaves a whiteout in upper.

The kernel's inodes (node ids) are handed out per name and forgotten when the
kernel forgets them; the inode numbers programs see come from the real files
(as overlayfs's), so they stay stable for the lifetime of the mount (renames and
copy-ups keep them).  Lower layers never change while mounted, so the kernel may
cache entries and attributes.
"""
from __future__ import annotations

import bisect
import ctypes
import errno
import functools
import gc
import itertools
import os
import resource
import stat
from typing import Optional

import pyfuse3

from dunnage.core.runtime.linux import release_free_memory

from .layers import _ENTRIES, _LISTING, OPAQUE, TMP_PREFIX, WH_PREFIX, LayerStack  # noqa: F401 - the names are the union's too
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def renameat2(src: str, dst: str, flags: int) -> None:
    """renameat2(2), which os.rename does not reach (glibc 2.28 and later have it)."""
    if _libc.renameat2(-100, os.fsencode(src), -100, os.fsencode(dst), flags) != 0:  # AT_FDCWD
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), src)


# every change to the tree goes through this mount (lower layers never change,
# the upper one is ours alone), so the kernel may keep what it learnt for long
ENTRY_TIMEOUT = 300.0
_OFF_SPAN = (1 << 63) - 4  # readdir's offsets: 3 and up (see UnionFS.readdir)
FUSE_CAP_POSIX_ACL = 1 << 19  # libfuse's, as FUSE_INIT settled it (pyfuse3.conn_info's want)
ATTR_TIMEOUT = 300.0
# what of a lower file is read from disk at its first open, before the kernel asks
# (a cold find+tar of minbase: 4.7 -> 3.7 s; 1 MiB was no better)
READ_START = 128 << 10
BIG_READ = 128 << 10  # a read this large leaves a buffer malloc keeps (see UnionFS.idle)
SHRINK_AFTER = 4096  # nodes forgotten before the inode table is shrunk (see UnionFS.idle)


def _mutates(fn):
    """An operation that may change whole subtrees (directories made, removed, moved): the
    lookup cache is dropped around it."""
    @functools.wraps(fn)
    async def wrapper(self, *a, **kw):
        self._cache.clear()
        try:
            return await fn(self, *a, **kw)
        finally:
            self._cache.clear()
    return wrapper


def _mutates_entries(rels_of):
    """An operation that changes single entries (named by RELS_OF from its arguments): only
    their cached lookups and their parents' listings are dropped (see LayerStack._changed),
    so creating or deleting many files does not make every other lookup start over."""
    def deco(fn):
        @functools.wraps(fn)
        async def wrapper(self, *a, **kw):
            rels = rels_of(self, *a)
            try:
                return await fn(self, *a, **kw)
            finally:
                for rel in rels:
                    self._changed(rel)
        return wrapper
    return deco


def _new_name(self, parent_inode, name, *_):
    return [self._join(self._path(parent_inode), os.fsdecode(name))]


def _inode(self, inode, *_):
    path = self._path_of.get(inode)
    return [] if path is None else [path]  # (a node of no name: its handler says what it may do)


def _link_names(self, inode, new_parent_inode, new_name, *_):
    return _inode(self, inode) + _new_name(self, new_parent_inode, new_name)


def _fuse_err(e: OSError) -> pyfuse3.FUSEError:
    return pyfuse3.FUSEError(e.errno or errno.EIO)


# pyfuse3 as patched by scripts/pyfuse3.patch: the kernel keeps symlink targets
# (cache_symlinks below), and directories are opened without OPENDIR, so the
# kernel keeps their entries until they change and a listing costs no OPENDIR
# and RELEASEDIR (readdir then gets the directory's inode).  An unpatched
# pyfuse3 serves the same tree, with more round trips.
NO_OPENDIR = getattr(pyfuse3, "READDIR_INODE_WITHOUT_OPENDIR", False)
FSYNCDIR_INODE = getattr(pyfuse3, "DUNNAGE_PATCH", 0) >= 10  # ... and fsyncdir too


# pyfuse3 as patched (revision 2): EntryAttributes.attr_ino is the st_ino a reply shows,
# apart from the node id (pyfuse3's st_ino sets both).  libfuse sends both (fuse_entry_param's
# ino, and attr.st_ino, which the kernel shows to stat and readdir); the union needs them
# apart: its node ids come and go with the kernel's FORGETs, the numbers programs see stay.
# An unpatched pyfuse3 shows the node ids, which change when the kernel forgets a file.
ATTR_INO = hasattr(pyfuse3.EntryAttributes, "attr_ino")


def _server_flags(flags: int, writeback: bool) -> int:
    """The flags a file the kernel opens is opened with here.  With the writeback cache
    the kernel writes whole pages at offsets it chose, and reads pages of a file opened
    write-only to fill them: the server's descriptor is read-write and never O_APPEND
    (a pwrite to an O_APPEND descriptor lands at the end, whatever its offset).  Never
    O_DIRECT: a program's O_DIRECT open already bypasses the kernel's pages of the node (its
    READs and WRITEs come here as it does them), and this server's buffers are not aligned
    as O_DIRECT I/O needs (InnoDB's and RocksDB's writes failed with EINVAL); their data
    gets to disk at fsync, as a program that opens O_DIRECT without O_DSYNC asks."""
    if writeback and flags & os.O_ACCMODE == os.O_WRONLY:
        flags = flags & ~os.O_ACCMODE | os.O_RDWR
    return flags & ~(os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_DIRECT) if writeback else \
        flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_DIRECT)


# The kernel's writeback cache: writes kept in its page cache and sent as WRITEs of up to
# 1 MiB at close(), fsync(), syncfs() and writeback; the kernel keeps the size and times
# (sent as SETATTR at close).  On since FUSE_HANDLE_KILLPRIV_V2 took the GETXATTR out of
# each write (bench/run.py --only fs-real, dunnage/kernel overlayfs, off -> on: dd bs=100
# 22 -> 0.5-0.8x, 20,000 appends to an open log 6 -> 0.7-0.8x, cp -a of python's stdlib
# 9 -> 2x, initdb 2.1 -> 0.7-1.4x, pgbench -i 4.7 -> 1.1-1.4x; a log appended by
# open/echo/close, WRITE + SETATTR at each close, 65 -> 100 us a line).  What it risks: a
# file still open when the server dies may lose the writes the kernel held; a closed one
# does not (tested).  Whoever reads the upper layer of a live mount (docker commit) has the
# kernel send what it holds first (flush.write_back).  See docs/architecture.md.
WRITEBACK = True


# pyfuse3 as patched (revision 3): FUSE_HANDLE_KILLPRIV_V2.  Without it FUSE clears
# SB_NOSEC, so before every write() the kernel asks the server for the file's
# security.capability (file_remove_privs -> security_inode_need_killpriv -> GETXATTR):
# half of a small write's round trips.  With it the kernel marks an inode S_NOSEC after
# a write found nothing to remove (until its attributes are next refreshed), and the
# server keeps the promise the flag makes: a WRITE, a truncating SETATTR or an
# OPEN(O_TRUNC) the kernel marks (the caller lacks CAP_FSETID) clears the file's setuid
# and setgid bits here, as the kernel would (_kill_suidgid: the server is root, whose own
# writes keep them); the server's own write, truncate and chown remove
# security.capability, and chown the setuid/setgid bits, as the kernel does for anyone.
KILLPRIV_V2 = hasattr(pyfuse3, "killpriv_v2")


# pyfuse3 as patched (revision 5): FUSE passthrough (kernel 6.9 and newer, where the
# kernel offers it at FUSE_INIT).  A regular file of the upper layer (a new one, one copied
# up for writing, one written before) is registered with the kernel as the backing file of
# the node when opened, and the open handed to it: the kernel reads, writes and mmaps it
# itself, no READ or WRITE comes here.  The kernel keeps one backing file per node while
# it is open that way (a second open must name the same one), and takes no passthrough
# open of a node open cached, nor a cached one of a node open passthrough: files of a
# lower layer are opened cached (their descriptors shared, their pages kept: a reader that
# opened one before its copy-up reads what was written since, as on overlayfs), and so is
# a node a cached open still holds when it is copied up.  A passthrough write would keep
# setuid/setgid bits: the kernel (backing_file_write_iter) writes the backing file as the
# server, and with FUSE_HANDLE_KILLPRIV_V2 it leaves clearing them to the server's WRITE,
# which never comes.  So a writable open of a file with setuid/setgid bits or file
# capabilities is not passed through (direct I/O among passthrough opens, else cached):
# its writes come here and clear them.  (A file that gets such bits while a passthrough
# open for writing holds it keeps them at that open's writes: see docs/architecture.md.)
# The kernel takes no passthrough together with the writeback cache: with passthrough on,
# that is off.
PASSTHROUGH = hasattr(pyfuse3, "passthrough_reply")


# pyfuse3 as patched (revision 6): opens the kernel makes without asking.  With `no_open`
# the first OPEN is answered ENOSYS, and the kernel sends no OPEN or RELEASE again (FUSE's
# no_open, for the whole mount): a warm read of a tree costs no round trip per file (tar of
# /usr: 2.6x kernel overlayfs -> 1.1x).  Every file's fh is then 0, and the patch gives
# READ, WRITE, FSYNC and SETATTR NO_OPEN_FH | the node id instead: they are served by node.
# A lower file is read through its shared descriptor (_lower_fd) as the top layer has it at
# that moment; the first WRITE copies it up (not its open, which never comes) and the node
# keeps a read-write descriptor of its upper file (_node_fds, the oldest closed beyond
# NODE_FDS).  A file unlinked or renamed over while the kernel holds its node keeps a
# descriptor until its FORGET (_pin), as an open one keeps its file: a lower one written
# then is copied to a file of no name in the upper layer.  No passthrough then (it needs
# OPEN), the writeback cache on; O_TRUNC comes as a SETATTR (no atomic_o_trunc).
NO_OPEN = hasattr(pyfuse3, "no_open_enabled")
NO_OPEN_FH = getattr(pyfuse3, "NO_OPEN_FH", 0)


# pyfuse3 as patched (revision 7): GETATTR and GETXATTR of a node answered in pyfuse3's C
# layer, from a descriptor of its file, without Python (fast_attr).  With passthrough the
# kernel drops a node's size and times after each write it passes through, so a program
# that asks for the size after each write pays a GETATTR each time, and as every refresh
# of the attributes drops the kernel's S_NOSEC, the next write asks for security.capability
# (GETXATTR): postgres extends a table by lseek(SEEK_END) and an 8 KiB pwrite, two round
# trips a block that the writeback cache never pays (pgbench -i -s 5: 8,200 of each, 16,400
# of its 16,800 requests).  A node open passthrough is handed to it at its first GETATTR
# here, and taken back before the descriptor it reads is closed (_fast).
FAST_ATTR = hasattr(pyfuse3, "fast_attr")


# pyfuse3 as patched (revision 8): requests about a node of a lower layer answered in
# pyfuse3's C layer, without Python (fast_lower): such a node does not change until it is
# copied up, unlinked or renamed over, and every one of those comes through here first.  Its
# GETATTR is answered with the attributes its LOOKUP (or READDIRPLUS entry, or GETATTR) gave;
# once a GETXATTR or LISTXATTR found it has no xattrs, those of user.*, trusted.* and
# security.* names (exec's security.capability, cp -a's) and LISTXATTR; and once it was opened
# for reading here, later OPENs for reading (keep_cache, the fh NO_OPEN_FH | node id: its READs
# come by node, as no_open's, and read the node's top file as it is then, the upper one after
# a copy-up, as overlayfs's) and their RELEASEs.  What the kernel held on a warm tar of /usr
# (an OPEN and RELEASE a file with passthrough, a GETATTR with no_open, as the writeback
# cache's FLUSH drops st_blocks) no longer reaches Python.  Python ends it (fast_lower_clear)
# in _changed (a copy-up, a directory copied up), _unbind (a name gone) and _drop (FORGET).
# The kernel takes no passthrough open of a node open cached: opens answered so count
# (fast_opens).
FAST_LOWER = hasattr(pyfuse3, "fast_lower")
# pyfuse3 patch 9: with FAST_NOACL pyfuse3 also answers a lower file's GETXATTR of its POSIX
# ACLs (ENODATA), where its file's filesystem answered ENODATA for both when it was found to
# have no xattrs (one without ACLs answers EOPNOTSUPP, a symlink too): cp -a asks for each
# source file's access ACL after its LISTXATTR.
FAST_NOACL = getattr(pyfuse3, "FAST_NOACL", 0)
# ... and (revision 9) OPENs of a node with passthrough answered in C: once an upper file
# (not one with setuid/setgid bits or capabilities, not unlinked) is opened passthrough,
# pyfuse3 answers its next OPENs (no O_TRUNC, no kill of suid/sgid bits) with the same backing
# id, and their RELEASEs (fast_pt, _answer_pt): initdb opens and closes each file again and
# again.  When Python's last open of it closes the node keeps that descriptor (_keep_fd, the
# last PT_KEPT no open holds).  The kernel holds a registered backing id's file until
# BACKING_CLOSE (fs/fuse/backing.c), so what ends it closes both (_unkeep_pt): a chmod/chown,
# an xattr set or removed, a name gone, FORGET.  The kernel takes the opens pyfuse3 answered
# as passthrough opens of that backing file: while any lives (fast_pt_opens) the backing id
# stays the node's, and the descriptor too (_pt_held); their FSYNCs come by node.
FAST_PT = hasattr(pyfuse3, "fast_pt")
# pyfuse3 as patched (revision 13): FUSE_CAP_DONT_MASK, asked for with POSIX ACLs (FUSE_POSIX_ACL).
# The kernel then checks permissions with each inode's ACLs, which it asks for (GETXATTR of
# system.posix_acl_access, kept per inode until a change; only where the caller is not the
# owner and the mode has group bits), and leaves a new entry's mode to the server, the umask
# beside it: a directory whose upper copy has a default ACL gives its new entries their mode and
# ACLs, as ext4 does on overlayfs's upper layer, and the umask applies only where it has none
# (_inherits).  Without it (older patch) the kernel masked the mode first: no ACLs asked then.
ACL = getattr(pyfuse3, "DUNNAGE_PATCH", 0) >= 13
ONE_LINK = getattr(pyfuse3, "DUNNAGE_PATCH", 0) >= 16  # fast_attr(..., one_link) (see _answer_dir)


def _copy_data(src: int, dst: int, size: int) -> None:
    """The data of file SRC (SIZE bytes) into empty file DST, its holes left holes (as
    overlayfs's copy-up: a sparse /var/log/lastlog stays a few KiB, not its size): each extent
    SEEK_DATA finds, then the size."""
    off = 0
    while off < size:
        try:
            start = os.lseek(src, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break  # nothing but a hole to the end
            if e.errno != errno.EINVAL:
                raise
            start = off  # (a filesystem without SEEK_DATA: all of it)
            end = size
        else:
            end = min(os.lseek(src, start, os.SEEK_HOLE), size)
        while start < end:
            k = os.copy_file_range(src, dst, min(end - start, 1 << 30), start, start)
            if k == 0:
                end = start  # the file got shorter
                break
            start += k
        off = end
    os.ftruncate(dst, size)


def _in_group(pid: int, gid: int) -> bool:
    """Whether process PID (in the server's pid namespace) has GID as its filesystem
    group or a supplementary one; False if it cannot be told (it then loses the bit)."""
    fsgid = -1
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Gid:"):
                    fsgid = int(line.split()[4])
                elif line.startswith("Groups:"):
                    return gid == fsgid or str(gid) in line.split()[1:]
    except (OSError, ValueError, IndexError):
        pass
    return False


def _kill_suidgid(f: int | str) -> bool:
    """Clear setuid, and setgid, as the kernel does to a file a process without CAP_FSETID
    writes or truncates (setattr_should_drop_suidgid): setgid if group-executable, or
    else if the caller is not in the file's group."""
    st = os.stat(f, follow_symlinks=False) if isinstance(f, str) else os.fstat(f)
    mode = st.st_mode
    if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
        new = mode & ~stat.S_ISUID
        if mode & stat.S_IXGRP or not _in_group(pyfuse3.kill_caller, st.st_gid):
            new &= ~stat.S_ISGID
        if new != mode:
            os.chmod(f, stat.S_IMODE(new))
            return True
    return False


def _privileged(fd: int) -> bool:
    """Whether the file has setuid/setgid bits or file capabilities, which a write by a
    process without CAP_FSETID clears (see PASSTHROUGH)."""
    if os.fstat(fd).st_mode & (stat.S_ISUID | stat.S_ISGID):
        return True
    try:
        os.getxattr(fd, "security.capability")
    except OSError:
        return False
    return True


class UnionFS(LayerStack, pyfuse3.Operations):
    enable_writeback_cache = WRITEBACK
    handle_killpriv_v2 = KILLPRIV_V2
    passthrough = PASSTHROUGH  # asked for at FUSE_INIT (pyfuse3 turns the writeback cache off if settled)
    # the kernel keeps symlink targets: a symlink never changes in place (a new one
    # at the same path gets a new inode), and every change comes through the mount
    cache_symlinks = True
    enable_acl = dont_mask = ACL  # POSIX ACLs (see ACL)
    after_init = None  # called once the kernel has our answer to FUSE_INIT
    soon = None  # runs a callable after the current request's reply went out

    def init(self) -> None:
        # libfuse calls this while answering FUSE_INIT: the answer is written
        # when it returns, so AFTER_INIT runs after it
        if self.after_init is not None:
            self.soon(self.after_init)

    def __init__(self, lowers: list[str], upper: str, writeback: bool = WRITEBACK,
                 passthrough: bool = PASSTHROUGH, no_open: bool = False):
        pyfuse3.Operations.__init__(self)
        self.enable_writeback_cache = writeback  # what pyfuse3 asks for at FUSE_INIT
        self.no_open = no_open and NO_OPEN  # asked for at FUSE_INIT (see NO_OPEN)
        self.passthrough = passthrough and PASSTHROUGH and not self.no_open
        self._no_open_on: Optional[bool] = None  # whether FUSE_INIT settled it (known at the first open)
        self._node_fds: dict[int, int] = {}  # node -> a read-write descriptor of its upper file (no_open)
        self._nameless: dict[int, str] = {}  # a lower file's node unlinked while the kernel holds it -> its file
        self._pt_on: Optional[bool] = None  # whether FUSE_INIT settled it (known at the first open)
        LayerStack.__init__(self, lowers, upper)
        # The inode table: the kernel's inodes (FUSE node ids) and the paths they stand
        # for.  An entry lives while the kernel holds the inode (its lookup count) and
        # goes with its FORGET; the st_ino a program sees is not the node id but comes
        # from the real file (_st_ino), so a name looked up again after it was
        # forgotten shows the same number.
        self._ino_of: dict[str, int] = {"": pyfuse3.ROOT_INODE}  # path -> node id
        self._path_of: dict[int, str] = {pyfuse3.ROOT_INODE: ""}
        self._kids: dict[str, set[str]] = {}  # parent path -> its children's paths that have nodes
        self._lookups: dict[int, int] = {pyfuse3.ROOT_INODE: 1}  # node id -> the kernel's lookup count
        self._links: dict[tuple, int] = {}  # (st_dev, st_ino) of an upper file with several names -> its node
        self._link_key: dict[int, tuple] = {}  # ... and back
        self._aliases: dict[int, set[str]] = {}  # a node with several names -> all of them
        self._origin: dict[tuple, int] = {}  # (st_dev, st_ino) of a copied-up file -> the st_ino it had below
        self._upper_dev = os.stat(self.upper).st_dev
        self._name_max = os.statvfs(self.upper).f_namemax or 255
        self._devs: dict[int, int] = {}  # st_dev of another filesystem under a layer -> its index
        self._wide: dict[tuple, int] = {}  # (st_dev, st_ino) no index fits in with -> its number
        self._next_ino = itertools.count(pyfuse3.ROOT_INODE + 1)
        self._dropped = 0  # nodes forgotten since the table was last shrunk (_shrink)
        self._big_reads = False
        self._kept: dict[str, int] = {}  # lower file -> its shared read-only descriptor (_lower_fd)
        self._fd_users: dict[int, int] = {}  # ... -> how many opens use it
        self._fd_inode: dict[int, int] = {}  # a writable descriptor -> its node (_kill_suidgid)
        self._backing: dict[int, list] = {}  # node open passthrough -> [backing id, how many opens]
        self._pt_kept: dict[int, Optional[int]] = {}  # a node whose OPENs pyfuse3 answers -> the
        # descriptor it keeps once Python's opens of it closed (FAST_PT), and how many it keeps
        self._pt_nfds = 0
        self._pt_held: dict[int, int] = {}  # ... a node it no longer answers for that such opens hold
        self._pt_fh: dict[int, int] = {}  # a descriptor open passthrough -> its node
        self._pt_direct: set[int] = set()  # ... those of them with direct I/O (their READs are reads)
        self._fast: dict[int, int] = {}  # node pyfuse3 answers GETATTR/GETXATTR of -> the descriptor it reads (FAST_ATTR)
        self._dir_fds: dict[int, int] = {}  # ... an upper directory's node -> its descriptor (_answer_dir)
        self._cached: dict[int, int] = {}  # node -> how many cached opens it has (passthrough on)
        self._lower_node: dict[int, int] = {}  # a shared lower descriptor -> the node its opens are of
        self._moved: set[int] = set()  # shared descriptors turned to the copied-up file, still open
        self._dirs: dict[int, list] = {}  # open directories (an unpatched pyfuse3 only)
        self._dir_fh = itertools.count(1)
        self._acl: Optional[bool] = None  # whether FUSE_INIT settled POSIX ACLs (see ACL)
        self._acl_enodata: dict[int, bool] = {}  # st_dev -> whether it answers ENODATA for absent ACLs (_bare)
        self._tmp = itertools.count(1)

    def stats(self) -> dict[str, int]:
        """How many entries the inode table holds (nodes the kernel has, paths bound to
        them) and lookups cached: what a test or a curious operator can read."""
        return {"nodes": len(self._lookups), "paths": len(self._ino_of), "cached": len(self._cache)}

    def _top(self, rel: str) -> tuple[str, os.stat_result]:
        stack = self._stack(rel)
        if not stack:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return stack[0]

    def _lower_has(self, rel: str) -> bool:
        """Whether a lower layer shows something at REL (so deleting it needs a whiteout)."""
        parent, _, name = rel.rpartition("/")
        for L, _ in self._stack(parent):
            if L == self.upper:
                continue
            if os.path.lexists(self._real(L, rel)):
                return True
        return False

    def _path(self, ino: int) -> str:
        try:
            return self._path_of[ino]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    # ------------------------------------------------------------ inode numbers
    def _number(self, st: os.stat_result) -> int:
        """The st_ino shown for a real file: its own on the upper layer's filesystem; on
        another one with that filesystem's index in the high bits (overlayfs's xino)."""
        if st.st_dev == self._upper_dev:
            return st.st_ino
        idx = self._devs.get(st.st_dev)
        if idx is None:
            idx = self._devs[st.st_dev] = len(self._devs) + 1
        if st.st_ino < 1 << 48 and idx < 1 << 15:
            return idx << 48 | st.st_ino
        key = (st.st_dev, st.st_ino)
        n = self._wide.get(key)
        if n is None:
            n = self._wide[key] = 1 << 63 | len(self._wide)
        return n

    def _st_ino(self, rel: str, layer: str, st: os.stat_result) -> int:
        """REL's st_ino as overlayfs (index=off, xino=off, one filesystem) shows it: a lower
        entry's own; a directory's that of its topmost lower copy, if any (so a copy-up
        keeps it); a file copied up keeps the one it had below, unless that lower file had
        several names (a copy-up gives it one of its own: it is a file apart now);
        otherwise the upper file's.  The names of one file share it."""
        if layer != self.upper:
            return self._number(st)
        if stat.S_ISDIR(st.st_mode):
            for L, lst in self._layers_of(rel):
                if L != self.upper:
                    return self._number(lst)
            return self._number(st)
        return self._origin.get((st.st_dev, st.st_ino)) or self._number(st)

    # ------------------------------------------------------------ the inode table
    def _node(self, rel: str, layer: str, st: os.stat_result) -> int:
        """REL's node id, made if the kernel has none for it.  Each name of a lower file
        is a node of its own, as on overlayfs without index, where writing to one name of
        a lower hard link copies up that name alone; the names of an upper file with
        several share one (a change through one shows through the others)."""
        ino = self._ino_of.get(rel)
        if ino is not None:
            return ino
        key = None
        if layer == self.upper and st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            ino = self._links.get(key)
            if ino is not None:
                self._register(rel, ino)
                return ino
        ino = next(self._next_ino)
        self._lookups[ino] = 0
        if key is not None:
            self._links[key] = ino
            self._link_key[ino] = key
        self._register(rel, ino)
        return ino

    def _looked_up(self, ino: int) -> None:
        """The kernel got node INO in a reply (an entry: it will FORGET it once)."""
        self._lookups[ino] += 1

    def _entry(self, rel: str, st: os.stat_result) -> pyfuse3.EntryAttributes:
        """The attributes of upper entry REL, made or linked just now, as a reply the
        kernel counts as a lookup."""
        a = self._attr(rel, st)
        self._looked_up(a.st_ino)
        return a

    def _drop(self, ino: int) -> None:
        """The kernel forgot node INO: its entries go (its paths' cached lookups too; the
        kernel, which asked for them, holds them no more)."""
        self._lookups.pop(ino, None)
        if FAST_LOWER:
            pyfuse3.fast_lower_clear(ino)
        if self._pt_kept:
            self._unkeep_pt(ino)
        if self._pt_held:
            fd = self._pt_held.pop(ino, None)
            if fd is not None:
                os.close(fd)
        if FAST_PT and ino in self._backing and not self._backing[ino][1] and not pyfuse3.fast_pt_opens(ino):
            self._unback(ino)  # kept past its last open for opens pyfuse3 answered (see FAST_PT)
        if self._dir_fds:
            self._drop_dir_fd(ino)
        self._dropped += 1
        if self._node_fds:
            self._drop_node_fd(ino)
        if self._nameless:
            self._nameless.pop(ino, None)
        key = self._link_key.pop(ino, None)
        if key is not None and self._links.get(key) == ino:
            del self._links[key]
        names = self._aliases.pop(ino, None)
        path = self._path_of.pop(ino, None)
        if names is None:
            names = () if path is None else (path,)
        cache = self._cache
        for p in names:
            if self._ino_of.get(p) != ino:
                continue
            del self._ino_of[p]
            parent = p.rpartition("/")[0]
            siblings = self._kids.get(parent)
            if siblings is not None:
                siblings.discard(p)
                if not siblings:
                    del self._kids[parent]
            cache.pop(p, None)
            cache.pop(_LISTING + p, None)
            cache.pop(_ENTRIES + p, None)

    def _gone(self, st: os.stat_result) -> None:
        """The upper file ST is deleted (its last name): its number may be a new file's next."""
        key = (st.st_dev, st.st_ino)
        self._origin.pop(key, None)
        ino = self._links.pop(key, None)
        if ino is not None:
            self._link_key.pop(ino, None)

    def _register(self, rel: str, ino: int) -> None:
        self._ino_of[rel] = ino
        if ino in self._path_of and self._path_of[ino] != rel:
            self._aliases.setdefault(ino, set()).update((self._path_of[ino], rel))
        else:
            self._path_of[ino] = rel
        if rel:
            self._kids.setdefault(rel.rpartition("/")[0], set()).add(rel)

    def _unbind(self, rel: str, ino: int) -> None:
        """REL no longer names node INO (its other names, if a hard link has any, still do)."""
        if FAST_LOWER:
            pyfuse3.fast_lower_clear(ino)  # a lower file unlinked or renamed over: nlink 0 now
        if self._pt_kept:
            self._unkeep_pt(ino)  # its file may go: not held open here
        if self._dir_fds:
            self._drop_dir_fd(ino)  # a directory removed or moved: asked about afresh
        names = self._aliases.get(ino)
        if names is not None:
            names.discard(rel)
            if len(names) <= 1:
                del self._aliases[ino]
        if self._path_of.get(ino) == rel:
            if names:
                self._path_of[ino] = next(iter(names))
            else:
                del self._path_of[ino]

    def _changed(self, rel: Optional[str] = None) -> None:
        """LayerStack's, and what pyfuse3 answers of REL's node ends (see FAST_LOWER): REL was
        copied up, or is about to be."""
        LayerStack._changed(self, rel)
        if FAST_LOWER and rel is not None:
            ino = self._ino_of.get(rel)
            if ino is not None:
                pyfuse3.fast_lower_clear(ino)

    def _renumbered(self, rel: str) -> None:
        """REL's st_ino changed (a copy-up of one name of a lower hard link): the kernel
        drops its entry, and with it the listing it kept of the parent (d_ino)."""
        parent, _, name = rel.rpartition("/")
        pino = self._ino_of.get(parent)
        if pino is not None:
            try:
                pyfuse3.invalidate_entry_async(pino, os.fsencode(name), ignore_enoent=True)
            except Exception:  # noqa: BLE001 - the kernel forgot it already
                pass

    def _take(self, root: str) -> dict[str, int]:
        """Unregister ROOT and everything known below it (found through the children index, so
        the cost is the subtree's size, not the mount's); return their node ids."""
        out, todo = {}, [root]
        while todo:
            p = todo.pop()
            ino = self._ino_of.pop(p, None)
            if ino is not None:
                out[p] = ino
            todo.extend(self._kids.pop(p, ()))
        parent = root.rpartition("/")[0]
        siblings = self._kids.get(parent)
        if siblings is not None:
            siblings.discard(root)
            if not siblings:
                del self._kids[parent]
        return out

    def _forget_path(self, rel: str) -> None:
        for p, ino in self._take(rel).items():
            self._unbind(p, ino)

    def _move_path(self, old: str, new: str) -> None:
        self._forget_path(new)
        for p, ino in self._take(old).items():
            self._unbind(p, ino)
            self._register(new + p[len(old):], ino)

    def _swap_paths(self, a: str, b: str) -> None:
        """After an exchange: the nodes under A now live under B and the other way round."""
        at, bt = self._take(a), self._take(b)
        for p, ino in list(at.items()) + list(bt.items()):
            self._unbind(p, ino)
        for moved, src, dst in ((at, a, b), (bt, b, a)):
            for p, ino in moved.items():
                self._register(dst + p[len(src):], ino)

    def _attr(self, rel: str, st: os.stat_result, layer: Optional[str] = None,
              ino: Optional[int] = None) -> pyfuse3.EntryAttributes:
        """REL's attributes (LAYER holds it, the upper one if None) for node INO, REL's own
        node (made if need be) if None; 0 for none (the entries . and .. of a listing)."""
        layer = layer or self.upper
        a = pyfuse3.EntryAttributes()
        if ino is None:
            ino = self._node(rel, layer, st)
        a.st_ino = ino
        if ATTR_INO:
            a.attr_ino = self._st_ino(rel, layer, st)
        a.generation = 0
        a.entry_timeout = ENTRY_TIMEOUT
        a.attr_timeout = ATTR_TIMEOUT
        a.st_mode = st.st_mode
        # a directory merged from several layers shows one link, as overlayfs's (the count
        # walkers take for "not counted"; its top layer's counts only that layer's subdirectories)
        a.st_nlink = 1 if stat.S_ISDIR(st.st_mode) and self._merged(rel, ino) else st.st_nlink
        a.st_uid = st.st_uid
        a.st_gid = st.st_gid
        a.st_rdev = st.st_rdev
        a.st_size = st.st_size
        a.st_blksize = st.st_blksize
        a.st_blocks = st.st_blocks
        a.st_atime_ns = st.st_atime_ns
        a.st_mtime_ns = st.st_mtime_ns
        a.st_ctime_ns = st.st_ctime_ns
        return a

    # ------------------------------------------------------------ copy-up
    def _copy_meta(self, src_st: os.stat_result, src: str, dst: str, fd: Optional[int] = None) -> None:
        issym = stat.S_ISLNK(src_st.st_mode)
        # the owner first: a chown removes security.capability (ping's cap_net_raw was lost at
        # a chmod or touch of it), and the mode after it (it clears setuid)
        os.lchown(dst, src_st.st_uid, src_st.st_gid)
        try:
            names = os.listxattr(src, follow_symlinks=False)
        except OSError:
            names = []
        for n in names:
            try:
                os.setxattr(dst, n, os.getxattr(src, n, follow_symlinks=False), follow_symlinks=False)
            except OSError:
                pass
        if not issym:
            os.chmod(dst, stat.S_IMODE(src_st.st_mode))  # after chown: chown clears setuid
        os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)

    def _ensure_upper_dir(self, rel: str) -> None:
        """Make sure directory REL exists in the upper layer (copying up its ancestors)."""
        if not rel:
            return
        if os.path.isdir(self._real(self.upper, rel)) and not os.path.islink(self._real(self.upper, rel)):
            return
        parent = rel.rpartition("/")[0]
        self._ensure_upper_dir(parent)
        L, st = self._top(rel)
        if not stat.S_ISDIR(st.st_mode):
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        dst = self._real(self.upper, rel)
        self._changed(rel)
        pst = os.lstat(self._real(self.upper, parent))
        os.mkdir(dst, 0o700)
        self._copy_meta(st, self._real(L, rel), dst)
        self._keep_times(parent, pst)
        self._changed(rel)

    def _keep_times(self, parent: str, pst: os.stat_result) -> None:
        """Upper directory PARENT's times set back to PST's after a copy-up made an entry in it:
        a copy-up changes nothing a program sees (as overlayfs's ovl_set_timestamps; a chmod of a
        file changed its directory's mtime, which make, rsync and docker diff read)."""
        os.utime(self._real(self.upper, parent), ns=(pst.st_atime_ns, pst.st_mtime_ns), follow_symlinks=False)

    def _copy_up(self, rel: str) -> str:
        """Bring REL into the upper layer if it only lives below; return its upper path."""
        L, st = self._top(rel)
        dst = self._real(self.upper, rel)
        if L == self.upper:
            return dst
        if stat.S_ISDIR(st.st_mode):
            self._ensure_upper_dir(rel)
            return dst
        parent = rel.rpartition("/")[0]
        self._ensure_upper_dir(parent)
        pst = os.lstat(self._real(self.upper, parent))  # its times, set back after (see _keep_times)
        src = self._real(L, rel)
        tmp = os.path.join(os.path.dirname(dst), f"{TMP_PREFIX}{os.getpid()}.{next(self._tmp)}")
        mode = st.st_mode
        try:
            if stat.S_ISREG(mode):
                with open(src, "rb") as fi, open(tmp, "wb") as fo:
                    _copy_data(fi.fileno(), fo.fileno(), st.st_size)
                    os.fsync(fo.fileno())
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(src), tmp)
            else:
                os.mknod(tmp, mode, st.st_rdev)
            self._copy_meta(st, src, tmp)
            os.rename(tmp, dst)
            self._keep_times(parent, pst)
            self._changed(rel)
            if stat.S_ISREG(mode):
                self._redirect_readers(src, dst)
            if st.st_nlink > 1:  # overlayfs without index: copy-up breaks a lower hard link
                self._renumbered(rel)
            else:
                ust = os.lstat(dst)
                self._origin[(ust.st_dev, ust.st_ino)] = self._number(st)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return dst

    def _clear_whiteout(self, parent: str, name: str) -> bool:
        wh = self._real(self.upper, self._join(parent, WH_PREFIX + name))
        if os.path.lexists(wh):
            os.unlink(wh)
            self._changed(self._join(parent, name))
            return True
        return False

    def _whiteout(self, parent: str, name: str) -> None:
        self._ensure_upper_dir(parent)
        wh = self._real(self.upper, self._join(parent, WH_PREFIX + name))
        fd = os.open(wh, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        self._changed(self._join(parent, name))

    def _check_name(self, name: bytes) -> str:
        n = os.fsdecode(name)
        if n.startswith(WH_PREFIX):
            # whiteout names are reserved, as on overlayfs over OCI layers
            raise pyfuse3.FUSEError(errno.EINVAL)
        return n

    # ------------------------------------------------------------ operations
    async def lookup(self, parent_inode, name, ctx=None):
        if len(name) > self._name_max:
            raise pyfuse3.FUSEError(errno.ENAMETOOLONG)  # as the layers' filesystems say (overlayfs's)
        n = os.fsdecode(name)
        if n.startswith(WH_PREFIX):
            raise pyfuse3.FUSEError(errno.ENOENT)
        prel = self._path(parent_inode)
        if n == ".":
            rel = prel
        elif n == "..":
            rel = prel.rpartition("/")[0]
        else:
            rel = self._join(prel, n)
        stack = self._stack(rel)
        if not stack:
            # a negative entry the kernel may cache (st_ino 0): anything created
            # later comes through this mount, which replaces it.  Programs probe
            # missing files all the time (/etc/localtime on every request of a
            # web server, PATH and library searches).
            a = pyfuse3.EntryAttributes()
            a.st_ino = 0
            a.entry_timeout = ENTRY_TIMEOUT
            return a
        L, st = stack[0]
        a = self._attr(rel, st, L)
        self._looked_up(a.st_ino)
        if FAST_LOWER and L != self.upper:
            pyfuse3.fast_lower(a, self._bare(self._real(L, rel), st))
        return a

    async def forget(self, inode_list):
        lookups = self._lookups
        for ino, n in inode_list:
            left = lookups.get(ino, 0) - n
            if left > 0:
                lookups[ino] = left
            elif ino != pyfuse3.ROOT_INODE:
                self._drop(ino)

    async def getattr(self, inode, ctx=None):
        if inode not in self._path_of:
            fd = self._open_fd(inode)  # unlinked while open: fstat(2) of it still works
            if fd is not None:
                try:
                    return self._attr("", os.fstat(fd), None, inode)
                except OSError as e:
                    raise _fuse_err(e)
            if inode in self._nameless:
                return self._nameless_attr(inode)
        rel = self._path(inode)
        L, st = self._top(rel)
        a = self._attr(rel, st, L, inode)
        if FAST_ATTR and inode in self._backing and inode not in self._fast:
            self._answer_fast(inode, a.attr_ino)
        elif FAST_LOWER and L != self.upper:
            pyfuse3.fast_lower(a, self._bare(self._real(L, rel), st))
        elif FAST_ATTR and stat.S_ISDIR(st.st_mode) and inode not in self._dir_fds:
            self._answer_dir(inode, rel, a.attr_ino, a.st_nlink == 1 and st.st_nlink != 1)
        return a

    # An upper directory's attributes change with every entry made or removed in it, and the
    # kernel drops them then (fuse_dir_changed), so the next create's permission check asks for
    # them (GETATTR): one a file that cp -a, tar x or pip install makes.  pyfuse3 answers them
    # (FAST_ATTR) from a descriptor of the directory, for the last DIR_FDS directories asked
    # about, until the node goes or a name of it does (rmdir, rename: _unbind).
    DIR_FDS = 64

    def _answer_dir(self, inode: int, rel: str, st_ino: int, one_link: bool = False) -> None:
        """... and its xattrs (the kernel asks a directory's access ACL at each walk through it
        by a caller that is not its owner: the mount's root at every path a program opens).
        A directory merged from several layers shows one link (ONE_LINK, patch 16)."""
        if one_link and not ONE_LINK:
            return
        try:
            fd = os.open(self._real(self.upper, rel), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return
        if not (pyfuse3.fast_attr(inode, fd, st_ino, ATTR_TIMEOUT, one_link) if one_link else
                pyfuse3.fast_attr(inode, fd, st_ino, ATTR_TIMEOUT)):
            os.close(fd)
            return
        self._dir_fds[inode] = fd
        if len(self._dir_fds) > self.DIR_FDS:
            self._drop_dir_fd(next(iter(self._dir_fds)))

    def _drop_dir_fd(self, inode: int) -> None:
        fd = self._dir_fds.pop(inode, None)
        if fd is not None:
            pyfuse3.fast_attr_clear(inode)
            os.close(fd)

    def _answer_fast(self, inode: int, st_ino: int) -> None:
        """Have pyfuse3 answer GETATTR and GETXATTR of node INODE, open passthrough, from a
        descriptor of its upper file (the node's, whatever its names do: an open file's
        attributes are its own), showing ST_INO, until that descriptor is released."""
        fd = self._pt_kept.get(inode)
        if fd is not None:
            if pyfuse3.fast_attr(inode, fd, st_ino, ATTR_TIMEOUT):
                self._fast[inode] = fd
            return
        for fd, node in self._pt_fh.items():
            if node == inode:
                if pyfuse3.fast_attr(inode, fd, st_ino, ATTR_TIMEOUT):
                    self._fast[inode] = fd
                return

    async def setattr(self, inode, attr, fields, fh, ctx):
        if self._pt_kept and (fields.update_mode or fields.update_uid or fields.update_gid):
            self._unkeep_pt(inode)  # it may get setuid/setgid bits (see FAST_PT)
        if fh is not None and fh & NO_OPEN_FH:
            fh = self._node_fds.get(inode)
        if fh not in self._fd_inode and inode not in self._path_of:
            fh = self._open_fd(inode)  # unlinked while open (futimens and fchmod pass no fh)
            if fh is None and inode in self._nameless:
                # a lower file: the times the writeback cache sends at its close, say (it used
                # to fail that close with EIO)
                return self._nameless_attr(inode, attr, fields)
        if fh in self._fd_inode:
            return self._setattr_fd(inode, attr, fields, fh)
        return await self._setattr(inode, attr, fields, fh, ctx)

    def _open_fd(self, inode: int) -> Optional[int]:
        """A descriptor the server holds of node INODE's upper file, if one is open."""
        fd = self._pt_kept.get(inode) or self._pt_held.get(inode) if FAST_PT else None
        if fd is not None:
            return fd
        for fd, ino in self._fd_inode.items():
            if ino == inode:
                return fd
        return None

    def _setattr_fd(self, inode, attr, fields, fh):
        """SETATTR through a descriptor of the upper file (copied up at its open): what the
        writeback cache sends at every close() of a file written (its times: echo >> log),
        and ftruncate.  No copy-up, no entries changed (an upper entry is stat'ed afresh at
        each cached lookup), and right for a file unlinked while open, which has no path."""
        try:
            if fields.update_size:
                if KILLPRIV_V2 and pyfuse3.kill_suidgid:
                    _kill_suidgid(fh)
                os.ftruncate(fh, attr.st_size)
            if fields.update_uid or fields.update_gid:
                os.fchown(fh, attr.st_uid if fields.update_uid else -1, attr.st_gid if fields.update_gid else -1)
            if fields.update_mode:
                os.fchmod(fh, stat.S_IMODE(attr.st_mode))
            if fields.update_atime or fields.update_mtime:
                st = os.fstat(fh)
                os.utime(fh, ns=(attr.st_atime_ns if fields.update_atime else st.st_atime_ns,
                                 attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns))
            return self._attr(self._path_of.get(inode, ""), os.fstat(fh), None, inode)
        except OSError as e:
            raise _fuse_err(e)

    @_mutates_entries(_inode)
    async def _setattr(self, inode, attr, fields, fh, ctx):
        rel = self._path(inode)
        try:
            path = self._copy_up(rel)
            if fields.update_size:
                if KILLPRIV_V2 and pyfuse3.kill_suidgid:
                    _kill_suidgid(path if fh is None else fh)
                if fh is not None:
                    os.ftruncate(fh, attr.st_size)
                else:
                    os.truncate(path, attr.st_size)
            if fields.update_uid or fields.update_gid:
                uid = attr.st_uid if fields.update_uid else -1
                gid = attr.st_gid if fields.update_gid else -1
                os.lchown(path, uid, gid)
            if fields.update_mode:
                os.chmod(path, stat.S_IMODE(attr.st_mode))
            if fields.update_atime or fields.update_mtime:
                st = os.lstat(path)
                atime = attr.st_atime_ns if fields.update_atime else st.st_atime_ns
                mtime = attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns
                os.utime(path, ns=(atime, mtime), follow_symlinks=False)
            return self._attr(rel, os.lstat(path), None, inode)
        except OSError as e:
            raise _fuse_err(e)

    async def readlink(self, inode, ctx):
        rel = self._path(inode)
        L, st = self._top(rel)
        return os.fsencode(os.readlink(self._real(L, rel)))

    async def opendir(self, inode, ctx):
        if NO_OPENDIR:
            # once: the kernel opens every directory without asking from now on
            raise pyfuse3.FUSEError(errno.ENOSYS)
        fh = next(self._dir_fh)
        self._dirs[fh] = [self._path(inode), None]
        return fh

    # A READDIR goes on after the entry whose offset it names, and an entry's offset does not
    # move when others go: a hash of its name, the listing in the order of those (". " and
    # ".." 1 and 2), as ext4's own offsets are.  Offsets that were positions in the listing
    # skipped as many entries as a program had unlinked since its last getdents: busybox's
    # rm -rf (Alpine's), which unlinks each entry as it reads it, left half of a directory.
    # (hash() of a name is the server's own, the same while it serves the mount.)
    async def readdir(self, fh, start_id, token):
        if NO_OPENDIR:  # FH is the directory's inode; its entries as they are now
            offs, entries = self._entries(self._path(fh))
        else:
            rel, listed = self._dirs[fh]
            if listed is None or start_id == 0:
                listed = self._dirs[fh][1] = self._entries(rel)
            offs, entries = listed
        reply, ino_of, lookups = pyfuse3.readdir_reply, self._ino_of, self._lookups
        for i in range(bisect.bisect_right(offs, start_id), len(entries)):
            name, crel, L, a, bare = entries[i]
            # a lower entry's attributes are kept with the listing (lower layers never
            # change, and whatever changes an entry forgets its parent's listing); one
            # whose node the kernel forgot since is looked at afresh.  . and .. (the
            # first two) name no node: the kernel takes no entry from them
            if a is None or ino_of.get(crel) != a.st_ino:
                try:
                    if L is None or L == self.upper:
                        L, st = self._top(crel)
                    else:
                        st = os.lstat(self._real(L, crel))
                except (OSError, pyfuse3.FUSEError):
                    continue
                a = self._attr(crel, st, L, 0 if i < 2 else None)
                if L != self.upper and i >= 2:
                    bare = self._bare(self._real(L, crel), st)
                    entries[i] = (name, crel, L, a, bare)
            if not reply(token, name, a, offs[i]):
                if i >= 2 and not lookups.get(a.st_ino):
                    self._drop(a.st_ino)  # made for this entry, which did not fit
                return
            if i >= 2:
                lookups[a.st_ino] += 1  # an entry of READDIRPLUS: a lookup
                if FAST_LOWER and L != self.upper:
                    pyfuse3.fast_lower(a, bare or 0)

    def _entries(self, rel: str) -> tuple[list, list]:
        """Directory REL's entries as readdir serves them, in the order of their offsets (see
        readdir): the offsets, and the entries (name, path, layer, attributes or None)."""
        key = _ENTRIES + rel
        hit = self._cache.get(key)
        if hit is None:
            parent = rel.rpartition("/")[0]
            named = sorted(((hash(b) % _OFF_SPAN + 3, b, n, L) for n, L in self._listing(rel)
                            for b in (os.fsencode(n),)))
            offs = [1, 2] + [o for o, *_ in named]
            entries = [(b".", rel, None, None, None), (b"..", parent, None, None, None)]
            entries += [(b, self._join(rel, n), L, None, None) for _, b, n, L in named]
            hit = self._cache[key] = (offs, entries)
        return hit

    async def releasedir(self, fh):
        self._dirs.pop(fh, None)

    # fsync(2) of a directory (a database after it made or renamed a file in it, git, apt):
    # its upper directory's, as overlayfs syncs the upper one (pyfuse3 patch 10 gives the inode
    # as fh without OPENDIR; before it fh 0 came, and no answer at all told the kernel never
    # to ask again while fsync(2) said done).  One only below has nothing written to sync.
    async def fsyncdir(self, fh, datasync):
        if NO_OPENDIR:
            if not FSYNCDIR_INODE:
                return
            rel = self._path(fh)
        else:
            rel = self._dirs[fh][0]
        try:
            fd = os.open(self._real(self.upper, rel), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        except OSError as e:
            raise _fuse_err(e)
        try:
            (os.fdatasync if datasync else os.fsync)(fd)
        except OSError as e:
            raise _fuse_err(e)
        finally:
            os.close(fd)

    async def open(self, inode, flags, ctx):
        if self._no_open_on is None:
            self._no_open_on = self.no_open and pyfuse3.no_open_enabled()
        if self._no_open_on:
            raise pyfuse3.FUSEError(errno.ENOSYS)  # the kernel opens every file itself from now on
        rel = self._path(inode)
        L, st = self._top(rel)
        if L != self.upper and not (flags & os.O_ACCMODE or flags & os.O_TRUNC):
            fd = self._lower_fd(self._real(L, rel))
            if self._passthrough_on():
                self._cached[inode] = self._cached.get(inode, 0) + 1
                self._lower_node[fd] = inode
            if FAST_LOWER:
                # its next opens for reading are pyfuse3's (see FAST_LOWER); this first one,
                # here, reads the file's start ahead while the kernel sends the READ
                pyfuse3.fast_lower_add(inode, pyfuse3.FAST_OPEN)
            return pyfuse3.FileInfo(fh=fd, keep_cache=True)
        try:
            if L != self.upper:  # opened for writing: copy-up first, as overlayfs
                path = self._copy_up(rel)
            else:
                path = self._real(L, rel)
            fd = os.open(path, _server_flags(flags, self.enable_writeback_cache))
            if flags & os.O_TRUNC and KILLPRIV_V2 and pyfuse3.kill_suidgid:
                _kill_suidgid(fd)
        except OSError as e:
            raise _fuse_err(e)
        self._fd_inode[fd] = inode
        if self._passthrough_on():
            # a cached open among passthrough ones drops the pages the node has (written
            # around them since)
            self._pass_through(fd, inode, flags)
            return pyfuse3.FileInfo(fh=fd, keep_cache=False)
        # the kernel's pages of the file stay across opens (every change comes through the
        # mount): else each open/append/close read its last page back before the write
        return pyfuse3.FileInfo(fh=fd, keep_cache=True)

    def _passthrough_on(self) -> bool:
        on = self._pt_on
        if on is None:
            on = self._pt_on = self.passthrough and pyfuse3.passthrough_enabled()
        return on

    def _pass_through(self, fd: int, inode: int, flags: int) -> bool:
        """Have the reply to this open of node INODE (its upper file open here at FD) hand it
        to the kernel's passthrough, if the kernel's rules allow (see PASSTHROUGH); else count
        it a cached open of the node.  Whether it was."""
        b = self._backing.get(inode)
        direct = False
        if self._cached.get(inode) or FAST_LOWER and pyfuse3.fast_opens(inode):
            b = None  # a cached open holds the node (pyfuse3's too): this one must be cached too
        elif flags & os.O_ACCMODE and _privileged(fd):
            # its writes must come here (write() clears the bits): direct I/O among passthrough
            # opens of the node (the kernel takes no other then), else a cached open
            direct = b is not None
        elif b is None:
            try:
                b = self._backing[inode] = [pyfuse3.backing_open(fd), 0]
            except OSError as e:  # not a file the kernel passes through to (another stack depth)
                b = None
                if e.errno in (errno.EPERM, errno.EOPNOTSUPP) and not self._backing:
                    self._pt_on = False  # none is (no CAP_SYS_ADMIN here): the old ways from now on
        if b is not None and pyfuse3.passthrough_reply(fd, b[0], direct):
            b[1] += 1
            self._pt_fh[fd] = inode
            if direct:
                self._pt_direct.add(fd)
            elif FAST_PT:
                self._answer_pt(inode, fd, b[0])
            return True
        if b is not None and not b[1]:
            self._unback(inode)
        self._cached[inode] = self._cached.get(inode, 0) + 1
        return False

    def _unback(self, inode: int) -> None:
        try:
            pyfuse3.backing_close(self._backing.pop(inode)[0])
        except OSError:
            pass

    def _released(self, fd: int, inode: Optional[int]) -> bool:
        """An open the kernel released (passthrough on): the node's count of its kind goes down.
        Whether the node keeps FD (see FAST_PT): it is then not to be closed."""
        node = self._pt_fh.pop(fd, None)
        if node is not None:
            self._pt_direct.discard(fd)
            b = self._backing[node]
            b[1] -= 1
            if not b[1]:
                if node in self._pt_kept:
                    if self._keep_fd(node, fd):
                        return True
                elif not (FAST_PT and pyfuse3.fast_pt_opens(node)):
                    self._unback(node)
        elif inode is not None:
            n = self._cached.get(inode, 0) - 1
            if n > 0:
                self._cached[inode] = n
            else:
                self._cached.pop(inode, None)
        return False

    # initdb opens and closes some 1,000 files again and again (256 kept: 2,700 of its OPENs
    # still came here, 4,096: 14); a kept descriptor is one of the server's, so a quarter of
    # its limit at most
    PT_KEPT = max(64, min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[0] % (1 << 62) // 4))  # (RLIM_INFINITY: -1)

    def _answer_pt(self, inode: int, fd: int, backing_id: int) -> None:
        """Node INODE was opened passthrough to BACKING_ID (its upper file open at FD): pyfuse3
        answers its next OPENs (see FAST_PT), if it is not a file whose writes must come here."""
        if inode in self._pt_kept or inode not in self._path_of or self._cached.get(inode):
            return
        try:
            if _privileged(fd):
                return  # its writable opens must come here (see PASSTHROUGH)
        except OSError:
            return
        if pyfuse3.fast_pt(inode, backing_id):
            self._pt_kept[inode] = None

    def _keep_fd(self, inode: int, fd: int) -> bool:
        """The last open of node INODE Python had (its descriptor FD) closed: whether the node
        keeps FD for pyfuse3's answers, the oldest kept that nothing holds open going beyond
        PT_KEPT."""
        if self._pt_kept[inode] is not None:
            return False  # it keeps another (this open was Python's: O_TRUNC, say)
        if not self.PT_KEPT:
            self._unkeep_pt(inode)
            return False
        for _ in range(min(8, self._pt_nfds) if self._pt_nfds >= self.PT_KEPT else 0):
            # the oldest kept goes if no open of it lives; one in use (its descriptor costs
            # no more than Python's own opens would) goes to the back instead
            old = next(n for n, f in self._pt_kept.items() if f is not None)
            if not pyfuse3.fast_pt_opens(old):
                self._unkeep_pt(old)
                break
            self._pt_kept[old] = self._pt_kept.pop(old)
        del self._pt_kept[inode]
        self._pt_kept[inode] = fd  # (re)inserted last: the most recently kept
        self._pt_nfds += 1
        return True

    def _unkeep_pt(self, inode: int) -> None:
        """Node INODE's OPENs come to Python again, and what it kept for pyfuse3 goes (the
        backing id once no open of it is left)."""
        if inode not in self._pt_kept:
            return
        fd = self._pt_kept.pop(inode)
        pyfuse3.fast_pt_clear(inode)
        if fd is not None:
            self._pt_nfds -= 1
            if self._fast.get(inode) == fd:
                del self._fast[inode]
                pyfuse3.fast_attr_clear(inode)
            if pyfuse3.fast_pt_opens(inode):
                self._pt_held[inode] = fd  # its file, for what those opens ask (unlinked: fstat)
            else:
                os.close(fd)
        b = self._backing.get(inode)
        if b is not None and not b[1] and not pyfuse3.fast_pt_opens(inode):
            self._unback(inode)

    # A lower file opened for reading is opened once and its descriptor shared by
    # every open of it (reads are preads): a program that opens the same files
    # again and again (an interpreter's imports, a web server's pages) costs no
    # open(2)/close(2) here.  Lower files never change, and a copy-up sends new
    # opens to the upper file (those already open read on, as on overlayfs).
    # Descriptors nobody has open are closed, oldest first, beyond KEPT_FDS.
    KEPT_FDS = 256

    def _lower_fd(self, path: str) -> int:
        fds, users = self._kept, self._fd_users
        fd = fds.pop(path, None)
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise _fuse_err(e)
            # its first pages are read from disk while the kernel sends the READ
            os.posix_fadvise(fd, 0, READ_START, os.POSIX_FADV_WILLNEED)
            users[fd] = 0
        fds[path] = fd  # (re)inserted last: the most recently used
        users[fd] += 1
        if len(fds) > self.KEPT_FDS:
            self._close_idle()
        return fd

    def _redirect_readers(self, src: str, dst: str) -> None:
        """Opens of lower file SRC, which was just copied up to DST, read DST from now on,
        as on overlayfs (since 4.19): its shared descriptor is made one of DST (dup2, under
        the same number: the kernel's fh), closed when the last of them is released."""
        fd = self._kept.get(src)
        if fd is None or not self._fd_users.get(fd):
            return
        try:
            new = os.open(dst, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        os.dup2(new, fd, inheritable=False)
        os.close(new)
        del self._kept[src]
        self._moved.add(fd)

    def _close_idle(self) -> None:
        """Close the oldest kept descriptors nobody has open, down to KEPT_FDS.  The walk stops
        at the last one it needs (the oldest are usually idle): a walk of the whole table at
        every open was a third of a warm tar of /usr's server time."""
        fds, users = self._kept, self._fd_users
        excess = len(fds) - self.KEPT_FDS
        idle = []
        for p, f in fds.items():
            if not users[f]:
                idle.append(p)
                if len(idle) == excess:
                    break
        for p in idle:
            f = fds.pop(p)
            del users[f]
            os.close(f)

    async def read(self, fh, off, size):
        if fh in self._pt_fh and fh not in self._pt_direct:
            return self._readahead(fh, off, size)
        if size > BIG_READ:
            self._big_reads = True
        try:
            if fh & NO_OPEN_FH:
                return self._read_node(fh ^ NO_OPEN_FH, off, size)
            return os.pread(fh, size, off)
        except OSError as e:
            raise _fuse_err(e)

    @staticmethod
    def _readahead(fh: int, off: int, size: int) -> bytes:
        """A READ of an open passthrough (not direct I/O): the kernel filling the node's page
        cache, which no read of a passthrough open uses (the kernel reads the upper file),
        for posix_fadvise(WILLNEED) or readahead(2) (postgres's ANALYZE prefetches each block:
        6,149 READs of 8 KiB in pgbench -i -s 5).  The advice goes to the upper file, as
        overlayfs gives it to the real file, and the READ fails, copying nothing: the kernel
        drops a failed readahead."""
        try:
            os.posix_fadvise(fh, off, size, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        raise pyfuse3.FUSEError(errno.EIO)

    # ------------------------------------------------------------ no_open (see NO_OPEN)
    NODE_FDS = 128

    def _read_node(self, inode: int, off: int, size: int) -> bytes:
        fd = self._node_fds.get(inode)
        if fd is not None:
            return os.pread(fd, size, off)
        path = self._nameless.get(inode)
        if path is None:
            L, st = self._top(self._path(inode))
            if L == self.upper:
                return os.pread(self._node_fd(inode), size, off)
            path = self._real(L, self._path(inode))
        fd = self._lower_fd(path)
        try:
            return os.pread(fd, size, off)
        finally:
            self._unuse_lower(fd)

    def _node_fd(self, inode: int) -> int:
        """A read-write descriptor of node INODE's upper file, copied up first if it lives
        below (the kernel writes it)."""
        fd = self._node_fds.get(inode)
        if fd is not None:
            return fd
        rel = self._path_of.get(inode)
        try:
            if rel is None:
                if inode not in self._nameless:
                    raise pyfuse3.FUSEError(errno.ESTALE)
                fd = self._orphan_copy(self._nameless[inode])  # a lower file unlinked while the kernel holds it
            else:
                fd = os.open(self._copy_up(rel), os.O_RDWR | os.O_CLOEXEC)
        except OSError as err:
            raise _fuse_err(err)
        self._node_fds[inode] = fd
        self._fd_inode[fd] = inode
        if len(self._node_fds) > self.NODE_FDS:
            self._close_node_fds()
        return fd

    def _orphan_copy(self, path: str) -> int:
        """A copy of lower file PATH as a file of no name in the upper layer, read-write."""
        new = os.open(self.upper, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            _copy_data(f.fileno(), new, st.st_size)
        os.fchown(new, st.st_uid, st.st_gid)
        os.fchmod(new, stat.S_IMODE(st.st_mode))
        return new

    def _close_node_fds(self) -> None:
        """The oldest descriptors of nodes that still have a name, down to NODE_FDS (a node's
        next WRITE opens it again)."""
        excess = len(self._node_fds) - self.NODE_FDS
        old = []
        for ino in self._node_fds:
            if ino in self._path_of:
                old.append(ino)
                if len(old) == excess:
                    break
        for ino in old:
            self._drop_node_fd(ino)

    def _drop_node_fd(self, inode: int) -> None:
        fd = self._node_fds.pop(inode, None)
        if fd is None:
            return
        self._fd_inode.pop(fd, None)
        try:
            os.close(fd)
        except OSError:
            pass

    def _pin(self, rel: str) -> None:
        """REL, a name of an upper file, is about to go (unlink, renamed over): if the kernel
        holds its node, a descriptor of it is kept until the node's FORGET, for a program
        that has it open (the kernel asked no OPEN, so none is held otherwise).  (A lower
        file's stays where it is: _nameless.)"""
        ino = self._ino_of.get(rel)
        if ino is not None and ino not in self._node_fds and stat.S_ISREG(self._top(rel)[1].st_mode):
            self._node_fd(ino)

    def _lose_name(self, rel: str) -> None:
        """REL is about to go (unlink, renamed over): if it is a lower file whose node the
        kernel holds (a program may have it open), the node keeps the file's path below, for
        its attributes, reads, and the copy a write makes (with no_open)."""
        ino = self._ino_of.get(rel)
        if ino is None:
            return
        L, st = self._top(rel)
        if L != self.upper and stat.S_ISREG(st.st_mode):
            self._nameless[ino] = self._real(L, rel)
        elif self._no_open_on or FAST_LOWER and pyfuse3.fast_opens(ino):
            self._pin(rel)  # (pyfuse3's opens, of a file copied up since, have no descriptor either)

    def _nameless_attr(self, inode: int, attr=None, fields=None) -> pyfuse3.EntryAttributes:
        """The attributes of a lower file unlinked while open (no link left), with what a
        SETATTR changed on top: the file is below and nameless, nothing of it is kept."""
        try:
            a = self._attr("", os.lstat(self._nameless[inode]), None, inode)
        except OSError as e:
            raise _fuse_err(e)
        a.st_nlink = 0
        if fields is not None:
            if fields.update_mode:
                a.st_mode = stat.S_IFMT(a.st_mode) | stat.S_IMODE(attr.st_mode)
            if fields.update_uid:
                a.st_uid = attr.st_uid
            if fields.update_gid:
                a.st_gid = attr.st_gid
            if fields.update_atime:
                a.st_atime_ns = attr.st_atime_ns
            if fields.update_mtime:
                a.st_mtime_ns = attr.st_mtime_ns
        return a

    def idle(self) -> None:
        """The mount went quiet: after big reads, malloc gives their freed buffers back.
        (It keeps them, dirty, in the heap: a container that once read its 1 MiB busybox
        held 1 MiB more for good.  Allocating each such buffer afresh is no cure: the
        page faults made a 1 MiB read eight times slower.)"""
        if self._dropped >= SHRINK_AFTER:
            self._dropped = 0
            self._shrink()
            self._big_reads = True
        if self._big_reads:
            self._big_reads = False
            release_free_memory()

    def _shrink(self) -> None:
        """After many FORGETs: the table's dicts are copied to tables of their present
        size (a dict never shrinks: one that held 50,000 paths keeps room for them), and
        malloc gives back what they held (see idle), once the collector has freed what
        only cycles kept (tracebacks of errors replied): 20 MiB of 36 after 50,000 files."""
        for name in ("_ino_of", "_path_of", "_lookups", "_kids", "_links", "_link_key", "_aliases", "_cache"):
            setattr(self, name, dict(getattr(self, name)))
        gc.collect()

    async def write(self, fh, off, buf):
        if fh & NO_OPEN_FH:
            fh = self._node_fd(fh ^ NO_OPEN_FH)
        try:
            killed = KILLPRIV_V2 and pyfuse3.kill_suidgid and _kill_suidgid(fh)
            if self.enable_writeback_cache:
                # the kernel keeps the times and sends them (SETATTR) when it changed them: a
                # write in the same clock tick as the last change leaves them, so the write
                # here must too (else the upper file's mtime is the server's, not the one
                # programs saw)
                # (and all of it, or the errno: the kernel takes a WRITE's count as the whole
                # of what it sent after write() said done, so a short one, the upper layer's
                # filesystem full, dropped the rest with no error to close or fsync)
                st = os.fstat(fh)
                n = os.pwrite(fh, buf, off)
                while n < len(buf):
                    k = os.pwrite(fh, buf[n:], off + n)
                    if k <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    n += k
                os.utime(fh, ns=(st.st_atime_ns, st.st_mtime_ns))
            else:
                n = os.pwrite(fh, buf, off)
        except OSError as e:
            raise _fuse_err(e)
        if killed and fh in self._fd_inode:
            # the kernel keeps the mode it had (it left clearing the bits to us): without
            # this, stat and exec would still see them until its attributes expire
            try:
                pyfuse3.invalidate_inode(self._fd_inode[fh], attr_only=True)
            except OSError:
                pass
        return n

    async def flush(self, fh):
        # nothing to do on close(): ENOSYS once tells the kernel to stop sending
        # FLUSH at all, one round trip less for every file closed
        raise pyfuse3.FUSEError(errno.ENOSYS)

    async def release(self, fh):
        if fh & NO_OPEN_FH:  # a file create() made (no_open): its node keeps the descriptor
            return
        users = self._fd_users.get(fh)
        if users is None:
            inode = self._fd_inode.pop(fh, None)
            if self._fast and self._fast.get(inode) == fh:
                del self._fast[inode]
                pyfuse3.fast_attr_clear(inode)
            if (self._pt_fh or self._cached) and self._released(fh, inode):
                return  # the node keeps it (see FAST_PT)
            os.close(fh)
        else:  # a kept lower descriptor (_lower_fd)
            if self._lower_node:
                self._released(fh, self._lower_node.get(fh) if users > 1 else self._lower_node.pop(fh, None))
            self._unuse_lower(fh)

    def _unuse_lower(self, fh: int) -> None:
        """One use of kept lower descriptor FH ended."""
        users = self._fd_users[fh]
        self._fd_users[fh] = users - 1
        if users == 1 and fh in self._moved:  # its file was copied up (_redirect_readers)
            self._moved.discard(fh)
            del self._fd_users[fh]
            os.close(fh)
        if len(self._kept) > self.KEPT_FDS:
            self._close_idle()

    async def fsync(self, fh, datasync):
        if fh & NO_OPEN_FH:
            node = fh ^ NO_OPEN_FH
            fd = self._node_fds.get(node) or self._pt_kept.get(node) or self._pt_held.get(node)
            if fd is None:
                # an open pyfuse3 answered (FAST_PT, FAST_LOWER), or no_open's node whose
                # descriptor was closed (NODE_FDS) after it wrote: closing synced nothing
                if node in self._path_of:
                    return self._fsync_path(node, datasync)
                return  # a lower file unlinked (_nameless): nothing of it written
            fh = fd
        try:
            (os.fdatasync if datasync else os.fsync)(fh)
        except OSError as e:
            raise _fuse_err(e)

    # fallocate(2) (pyfuse3 patch 11: FALLOCATE reached no handler, and the kernel failed every
    # fallocate of the mount with EOPNOTSUPP): on the upper file, as overlayfs does it on its real
    # file.  The kernel sends none for an open without FMODE_WRITE, so FH is a writable open: the
    # server's descriptor, or (NO_OPEN_FH, an open pyfuse3 answered or no_open's) the node's.
    async def fallocate(self, fh, mode, offset, length):
        if fh & NO_OPEN_FH:
            node = fh ^ NO_OPEN_FH
            fh = self._open_fd(node)
            if fh is None:
                fh = self._node_fd(node)
        if _libc.fallocate(fh, mode, ctypes.c_int64(offset), ctypes.c_int64(length)) != 0:
            e = ctypes.get_errno()
            raise pyfuse3.FUSEError(e)

    # lseek(2)'s SEEK_DATA and SEEK_HOLE (patch 11: without an answer the kernel sees no holes):
    # found in the top file, as overlayfs's ovl_llseek does, without copying a lower one up.
    async def lseek(self, fh, offset, whence):
        own = None
        if fh & NO_OPEN_FH:
            node = fh ^ NO_OPEN_FH
            fh = self._node_fds.get(node) or self._open_fd(node)
            if fh is None:
                path = self._nameless.get(node)
                if path is None:
                    L, _ = self._top(self._path(node))
                    path = self._real(L, self._path(node))
                try:
                    fh = own = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise _fuse_err(e)
        try:
            return os.lseek(fh, offset, whence)
        except OSError as e:
            raise _fuse_err(e)
        finally:
            if own is not None:
                os.close(own)

    def _fsync_path(self, inode: int, datasync: bool) -> None:
        """FSYNC of an open of node INODE the server keeps no descriptor for (an open pyfuse3
        answered, see FAST_PT; a node of no_open's, see NODE_FDS): its upper file, by its path."""
        rel = self._path(inode)
        L, st = self._top(rel)
        if L != self.upper:
            return  # a lower file's open for reading (FAST_LOWER): nothing written
        try:
            fd = os.open(self._real(L, rel), os.O_RDONLY | os.O_CLOEXEC)
            try:
                (os.fdatasync if datasync else os.fsync)(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise _fuse_err(e)

    def _new_entry_prep(self, parent_inode, name) -> tuple[str, str, str, bool]:
        n = self._check_name(name)
        prel = self._path(parent_inode)
        rel = self._join(prel, n)
        if self._stack(rel):
            raise pyfuse3.FUSEError(errno.EEXIST)
        self._ensure_upper_dir(prel)
        had_wh = self._clear_whiteout(prel, n)
        return prel, n, rel, had_wh

    def _bare(self, path: str, st: os.stat_result) -> int:
        """With POSIX ACLs on: what pyfuse3 may answer of lower file PATH (lstat ST) from the start,
        FAST_NOXATTR and FAST_NOACL for a file or directory with no xattrs on a filesystem that
        answers ENODATA for the ACLs of such (found once for each).  The kernel asks a node's
        access ACL at every permission check of a caller that is not its owner, and keeps no
        answer (nobody's python imports: 600 GETXATTRs a run), so they are not Python's."""
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) or not self._acl_on():
            return 0
        try:
            if os.listxattr(path, follow_symlinks=False):
                return 0
        except OSError:
            return 0
        ok = self._acl_enodata.get(st.st_dev)
        if ok is None:
            ok = self._acl_enodata[st.st_dev] = all(
                UnionFS._lacks(path, n) for n in ("system.posix_acl_access", "system.posix_acl_default"))
        return pyfuse3.FAST_NOXATTR | FAST_NOACL if ok else pyfuse3.FAST_NOXATTR

    def _merged(self, rel: str, ino: Optional[int]) -> bool:
        """Whether directory REL (node INO) is merged from more than one layer."""
        if not rel and ino != pyfuse3.ROOT_INODE:
            return False  # (one without a name: a directory removed while open)
        return len(self._layers_of(rel)) > 1

    def _inherits(self, prel: str) -> bool:
        """Whether a new entry of directory PREL (upper, made already) takes its mode and ACLs
        from the directory's default ACL, in place of the umask (see ACL)."""
        if not self._acl_on():
            return False
        try:
            os.getxattr(self._real(self.upper, prel), "system.posix_acl_default", follow_symlinks=False)
        except OSError:
            return False
        return True

    def _acl_on(self) -> bool:
        on = self._acl
        if on is None:
            info = pyfuse3.conn_info or {}
            on = self._acl = bool(ACL and info.get("want", 0) & FUSE_CAP_POSIX_ACL)
        return on

    def _owner(self, prel: str, ctx) -> tuple[int, int]:
        gid = ctx.gid
        try:
            pst = os.lstat(self._real(self.upper, prel))
            if pst.st_mode & stat.S_ISGID:
                gid = pst.st_gid
        except OSError:
            pass
        return ctx.uid, gid

    @_mutates_entries(_new_name)
    async def create(self, parent_inode, name, mode, flags, ctx):
        if name == b"/":
            fd, entry = self._tmpfile(parent_inode, mode, flags, ctx)
        else:
            prel, n, rel, had_wh = self._new_entry_prep(parent_inode, name)
            fd = self._made(self._real(self.upper, rel), prel, mode, flags | os.O_CREAT | os.O_EXCL, ctx)
            entry = self._entry(rel, os.fstat(fd))
        self._fd_inode[fd] = entry.st_ino
        if self._no_open_on:
            self._node_fds[entry.st_ino] = fd
            if len(self._node_fds) > self.NODE_FDS:
                self._close_node_fds()
            return pyfuse3.FileInfo(fh=0), entry  # its I/O comes by node (see NO_OPEN)
        if self._passthrough_on():
            if self._pass_through(fd, entry.st_ino, flags) and FAST_ATTR and \
                    pyfuse3.fast_attr(entry.st_ino, fd, entry.attr_ino, ATTR_TIMEOUT):
                # handed over now, not at its first GETATTR: the first write to a new inode
                # asks for its security.capability first (cp -a: one GETXATTR a file)
                self._fast[entry.st_ino] = fd
            return pyfuse3.FileInfo(fh=fd, keep_cache=False), entry
        return pyfuse3.FileInfo(fh=fd), entry

    def _made(self, path: str, prel: str, mode: int, flags: int, ctx) -> int:
        """A new file opened with FLAGS at PATH (an upper directory, for O_TMPFILE) in directory
        PREL, with the owner and mode a create gives: a descriptor of it."""
        inherits = self._inherits(prel)
        m = stat.S_IMODE(mode) if inherits else stat.S_IMODE(mode) & ~ctx.umask
        try:
            fd = os.open(path, _server_flags(flags, self.enable_writeback_cache) | flags & (os.O_CREAT | os.O_EXCL), m)
            uid, gid = self._owner(prel, ctx)
            os.fchown(fd, uid, gid)
            if not inherits:  # (the server's own umask masked it)
                os.fchmod(fd, m)
        except OSError as e:
            raise _fuse_err(e)
        return fd

    # open(O_TMPFILE) (pyfuse3 patch 14 hands FUSE_TMPFILE to create() as the name b"/": libfuse
    # answered ENOSYS, and the kernel failed every O_TMPFILE of the mount with EOPNOTSUPP): a file
    # of no name in the directory's upper copy (copied up first), as overlayfs's ovl_tmpfile; its
    # node has no path until a linkat(2) gives it one (link), and goes with its FORGET.
    def _tmpfile(self, parent_inode, mode, flags, ctx) -> tuple[int, pyfuse3.EntryAttributes]:
        prel = self._path(parent_inode)
        self._ensure_upper_dir(prel)
        fd = self._made(self._real(self.upper, prel), prel, mode, flags | os.O_TMPFILE, ctx)
        ino = next(self._next_ino)
        self._lookups[ino] = 0
        entry = self._attr("", os.fstat(fd), None, ino)
        self._looked_up(ino)
        return fd, entry

    @_mutates_entries(_new_name)
    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        prel, n, rel, had_wh = self._new_entry_prep(parent_inode, name)
        path = self._real(self.upper, rel)
        try:
            os.mknod(path, mode if self._inherits(prel) else (mode & ~ctx.umask) | stat.S_IFMT(mode), rdev)
            os.lchown(path, *self._owner(prel, ctx))
        except OSError as e:
            raise _fuse_err(e)
        return self._entry(rel, os.lstat(path))

    @_mutates
    async def mkdir(self, parent_inode, name, mode, ctx):
        prel, n, rel, had_wh = self._new_entry_prep(parent_inode, name)
        path = self._real(self.upper, rel)
        inherits = self._inherits(prel)
        try:
            # (a default ACL gives it its mode: made with the one asked for, not 0700 first)
            os.mkdir(path, stat.S_IMODE(mode) & 0o777 if inherits else 0o700)
            if had_wh or self._lower_has(rel):
                # a directory made where a lower entry was deleted must not
                # show the lower directory's old contents: mark it opaque
                self._make_opaque(rel)
            uid, gid = self._owner(prel, ctx)
            os.lchown(path, uid, gid)
            m = stat.S_IMODE(os.lstat(path).st_mode) if inherits else stat.S_IMODE(mode) & ~ctx.umask
            if gid != ctx.gid or os.lstat(self._real(self.upper, prel)).st_mode & stat.S_ISGID:
                m |= stat.S_ISGID
            if not inherits or m & stat.S_ISGID:
                os.chmod(path, m)
        except OSError as e:
            raise _fuse_err(e)
        return self._entry(rel, os.lstat(path))

    @_mutates_entries(_new_name)
    async def symlink(self, parent_inode, name, target, ctx):
        prel, n, rel, had_wh = self._new_entry_prep(parent_inode, name)
        path = self._real(self.upper, rel)
        try:
            os.symlink(os.fsdecode(target), path)
            os.lchown(path, *self._owner(prel, ctx))
        except OSError as e:
            raise _fuse_err(e)
        return self._entry(rel, os.lstat(path))

    @_mutates_entries(_link_names)
    async def link(self, inode, new_parent_inode, new_name, ctx):
        fd = self._open_fd(inode) if inode not in self._path_of else None
        src_rel = self._path(inode) if fd is None else None
        prel, n, rel, had_wh = self._new_entry_prep(new_parent_inode, new_name)
        try:
            if fd is not None:  # a file of no name (O_TMPFILE) given one: linkat(2) of its descriptor
                if _libc.linkat(fd, b"", -100, os.fsencode(self._real(self.upper, rel)), 0x1000) != 0:  # AT_EMPTY_PATH
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            else:
                src = self._copy_up(src_rel)
                os.link(src, self._real(self.upper, rel), follow_symlinks=False)
            st = os.lstat(self._real(self.upper, rel))
        except OSError as e:
            raise _fuse_err(e)
        # the new name is the same file: the same node, as the kernel expects of a link
        self._forget_path(rel)
        self._register(rel, inode)
        key = (st.st_dev, st.st_ino)
        if self._links.get(key) is None:
            self._links[key] = inode
            self._link_key.setdefault(inode, key)
        self._looked_up(inode)
        return self._attr(rel, st, None, inode)

    @_mutates_entries(_new_name)
    async def unlink(self, parent_inode, name, ctx):
        n = self._check_name(name)
        prel = self._path(parent_inode)
        rel = self._join(prel, n)
        L, st = self._top(rel)
        if stat.S_ISDIR(st.st_mode):
            raise pyfuse3.FUSEError(errno.EISDIR)
        try:
            self._lose_name(rel)
            lower = self._lower_has(rel)
            if L == self.upper:
                os.unlink(self._real(self.upper, rel))
                if st.st_nlink <= 1:
                    self._gone(st)
            if lower:
                self._whiteout(prel, n)
        except OSError as e:
            raise _fuse_err(e)
        self._forget_path(rel)

    @_mutates
    async def rmdir(self, parent_inode, name, ctx):
        n = self._check_name(name)
        prel = self._path(parent_inode)
        rel = self._join(prel, n)
        L, st = self._top(rel)
        if not stat.S_ISDIR(st.st_mode):
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if self._listing(rel):
            raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        try:
            lower = self._lower_has(rel)
            up = self._real(self.upper, rel)
            if L == self.upper:
                for x in os.listdir(up):  # only whiteouts remain in it
                    os.unlink(os.path.join(up, x))
                os.rmdir(up)
            if lower:
                self._whiteout(prel, n)
        except OSError as e:
            raise _fuse_err(e)
        self._forget_path(rel)

    @_mutates
    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        if flags & ~(pyfuse3.RENAME_NOREPLACE | pyfuse3.RENAME_EXCHANGE) or \
                flags == pyfuse3.RENAME_NOREPLACE | pyfuse3.RENAME_EXCHANGE:
            raise pyfuse3.FUSEError(errno.EINVAL)
        on = self._check_name(name_old)
        nn = self._check_name(name_new)
        op, np_ = self._path(parent_inode_old), self._path(parent_inode_new)
        old, new = self._join(op, on), self._join(np_, nn)
        if flags & pyfuse3.RENAME_EXCHANGE:
            return self._exchange(old, new)
        if old == new:
            return
        src_stack = self._stack(old)
        if not src_stack:
            raise pyfuse3.FUSEError(errno.ENOENT)
        src_dir = stat.S_ISDIR(src_stack[0][1].st_mode)
        if src_dir and any(L != self.upper for L, _ in src_stack):
            # like overlayfs without redirect_dir: callers (mv) fall back to copy
            raise pyfuse3.FUSEError(errno.EXDEV)
        dst_stack = self._stack(new)
        if dst_stack:
            if flags & pyfuse3.RENAME_NOREPLACE:
                raise pyfuse3.FUSEError(errno.EEXIST)
            dst_dir = stat.S_ISDIR(dst_stack[0][1].st_mode)
            if src_dir and not dst_dir:
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            if dst_dir and not src_dir:
                raise pyfuse3.FUSEError(errno.EISDIR)
            if dst_dir and self._listing(new):
                raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        try:
            src_lower = self._lower_has(old)
            src = self._copy_up(old)
            self._ensure_upper_dir(np_)
            self._clear_whiteout(np_, nn)
            dst = self._real(self.upper, new)
            if dst_stack and dst_stack[0][0] == self.upper and stat.S_ISDIR(dst_stack[0][1].st_mode):
                for x in os.listdir(dst):
                    os.unlink(os.path.join(dst, x))
                os.rmdir(dst)
            replaced = dst_stack and dst_stack[0][0] == self.upper and dst_stack[0][1]
            if dst_stack:
                self._lose_name(new)
            os.rename(src, dst)
            if replaced and not stat.S_ISDIR(replaced.st_mode) and replaced.st_nlink <= 1 and \
                    not os.path.samestat(replaced, os.lstat(dst)):
                self._gone(replaced)
            if src_dir:
                self._opaque_if_merged(new)
            if src_lower:
                self._whiteout(op, on)
        except OSError as e:
            raise _fuse_err(e)
        self._move_path(old, new)

    def _make_opaque(self, rel: str) -> None:
        os.close(os.open(os.path.join(self._real(self.upper, rel), OPAQUE), os.O_CREAT | os.O_WRONLY, 0o600))

    def _opaque_if_merged(self, rel: str) -> None:
        """Like overlayfs: a pure-upper directory moved into a merged parent becomes opaque,
        so a same-named lower directory (which only a merged parent can have) never shows
        through it."""
        if any(L != self.upper for L, _ in self._stack(rel.rpartition("/")[0])):
            self._make_opaque(rel)

    def _exchange(self, a: str, b: str) -> None:
        """renameat2(RENAME_EXCHANGE): both names stay, so no whiteouts; both are copied up and
        swapped atomically in the upper layer. As overlayfs without redirect_dir, a directory
        with lower content cannot move (EXDEV); one that moves over a name a lower layer has
        becomes opaque."""
        if a == b:
            return
        sa, sb = self._stack(a), self._stack(b)
        if not sa or not sb:
            raise pyfuse3.FUSEError(errno.ENOENT)
        for stk in (sa, sb):
            if stat.S_ISDIR(stk[0][1].st_mode) and any(L != self.upper for L, _ in stk):
                raise pyfuse3.FUSEError(errno.EXDEV)
        if b.startswith(a + "/") or a.startswith(b + "/"):
            raise pyfuse3.FUSEError(errno.EINVAL)  # one inside the other
        try:
            ua, ub = self._copy_up(a), self._copy_up(b)
            renameat2(ua, ub, pyfuse3.RENAME_EXCHANGE)
            for rel, stk in ((b, sa), (a, sb)):  # each directory now sits at the other's name
                if stat.S_ISDIR(stk[0][1].st_mode):
                    self._opaque_if_merged(rel)
        except OSError as e:
            raise _fuse_err(e)
        self._swap_paths(a, b)

    async def statfs(self, ctx):
        s = os.statvfs(self.upper)
        r = pyfuse3.StatvfsData()
        for a in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail", "f_namemax"):
            setattr(r, a, getattr(s, a))
        return r

    def _xattr_file(self, inode: int) -> int | str:
        """Where node INODE's xattrs are read: its top file, or for a file unlinked while open
        (no path) a descriptor of it, as getattr reads its attributes (and pyfuse3 answers
        for a file open passthrough: see FAST_ATTR)."""
        if inode not in self._path_of:
            fd = self._open_fd(inode)  # (no_open: the descriptor the node keeps is one)
            if fd is not None:
                return fd
            if inode in self._nameless:
                return self._nameless[inode]
        rel = self._path(inode)
        L, st = self._top(rel)
        return self._real(L, rel)

    async def getxattr(self, inode, name, ctx):
        f = self._xattr_file(inode)
        try:
            return os.getxattr(f, os.fsdecode(name), follow_symlinks=isinstance(f, int))
        except OSError as e:
            if e.errno == errno.ENODATA and FAST_LOWER and pyfuse3.fast_lower_add(inode, 0):
                self._none_below(inode, f)
            raise pyfuse3.FUSEError(errno.ENODATA if e.errno == errno.ENODATA else e.errno)

    async def listxattr(self, inode, ctx):
        f = self._xattr_file(inode)
        try:
            names = os.listxattr(f, follow_symlinks=isinstance(f, int))
        except OSError as e:
            raise _fuse_err(e)
        if not names and FAST_LOWER:
            UnionFS._no_xattrs(inode, f)  # a lower node's (see FAST_LOWER)
        return [os.fsencode(n) for n in names]

    @staticmethod
    def _none_below(inode: int, f: int | str) -> None:
        """Lower node INODE (its file F) lacked an xattr: if it has none, pyfuse3 answers its
        GETXATTRs and LISTXATTRs from now on (see FAST_LOWER)."""
        try:
            if not os.listxattr(f, follow_symlinks=isinstance(f, int)):
                UnionFS._no_xattrs(inode, f)
        except OSError:
            pass

    @staticmethod
    def _no_xattrs(inode: int, f: int | str) -> None:
        """Node INODE's file F lists no xattrs: pyfuse3 answers its GETXATTRs and LISTXATTRs
        (if it is a registered lower node), and those of its ACLs where F's filesystem answers
        ENODATA for both (see FAST_NOACL)."""
        if (pyfuse3.fast_lower_add(inode, pyfuse3.FAST_NOXATTR) and FAST_NOACL and
                all(UnionFS._lacks(f, n) for n in ("system.posix_acl_access", "system.posix_acl_default"))):
            pyfuse3.fast_lower_add(inode, FAST_NOACL)

    @staticmethod
    def _lacks(f: int | str, name: str) -> bool:
        """Whether file F's filesystem answers ENODATA for its xattr NAME."""
        try:
            os.getxattr(f, name, follow_symlinks=isinstance(f, int))
        except OSError as e:
            return e.errno == errno.ENODATA
        return False

    @_mutates_entries(_inode)
    async def setxattr(self, inode, name, value, ctx):
        if self._pt_kept:
            self._unkeep_pt(inode)  # security.capability, say (see FAST_PT)
        rel = self._path(inode)
        try:
            path = self._copy_up(rel)
            os.setxattr(path, os.fsdecode(name), value, follow_symlinks=False)
        except OSError as e:
            raise _fuse_err(e)

    @_mutates_entries(_inode)
    async def removexattr(self, inode, name, ctx):
        if self._pt_kept:
            self._unkeep_pt(inode)  # security.capability, say (see FAST_PT)
        rel = self._path(inode)
        try:
            path = self._copy_up(rel)
            os.removexattr(path, os.fsdecode(name), follow_symlinks=False)
        except OSError as e:
            raise _fuse_err(e)
