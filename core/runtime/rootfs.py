"""The container's root: /proc, a minimal /dev, read-only /sys, then pivot_root.

Runs inside the container's fresh mount namespace, before exec."""
from __future__ import annotations

import contextlib
import os
import stat

from .linux import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY,
                    MS_REC, MS_REMOUNT, mount, pivot_root, umount2)
from .openat import ensure, fdpath, open_in_root

DEVICES = {  # name: (major, minor, mode) as docker creates them
    "null": (1, 3, 0o666), "zero": (1, 5, 0o666), "full": (1, 7, 0o666),
    "random": (1, 8, 0o666), "urandom": (1, 9, 0o666), "tty": (5, 0, 0o666),
}


def _mkdir(path: str, mode: int = 0o755) -> None:
    try:
        os.makedirs(path, mode, exist_ok=True)
    except FileExistsError:
        pass


# docker's defaults: hidden behind /dev/null or an empty read-only tmpfs ...
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap")
# ... and made read-only
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@contextlib.contextmanager
def _target(rootfd: int, path: str, directory: bool = True, make: bool = True, mode: int = 0o755):
    """PATH resolved inside the root (made if missing with MAKE) as a path for mount(2):
    /proc/self/fd/N of its descriptor, so that no link of the image, nor one swapped in
    by a container sharing a volume, moves a mount, a directory or a file made for one
    out of the root (runc's fix of CVE-2021-30465)."""
    fd = ensure(rootfd, path, directory, mode) if make else open_in_root(rootfd, path, os.O_PATH)
    try:
        yield fdpath(fd)
    finally:
        os.close(fd)


def _existing(rootfd: int, path: str):
    """A descriptor of PATH in the root, itself if it is a link (None if it is one, or missing)."""
    try:
        fd = open_in_root(rootfd, path, os.O_PATH | os.O_NOFOLLOW)
    except OSError:
        return None
    if stat.S_ISLNK(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _mask_and_protect(rootfd: int) -> None:
    """As runc masks: the container's own /dev/null (on its /dev tmpfs, never the
    host's devtmpfs, whose size the mount would show) bound over files, an empty
    read-only tmpfs over directories."""
    with _target(rootfd, "/dev/null", directory=False, make=False) as null:
        for p in MASKED_PATHS:
            fd = _existing(rootfd, p)
            if fd is None:
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    mount("tmpfs", fdpath(fd), "tmpfs", MS_RDONLY, None)
                else:
                    mount(null, fdpath(fd), None, MS_BIND)
            finally:
                os.close(fd)
    for p in READONLY_PATHS:
        fd = _existing(rootfd, p)
        if fd is None:
            continue
        try:
            mount(fdpath(fd), fdpath(fd), None, MS_BIND | MS_REC)
        finally:
            os.close(fd)
        with _target(rootfd, p, make=False) as target:  # the bind mount now there
            mount(target, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _cgroup_hierarchies() -> list[tuple[str, str, str]]:
    """(mount point, fs type, controller options) of the host's cgroup file systems."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rf = right.split()
            if rf and rf[0] in ("cgroup", "cgroup2"):
                opts = [o for o in rf[2].split(",") if o not in ("rw", "ro")]
                out.append((left.split()[4], rf[0], ",".join(opts)))
    return out


def _mount_cgroups(rootfd: int, privileged: bool) -> None:
    """/sys/fs/cgroup as docker shows it: the container's own groups (the
    cgroup namespace makes them the roots), read-only unless privileged."""
    try:
        fd = open_in_root(rootfd, "/sys/fs/cgroup", os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (0 if privileged else MS_RDONLY)
    hier = _cgroup_hierarchies()
    try:
        if any(mp == "/sys/fs/cgroup" and t == "cgroup2" for mp, t, _ in hier):  # a v2 host
            mount("cgroup2", fdpath(fd), "cgroup2", flags)
            return
        mount("tmpfs", fdpath(fd), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k")
    finally:
        os.close(fd)
    with _target(rootfd, "/sys/fs/cgroup", make=False) as target:  # the fresh tmpfs: ours alone
        _mount_cgroup_hierarchies(target, hier, flags, privileged)


def _mount_cgroup_hierarchies(target: str, hier, flags: int, privileged: bool) -> None:
    """The host's v1 hierarchies in the tmpfs at TARGET, which is then made read-only
    (unless PRIVILEGED)."""
    for mp, fstype, opts in hier:
        if not mp.startswith("/sys/fs/cgroup/") or "name=" in opts:
            continue  # named hierarchies (systemd's) are not the container's business
        name = os.path.basename(mp)
        sub = os.path.join(target, name)
        _mkdir(sub)
        mount(fstype, sub, fstype, flags, opts if fstype == "cgroup" else None)
        for ctrl in name.split(",") if "," in name else ():
            os.symlink(name, os.path.join(target, ctrl))  # cpu -> cpu,cpuacct, as on the host
    mount("tmpfs", target, None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC | (0 if privileged else MS_RDONLY))


def _user_mounts(rootfd: int, mounts: list[dict]) -> None:
    """Volumes, binds and tmpfs (docker's -v, --mount, --tmpfs), shortest target first."""
    for m in sorted(mounts, key=lambda m: m["Target"].count("/")):
        flags = MS_NOSUID | MS_NODEV
        if m["Type"] == "tmpfs":
            opts = [o for o in m.get("Options") or [] if "=" in o]
            for o in m.get("Options") or []:
                flags |= {"noexec": MS_NOEXEC}.get(o, 0)
            if "exec" not in (m.get("Options") or []):
                flags |= MS_NOEXEC
            if "suid" in (m.get("Options") or []):
                flags &= ~MS_NOSUID
            if "dev" in (m.get("Options") or []):
                flags &= ~MS_NODEV
            with _target(rootfd, m["Target"]) as target:
                mount("tmpfs", target, "tmpfs", flags | (MS_RDONLY if m.get("ReadOnly") else 0),
                      ",".join(opts) or None)
            continue
        src = m["Source"]
        with _target(rootfd, m["Target"], directory=os.path.isdir(src)) as target:
            mount(src, target, None, MS_BIND | MS_REC)
        if m.get("ReadOnly"):
            with _target(rootfd, m["Target"], make=False) as target:  # the bind mount now there
                mount(src, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)


def _bind_files(rootfd: int, binds) -> None:
    """The host's files bound over the container's (made if missing; a link is left alone)."""
    for src, dst in binds:
        try:
            fd = open_in_root(rootfd, dst, os.O_PATH | os.O_NOFOLLOW)
        except FileNotFoundError:
            fd = ensure(rootfd, dst, directory=False)
        try:
            if not stat.S_ISLNK(os.fstat(fd).st_mode):
                mount(src, fdpath(fd), None, MS_BIND)
        finally:
            os.close(fd)


def setup_rootfs(root: str, binds: list[tuple[str, str]] = (), privileged: bool = False,
                 read_only: bool = False, mounts: list[dict] = ()) -> None:
    """Mount the kernel file systems under ROOT (an existing mount point) and
    make it the process's root with pivot_root.  BINDS are (host file, path in
    container) pairs bound read-write (hosts, hostname, resolv.conf); MOUNTS
    the user's volumes, binds and tmpfs.  Every target is resolved inside ROOT
    by descriptor (core/runtime/openat.py): the image's links stay inside it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # make ROOT a mount of its own in this namespace (pivot_root wants one)
    mount(root, root, None, MS_BIND | MS_REC)
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # that mount
    try:
        with _target(rootfd, "/proc") as target:
            mount("proc", target, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV)

        with _target(rootfd, "/dev") as target:
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_STRICT, "mode=755,size=65536k")
        with _target(rootfd, "/dev", make=False) as dev:  # the fresh tmpfs: ours alone
            old = os.umask(0)
            try:
                for name, (ma, mi, mode) in DEVICES.items():
                    os.mknod(f"{dev}/{name}", stat.S_IFCHR | mode, os.makedev(ma, mi))
                _mkdir(f"{dev}/pts")
                mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620,gid=5")
                os.symlink("pts/ptmx", f"{dev}/ptmx")
                _mkdir(f"{dev}/shm", 0o1777)
                mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k")
                _mkdir(f"{dev}/mqueue")
                mount("mqueue", f"{dev}/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV)
            finally:
                os.umask(old)
            for src, dst in (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
                             ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")):
                os.symlink(src, f"{dev}/{dst}")

        with _target(rootfd, "/sys") as target:
            mount("sysfs", target, "sysfs", (0 if privileged else MS_RDONLY) | MS_NOSUID | MS_NOEXEC | MS_NODEV)
        _mount_cgroups(rootfd, privileged)
        if not privileged:
            _mask_and_protect(rootfd)

        _user_mounts(rootfd, mounts)
        _bind_files(rootfd, binds)
    finally:
        os.close(rootfd)

    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", MNT_DETACH)
    os.chdir("/")
    if read_only:
        # --read-only: the root itself, not the kernel file systems mounted on it
        mount("/", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY)


MS_STRICT = 1 << 24  # MS_STRICTATIME, as docker mounts /dev
