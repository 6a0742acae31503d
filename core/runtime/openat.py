"""Paths inside a container's root, by descriptor.

Everything the host side does to a container's files (cp both ways, export, diff,
filling a volume, the mount targets of its root) starts from a descriptor of the
root and resolves the path as the container would: ``openat2(RESOLVE_IN_ROOT)``, so
``..`` and absolute links stop at the root, magic links (``/proc/self/root``) are
refused, and more than 40 links are ELOOP.  What comes back is a descriptor, and
the work is done on descriptors (``dir_fd=``, ``scandir(fd)``, ``O_NOFOLLOW``): a
string path under the root is never resolved again, so a link swapped in meanwhile
by the container (which keeps running) is never followed out of it.

``/proc/self/fd/N`` is used only to hand an already resolved descriptor to a tool or
to mount(2) (runc's fix of CVE-2021-30465).  On a kernel without openat2 (before
5.6) the same resolution is done component by component with O_NOFOLLOW."""
from __future__ import annotations

import ctypes
import errno
import os
import stat

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
MAXSYMLINKS = 40  # the kernel's: a 41st link is ELOOP
_SYS_openat2 = 437  # the same number on every architecture (a syscall of 5.6)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_NR = ctypes.c_long(_SYS_openat2)
_HOW_SIZE = ctypes.c_size_t(ctypes.sizeof(_OpenHow))
_HAVE_OPENAT2 = True


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): PATH opened relative to DIRFD, resolved as RESOLVE says, close-on-exec.
    The one way into the syscall for the runtime and for unpacking layers (core/images/unpack.py
    calls it once a directory: the arguments it needs are built once, here)."""
    if mode and not (flags & os.O_CREAT or flags & os.O_TMPFILE == os.O_TMPFILE):
        mode = 0  # the kernel refuses a mode without O_CREAT or O_TMPFILE
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _syscall(_NR, ctypes.c_int(dirfd), os.fsencode(path), ctypes.byref(how), _HOW_SIZE)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return fd


def fdpath(fd: int) -> str:
    """A resolved descriptor as a path for a tool or mount(2), which resolve nothing more."""
    return f"/proc/self/fd/{fd}"


def message(e: OSError) -> str:
    """An error's reason for a one-line message: 'too many levels of symbolic links'."""
    reason = e.strerror or str(e)
    return reason[:1].lower() + reason[1:]


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH, mode: int = 0) -> int:
    """PATH (absolute or not: both start at the root) opened inside the root ROOTFD as the
    container would open it; its last link is followed unless FLAGS has O_NOFOLLOW."""
    global _HAVE_OPENAT2
    path = path.lstrip("/") or "."
    if _HAVE_OPENAT2:
        try:
            return openat2(rootfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, mode)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
            _HAVE_OPENAT2 = False
    return _open_in_root_by_component(rootfd, path, flags, mode)


def _open_in_root_by_component(rootfd: int, path: str, flags: int, mode: int) -> int:
    """openat2(RESOLVE_IN_ROOT) done by hand: one component at a time, O_NOFOLLOW, the
    directories walked kept as descriptors so that '..' goes back one of them (never
    above the root), links read and their targets walked in their place."""
    todo = [p for p in path.split("/") if p not in ("", ".")][::-1]  # a stack: next component last
    dirs = [os.dup(rootfd)]
    links = 0
    try:
        while todo:
            name = todo.pop()
            if name == "..":
                if len(dirs) > 1:
                    os.close(dirs.pop())
                continue
            last = not todo
            try:
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirs[-1])
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dirs[-1])
                raise
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) and not (last and flags & os.O_NOFOLLOW):
                os.close(fd)
                links += 1
                if links > MAXSYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(name, dir_fd=dirs[-1])
                if target.startswith("/"):
                    while len(dirs) > 1:
                        os.close(dirs.pop())
                todo.extend(p for p in target.split("/")[::-1] if p not in ("", "."))
                continue
            if last:
                if flags & os.O_PATH and not flags & os.O_DIRECTORY:
                    return fd
                os.close(fd)
                return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dirs[-1])
            if not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            dirs.append(fd)
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=dirs[-1])
    finally:
        for d in dirs:
            os.close(d)


def locate(rootfd: int, path: str, follow_last: bool = False) -> tuple[int, str]:
    """(descriptor of PATH's directory, PATH's last name in it), resolved in the root;
    with FOLLOW_LAST the last name's links too, so that the name is never a link (or
    does not exist).  The name is '.' when PATH is a directory reached by '.' or '..'
    or the root itself.  The caller closes the descriptor."""
    links = 0
    while True:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or parts[-1] == "..":
            return open_in_root(rootfd, path, os.O_PATH | os.O_DIRECTORY), "."
        parent = "/".join(parts[:-1])
        pfd = open_in_root(rootfd, parent, os.O_PATH | os.O_DIRECTORY)
        name = parts[-1]
        if not follow_last:
            return pfd, name
        try:
            if not stat.S_ISLNK(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                return pfd, name
            target = os.readlink(name, dir_fd=pfd)
        except FileNotFoundError:
            return pfd, name
        except BaseException:
            os.close(pfd)
            raise
        os.close(pfd)
        links += 1
        if links > MAXSYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        # a relative target is taken from the link's directory as written: the kernel
        # resolves '..' after the links before it, as the container would
        path = target if target.startswith("/") else f"{parent}/{target}"


def ensure(rootfd: int, path: str, directory: bool = True, mode: int = 0o755) -> int:
    """An O_PATH descriptor of PATH inside the root, made if missing (the directories on
    the way, then a directory or an empty file): a mount target.  A dangling link on
    the way is followed inside the root, as it would be from inside."""
    links = 0
    while True:
        try:
            return open_in_root(rootfd, path, os.O_PATH)
        except FileNotFoundError:
            pass
        parts = [p for p in path.split("/") if p not in ("", ".")]
        retarget = None
        for i, name in enumerate(parts):
            if name == "..":
                continue
            pfd = open_in_root(rootfd, "/".join(parts[:i]), os.O_PATH | os.O_DIRECTORY)
            try:
                try:
                    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                except FileNotFoundError:
                    if i < len(parts) - 1 or directory:
                        try:
                            os.mkdir(name, mode, dir_fd=pfd)
                        except FileExistsError:
                            pass
                    else:
                        os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                                         dir_fd=pfd))
                    continue
                if stat.S_ISLNK(st.st_mode):
                    try:
                        os.close(open_in_root(rootfd, "/".join(parts[:i + 1]), os.O_PATH))
                    except FileNotFoundError:  # dangling: make what it names
                        target = os.readlink(name, dir_fd=pfd)
                        rest = "/".join(parts[i + 1:])
                        base = "" if target.startswith("/") else "/".join(parts[:i])
                        retarget = f"{base}/{target}/{rest}"
                        break
            finally:
                os.close(pfd)
        if retarget is None:
            return open_in_root(rootfd, path, os.O_PATH)
        links += 1
        if links > MAXSYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        path = retarget


def lexists_beneath(dirfd: int, rel: str) -> bool:
    """Whether REL is under DIRFD with no link on the way (its last name may be one): is
    the path in that layer, as a union sees it."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    fd = os.dup(dirfd)
    try:
        for p in parts[:-1]:
            try:
                nfd = os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError:
                return False
            os.close(fd)
            fd = nfd
        if not parts:
            return True
        try:
            os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            return True
        except OSError:
            return False
    finally:
        os.close(fd)


# ------------------------------------------------------------------ trees by descriptor
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir(dirfd: int, name: str) -> int:
    """Directory NAME of DIRFD opened for listing; never through a link."""
    return os.open(name, _DIR_FLAGS, dir_fd=dirfd)


def listing(fd: int) -> list[str]:
    return sorted(e.name for e in os.scandir(fd))


class _Opened:
    """What tarfile.gettarinfo needs of a file object: a name and a descriptor to fstat."""

    def __init__(self, fd: int, name: str):
        self._fd, self.name = fd, name

    def fileno(self) -> int:
        return self._fd


def tar_add(tf, dirfd: int, name: str, arcname: str, recursive: bool = True, _tries: int = 3) -> None:
    """Entry NAME of DIRFD into the tar TF as ARCNAME, and what is under it with RECURSIVE:
    each entry is opened (never through a link) and what was opened is what is written,
    header and content, so a swap meanwhile changes nothing but what is seen."""
    import tarfile
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return  # gone meanwhile
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(name, dir_fd=dirfd)
        except OSError:
            return
        ti = tarfile.TarInfo(arcname)
        ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid, ti.mtime = st.st_uid, st.st_gid, st.st_mtime
        tf.addfile(ti)
        return
    flags = _DIR_FLAGS if stat.S_ISDIR(st.st_mode) else (
        os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC if stat.S_ISREG(st.st_mode)
        else os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)  # devices and fifos: a header only
    try:
        fd = os.open(name, flags, dir_fd=dirfd)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        if e.errno == errno.ELOOP and _tries:  # a link now: look again
            return tar_add(tf, dirfd, name, arcname, recursive, _tries - 1)
        raise
    try:
        if stat.S_IFMT(os.fstat(fd).st_mode) != stat.S_IFMT(st.st_mode):  # swapped between the looks
            return tar_add(tf, dirfd, name, arcname, recursive, _tries - 1) if _tries else None
        ti = tf.gettarinfo(arcname=arcname, fileobj=_Opened(fd, arcname))
        if ti.isreg():
            with open(os.dup(fd), "rb") as f:
                tf.addfile(ti, f)
        else:
            tf.addfile(ti)
        if ti.isdir() and recursive:
            for child in listing(fd):
                tar_add(tf, fd, child, f"{arcname}/{child}" if arcname not in ("", ".") else child)
    finally:
        os.close(fd)


def copy_out(dirfd: int, name: str, dst: str) -> None:
    """Entry NAME of DIRFD (in a container) copied to the host path DST, as cp -a would:
    links as links, directories merged into an existing one."""
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(name, dir_fd=dirfd)
        if os.path.lexists(dst) and not os.path.isdir(dst):
            os.unlink(dst)
        os.symlink(target, dst)
        return
    if stat.S_ISDIR(st.st_mode):
        fd = open_dir(dirfd, name)
        try:
            os.makedirs(dst, exist_ok=True)
            for child in listing(fd):
                copy_out(fd, child, os.path.join(dst, child))
            os.chmod(dst, stat.S_IMODE(os.fstat(fd).st_mode))
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
        return
    if not stat.S_ISREG(st.st_mode):
        if os.path.lexists(dst):
            os.unlink(dst)
        os.mknod(dst, st.st_mode, st.st_rdev)
        return
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file any more", name)
        with open(os.dup(fd), "rb") as src, open(dst, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)


def copy_in(src: str, dirfd: int, name: str) -> None:
    """The host path SRC copied to entry NAME of DIRFD (in a container): links as links,
    directories merged; what is there is replaced, never written through (a link in the
    container at NAME is replaced by the file, not followed)."""
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        _clear(dirfd, name)
        os.symlink(os.readlink(src), name, dir_fd=dirfd)
        return
    if stat.S_ISDIR(st.st_mode):
        try:
            os.mkdir(name, 0o700, dir_fd=dirfd)
        except FileExistsError:
            if stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
                _clear(dirfd, name)
                os.mkdir(name, 0o700, dir_fd=dirfd)
        fd = open_dir(dirfd, name)
        try:
            for child in sorted(os.listdir(src)):
                copy_in(os.path.join(src, child), fd, child)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
        return
    if not stat.S_ISREG(st.st_mode):
        _clear(dirfd, name)
        os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dirfd)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dirfd)
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.ETXTBSY):
            raise
        _clear(dirfd, name)  # a link, a fifo, a socket, a directory there: replaced
        fd = os.open(name, flags | os.O_EXCL, 0o600, dir_fd=dirfd)
    try:
        with open(src, "rb") as f, open(os.dup(fd), "wb") as out:
            while chunk := f.read(1 << 20):
                out.write(chunk)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)


def _clear(dirfd: int, name: str) -> None:
    """Entry NAME of DIRFD removed if there (an empty directory too)."""
    try:
        os.unlink(name, dir_fd=dirfd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        os.rmdir(name, dir_fd=dirfd)


def kind(dirfd: int, name: str) -> int | None:
    """The file type bits of entry NAME of DIRFD (not following a link), or None."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None
