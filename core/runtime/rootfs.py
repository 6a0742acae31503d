"""The container's root: /proc, a minimal /dev, read-only /sys, then pivot_root.

Runs inside the container's fresh mount namespace, before exec."""
from __future__ import annotations

import os
import stat

from .linux import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY,
                    MS_REC, MS_REMOUNT, MS_SLAVE, mount, pivot_root, umount2)
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


class _target:
    """PATH resolved inside the root (made if missing with MAKE) as a path for mount(2):
    /proc/self/fd/N of its descriptor, so that no link of the image, nor one swapped in
    by a container sharing a volume, moves a mount, a directory or a file made for one
    out of the root (runc's fix of CVE-2021-30465).  (A class, not contextlib's: the
    container's init imports this module, in dunnage-runtime's launcher with nothing else.)"""

    def __init__(self, rootfd: int, path: str, directory: bool = True, make: bool = True, mode: int = 0o755):
        self.fd = ensure(rootfd, path, directory, mode) if make else open_in_root(rootfd, path, os.O_PATH)

    def __enter__(self) -> str:
        return fdpath(self.fd)

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


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


def _mask_and_protect(rootfd: int, masked=MASKED_PATHS, readonly=READONLY_PATHS) -> None:
    """As runc masks: the container's own /dev/null (on its /dev tmpfs, never the
    host's devtmpfs, whose size the mount would show) bound over files, an empty
    read-only tmpfs over directories."""
    with _target(rootfd, "/dev/null", directory=False, make=False) as null:
        for p in masked:
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
    for p in readonly:
        fd = _existing(rootfd, p)
        if fd is None:
            continue
        try:
            mount(fdpath(fd), fdpath(fd), None, MS_BIND | MS_REC)
        finally:
            os.close(fd)
        with _target(rootfd, p, make=False) as target:  # the bind mount now there
            # read-only, keeping what the mount under it has of nosuid, nodev and noexec (runc's readonlyPath)
            kept = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
            mount(target, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept)


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


def _own_cgroups() -> dict[frozenset, str]:
    """This process's group in each hierarchy (controllers -> path), from /proc/self/cgroup."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out[frozenset(c for c in ctrls.split(",") if c)] = path
    return out


def _mount_cgroups(rootfd: int, privileged: bool, where: str = "/sys/fs/cgroup", own: bool = False,
                   oci: bool = False) -> None:
    """/sys/fs/cgroup as docker shows it: the container's own groups (the
    cgroup namespace makes them the roots), read-only unless privileged.  OWN: there is
    no cgroup namespace (an OCI bundle without one): the container's own groups are
    bound there instead, as runc does.  OCI (a bundle's cgroup mount): the v1 hierarchies'
    tmpfs as runc makes it, writable and without a size (only the hierarchies are read-only)."""
    try:
        fd = open_in_root(rootfd, where, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (0 if privileged else MS_RDONLY)
    hier = _cgroup_hierarchies()
    try:
        if any(mp == "/sys/fs/cgroup" and t == "cgroup2" for mp, t, _ in hier):  # a v2 host
            if own:
                mount("/sys/fs/cgroup" + _own_cgroups().get(frozenset(), "/"), fdpath(fd), None, MS_BIND | MS_REC)
                mount(None, fdpath(fd), None, MS_BIND | MS_REMOUNT | flags)
            else:
                mount("cgroup2", fdpath(fd), "cgroup2", flags)
            return
        mount("tmpfs", fdpath(fd), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755" if oci else "mode=755,size=64k")
    finally:
        os.close(fd)
    with _target(rootfd, where, make=False) as target:  # the fresh tmpfs: ours alone
        _mount_cgroup_hierarchies(target, hier, flags, privileged or oci, _own_cgroups() if own else None)


def _mount_cgroup_hierarchies(target: str, hier, flags: int, privileged: bool, own=None) -> None:
    """The host's v1 hierarchies in the tmpfs at TARGET, which is then made read-only
    (unless PRIVILEGED); with OWN (controllers -> this process's group), its groups bound
    from the host's hierarchies instead."""
    for mp, fstype, opts in hier:
        if not mp.startswith("/sys/fs/cgroup/"):
            continue
        if own is None and "name=" in opts:
            continue  # named hierarchies (systemd's) are not a docker container's business
        if own is not None and fstype == "cgroup2":
            continue  # runc binds a hybrid host's v1 groups (named ones too), not its unified one
        name = os.path.basename(mp)
        sub = os.path.join(target, name)
        _mkdir(sub)
        if own is not None:
            ctrls = frozenset(o for o in opts.split(",") if o)
            path = next((p for c, p in own.items() if c and c <= ctrls), "/")
            mount(mp + path, sub, None, MS_BIND)
            mount(None, sub, None, MS_BIND | MS_REMOUNT | flags)
        else:
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


def _make_devices(dev: str, extra: list[dict] = ()) -> None:
    """docker's device nodes in the /dev at DEV (a path of the container's own /dev tmpfs),
    and EXTRA (OCI's linux.devices: path, type c/b/u/p, major, minor, fileMode, uid, gid)."""
    for name, (ma, mi, mode) in DEVICES.items():
        if not os.path.lexists(f"{dev}/{name}"):
            os.mknod(f"{dev}/{name}", stat.S_IFCHR | mode, os.makedev(ma, mi))
    for d in extra:
        rel = os.path.normpath("/" + d["path"].lstrip("/")).removeprefix("/dev/")  # (normpath keeps a leading "//")
        if rel.startswith("/") or rel.startswith(".."):
            continue  # outside /dev: refused when the bundle was read
        node = f"{dev}/{rel}"
        _mkdir(os.path.dirname(node))
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d["type"]]
        if os.path.lexists(node):
            os.unlink(node)
        os.mknod(node, kind | (d.get("fileMode") or 0o666) & 0o7777, os.makedev(d.get("major", 0), d.get("minor", 0)))
        os.chown(node, d.get("uid") or 0, d.get("gid") or 0)


def _bind_devices(dev: str, extra: list[dict] = ()) -> None:
    """_make_devices' nodes in a user namespace, where nothing can mknod: the host's nodes of
    the same paths bound onto empty files, as runc does."""
    nodes = [(name, f"/dev/{name}") for name in DEVICES if not os.path.lexists(f"{dev}/{name}")]
    for d in extra:
        rel = os.path.normpath("/" + d["path"].lstrip("/")).removeprefix("/dev/")
        if not (rel.startswith("/") or rel.startswith("..")):
            nodes.append((rel, "/dev/" + rel))
    for rel, host in nodes:
        node = f"{dev}/{rel}"
        _mkdir(os.path.dirname(node))
        if not os.path.lexists(node):
            os.close(os.open(node, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
        mount(host, node, None, MS_BIND)


def _remount(target: str, flags: int) -> None:
    """A bind mount's remount with FLAGS; if a user namespace refuses it for changing flags it
    locked (those the mount had from the host's: nosuid, nodev, noexec, atime), again with
    them kept, as runc retries."""
    try:
        mount(None, target, None, flags)
    except PermissionError:
        have = os.statvfs(target).f_flag
        kept = have & (MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048)  # ST_NOATIME, ST_NODIRATIME
        if have & 4096:  # ST_RELATIME
            kept |= 1 << 21
        mount(None, target, None, flags | kept)


def _dev_links(dev: str) -> None:
    for src, dst in (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
                     ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx")):
        if not os.path.lexists(f"{dev}/{dst}"):
            os.symlink(src, f"{dev}/{dst}")


# OCI mount options -> mount(2) flags (set, or cleared by their opposites), as runc reads them
_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
          "sync": 16, "dirsync": 128, "mand": 64, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21,
          "strictatime": 1 << 24, "silent": 1 << 15}
_CLEAR = {"rw": MS_RDONLY, "suid": MS_NOSUID, "dev": MS_NODEV, "exec": MS_NOEXEC, "async": 16, "nomand": 64,
          "atime": 1024, "diratime": 2048, "norelatime": 1 << 21, "nostrictatime": 1 << 24, "loud": 1 << 15}
_PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "slave": MS_SLAVE,
                "rslave": MS_SLAVE | MS_REC, "shared": 1 << 20, "rshared": (1 << 20) | MS_REC,
                "unbindable": 1 << 17, "runbindable": (1 << 17) | MS_REC}


def mount_options(options: list[str]) -> tuple[int, int, bool, str]:
    """(flags, propagation flags, bind, data) of an OCI mount's options: bind/rbind make a bind
    mount (rbind recursive), the rest not known as flags go to the file system as data."""
    flags = prop = 0
    bind = False
    data = []
    for o in options:
        if o in ("bind", "rbind"):
            bind = True
            flags |= MS_BIND | (MS_REC if o == "rbind" else 0)
        elif o in _FLAGS:
            flags |= _FLAGS[o]
        elif o in _CLEAR:
            flags &= ~_CLEAR[o]
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        else:
            data.append(o)
    return flags, prop, bind, ",".join(data)


def _oci_mount(rootfd: int, m: dict, own_cgroup: bool) -> None:
    """One of a bundle's mounts, where runc would make it (core/runtime/bundle.py checked it)."""
    kind = m.get("type") or ""
    flags, prop, bind, data = mount_options(m.get("options") or [])
    dest = m["destination"]
    if kind == "bind" or bind:
        src = m["source"]
        with _target(rootfd, dest, directory=os.path.isdir(src)) as target:
            mount(src, target, None, MS_BIND | (flags & MS_REC))
        rest = flags & ~(MS_BIND | MS_REC)
        if rest:
            with _target(rootfd, dest, make=False) as target:  # the bind mount now there
                _remount(target, MS_BIND | MS_REMOUNT | rest | (flags & MS_REC))
    elif kind == "cgroup":
        with _target(rootfd, dest):
            pass
        _mount_cgroups(rootfd, not flags & MS_RDONLY, dest, own_cgroup, oci=True)
        return
    else:
        with _target(rootfd, dest) as target:
            mount(m.get("source") or kind, target, kind, flags, data or None)
    if prop:
        with _target(rootfd, dest, make=False) as target:
            mount(None, target, None, prop)


def setup_oci_rootfs(spec, before_pivot=None) -> None:
    """An OCI bundle's root (runc's order): the root's propagation, its mounts in the
    bundle's order, the device nodes, masked and read-only paths, pivot_root, and the
    root made read-only if the bundle says so.  SPEC is a RuntimeSpec with oci_mounts;
    BEFORE_PIVOT is called just before pivot_root (the create hooks' turn)."""
    prop = _PROPAGATION.get(spec.rootfs_propagation, MS_SLAVE | MS_REC)
    mount(None, "/", None, prop)
    root = spec.rootfs
    mount(root, root, None, MS_BIND | MS_REC)
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in spec.oci_mounts:
            _oci_mount(rootfd, m, "cgroup" in spec.host_namespaces)
        with _target(rootfd, "/dev") as dev:
            old = os.umask(0)
            try:
                if getattr(spec, "uid_mappings", None) is not None:
                    _bind_devices(dev, spec.devices)
                else:
                    _make_devices(dev, spec.devices)
            finally:
                os.umask(old)
            _dev_links(dev)
        _mask_and_protect(rootfd, spec.masked_paths or (), spec.readonly_paths or ())
    finally:
        os.close(rootfd)
    if before_pivot is not None:
        before_pivot()
    _pivot(root, spec.read_only)


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
                _make_devices(dev)
                _mkdir(f"{dev}/pts")
                mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620,gid=5")
                _mkdir(f"{dev}/shm", 0o1777)
                mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k")
                _mkdir(f"{dev}/mqueue")
                mount("mqueue", f"{dev}/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV)
            finally:
                os.umask(old)
            _dev_links(dev)

        with _target(rootfd, "/sys") as target:
            mount("sysfs", target, "sysfs", (0 if privileged else MS_RDONLY) | MS_NOSUID | MS_NOEXEC | MS_NODEV)
        _mount_cgroups(rootfd, privileged)
        if not privileged:
            _mask_and_protect(rootfd)

        _user_mounts(rootfd, mounts)
        _bind_files(rootfd, binds)
    finally:
        os.close(rootfd)
    _pivot(root, read_only)


def _pivot(root: str, read_only: bool) -> None:
    """ROOT becomes the process's root (the old one detached); READ_ONLY: the root itself,
    not the kernel file systems mounted on it, is remounted read-only (--read-only)."""
    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", MNT_DETACH)
    os.chdir("/")
    if read_only:
        _remount("/", MS_BIND | MS_REMOUNT | MS_RDONLY)


MS_STRICT = 1 << 24  # MS_STRICTATIME, as docker mounts /dev
