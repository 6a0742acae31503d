"""Thin ctypes bindings for the Linux calls Python 3.11's os module lacks:
unshare, setns, mount, umount2, pivot_root, prctl."""
from __future__ import annotations

import ctypes
import os

# the process's own symbols, libc's among them; ctypes.util.find_library("c")
# would run ldconfig, 27 ms on every command
libc = _libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

SYS_pivot_root = 155  # x86_64
if os.uname().machine == "aarch64":
    SYS_pivot_root = 41


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    ret = _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source or fstype} on {target}: {os.strerror(e)}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_pivot_root), new_root.encode(), put_old.encode()), "pivot_root")


SYS_keyctl = 219 if os.uname().machine == "aarch64" else 250
KEYCTL_SETPERM, KEYCTL_DESCRIBE, KEYCTL_JOIN_SESSION_KEYRING = 5, 6, 1
KEY_USR_SEARCH = 0x080000


def join_session_keyring(name: str) -> None:
    """A new session keyring called NAME for this process (and what it execs), searchable by
    its owner (a later exec's join finds it), as runc gives each container's processes: they
    do not share the caller's keys.  Nothing where the kernel has no keyrings or a filter
    refuses keyctl."""
    kid = _libc.syscall(ctypes.c_long(SYS_keyctl), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), name.encode())
    if kid < 0:
        if ctypes.get_errno() in (38, 1):  # ENOSYS, EPERM
            return
        _check(kid, "keyctl join session keyring")
    buf = ctypes.create_string_buffer(512)
    n = _libc.syscall(ctypes.c_long(SYS_keyctl), ctypes.c_long(KEYCTL_DESCRIBE), ctypes.c_long(kid), buf,
                      ctypes.c_long(len(buf)))
    if n > 0:  # "type;uid;gid;perm;description"
        perm = int(buf.value.split(b";")[3], 16)
        _check(_libc.syscall(ctypes.c_long(SYS_keyctl), ctypes.c_long(KEYCTL_SETPERM), ctypes.c_long(kid),
                             ctypes.c_long(perm | KEY_USR_SEARCH)), "keyctl setperm")


def prctl(option: int, arg2: int = 0) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def set_process_name(name: str) -> None:
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, buf, 0, 0, 0)


def mount_device(path: str) -> str | None:
    """MAJOR:MINOR of the newest mount at PATH (absolute and resolved) as
    mountinfo lists it: nothing is asked of the mount itself, so a FUSE server
    may call it on its own mount before it serves."""
    dev = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4].encode().decode("unicode_escape") == path:
                dev = fields[2]
    return dev


def is_mountpoint(path: str) -> bool:
    return mount_device(os.path.realpath(path)) is not None


def set_readahead(dev: str, kib: int) -> bool:
    """The kernel's read-ahead window of the mount (its backing device info) with
    device number DEV; False where sysfs refuses."""
    try:
        with open(f"/sys/class/bdi/{dev}/read_ahead_kb", "w") as f:
            f.write(str(kib))
        return True
    except OSError:
        return False


def lazy_unmount(mountpoint: str) -> None:
    """Detach a mount now, free it when no longer busy: a hung FUSE server never blocks us."""
    try:
        umount2(mountpoint, MNT_DETACH)
    except OSError:
        import subprocess
        subprocess.run(["fusermount3", "-u", "-z", mountpoint], capture_output=True)


def trim_memory() -> None:
    """Hand the heap's free pages back to the system (a long-lived process after
    its start-up: the shim, the FUSE server), and keep the collector off the
    objects that exist by then, so that it does not write to pages shared after fork."""
    import gc
    gc.collect()
    gc.freeze()
    release_free_memory()


def one_malloc_arena() -> None:
    """Have every thread of this process allocate from malloc's main arena (glibc's
    M_ARENA_MAX 1): a second thread otherwise gets an arena of its own, of which a
    shim's FUSE thread kept about 1 MiB dirty.  Its allocations are made holding the
    interpreter's lock anyway, so they hardly ever contend."""
    try:
        _libc.mallopt(-8, 1)  # M_ARENA_MAX
    except AttributeError:  # not glibc
        pass


def release_free_memory() -> None:
    """Give the pages malloc holds free back to the system (glibc's malloc_trim)."""
    try:
        _libc.malloc_trim(0)
    except AttributeError:  # not glibc
        pass
