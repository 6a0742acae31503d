"""The container's root: /proc, a minimal /dev, read-only /sys, then pivot_root.

Runs inside the container's fresh mount namespace, before exec."""
from __future__ import annotations

import os
import stat

from .linux import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY,
                    MS_REC, MS_REMOUNT, mount, pivot_root, umount2)

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


def _mask_and_protect(j) -> None:
    for p in MASKED_PATHS:
        target = j(p)
        if os.path.islink(target) or not os.path.exists(target):
            continue
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
        else:
            mount("/dev/null", target, None, MS_BIND)
    for p in READONLY_PATHS:
        target = j(p)
        if os.path.islink(target) or not os.path.exists(target):
            continue
        mount(target, target, None, MS_BIND | MS_REC)
        mount(target, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def resolve_in_root(root: str, path: str, follow_last: bool = False, _depth: int = 0) -> str:
    """PATH inside the container ROOT, symlinks resolved as the container would
    (never leading outside ROOT); the last component too with FOLLOW_LAST."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    cur = root
    for i, part in enumerate(parts):
        if part == "..":
            cur = os.path.dirname(cur) if cur != root else root
            continue
        nxt = os.path.join(cur, part)
        if os.path.islink(nxt) and (i < len(parts) - 1 or follow_last) and _depth < 40:
            link = os.readlink(nxt)
            rest = "/".join(parts[i + 1:])
            base = "" if link.startswith("/") else os.path.relpath(cur, root)
            return resolve_in_root(root, f"{base}/{link}/{rest}", follow_last, _depth + 1)
        cur = nxt
    return cur


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


def _mount_cgroups(target: str, privileged: bool) -> None:
    """/sys/fs/cgroup as docker shows it: the container's own groups (the
    cgroup namespace makes them the roots), read-only unless privileged."""
    if not os.path.isdir(target):
        return
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (0 if privileged else MS_RDONLY)
    hier = _cgroup_hierarchies()
    if any(mp == "/sys/fs/cgroup" and t == "cgroup2" for mp, t, _ in hier):  # a v2 host
        mount("cgroup2", target, "cgroup2", flags)
        return
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k")
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


def _user_mounts(root: str, mounts: list[dict]) -> None:
    """Volumes, binds and tmpfs (docker's -v, --mount, --tmpfs), shortest target first."""
    for m in sorted(mounts, key=lambda m: m["Target"].count("/")):
        target = resolve_in_root(root, m["Target"], follow_last=True)
        flags = MS_NOSUID | MS_NODEV
        if m["Type"] == "tmpfs":
            _mkdir(target)
            opts = [o for o in m.get("Options") or [] if "=" in o]
            for o in m.get("Options") or []:
                flags |= {"noexec": MS_NOEXEC}.get(o, 0)
            if "exec" not in (m.get("Options") or []):
                flags |= MS_NOEXEC
            if "suid" in (m.get("Options") or []):
                flags &= ~MS_NOSUID
            if "dev" in (m.get("Options") or []):
                flags &= ~MS_NODEV
            mount("tmpfs", target, "tmpfs", flags | (MS_RDONLY if m.get("ReadOnly") else 0), ",".join(opts) or None)
            continue
        src = m["Source"]
        if os.path.isdir(src):
            _mkdir(target)
        elif not os.path.lexists(target):
            _mkdir(os.path.dirname(target))
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        mount(src, target, None, MS_BIND | MS_REC)
        if m.get("ReadOnly"):
            mount(src, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)


def setup_rootfs(root: str, binds: list[tuple[str, str]] = (), privileged: bool = False,
                 read_only: bool = False, mounts: list[dict] = ()) -> None:
    """Mount the kernel file systems under ROOT (an existing mount point) and
    make it the process's root with pivot_root.  BINDS are (host file, path in
    container) pairs bound read-write (hosts, hostname, resolv.conf); MOUNTS
    the user's volumes, binds and tmpfs."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # make ROOT a mount of its own in this namespace (pivot_root wants one)
    mount(root, root, None, MS_BIND | MS_REC)
    j = lambda p: os.path.join(root, p.lstrip("/"))  # noqa: E731

    _mkdir(j("/proc"))
    mount("proc", j("/proc"), "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV)

    _mkdir(j("/dev"))
    mount("tmpfs", j("/dev"), "tmpfs", MS_NOSUID | MS_STRICT, "mode=755,size=65536k")
    old = os.umask(0)
    try:
        for name, (ma, mi, mode) in DEVICES.items():
            os.mknod(j(f"/dev/{name}"), stat.S_IFCHR | mode, os.makedev(ma, mi))
        _mkdir(j("/dev/pts"))
        mount("devpts", j("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5")
        os.symlink("pts/ptmx", j("/dev/ptmx"))
        _mkdir(j("/dev/shm"), 0o1777)
        mount("shm", j("/dev/shm"), "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k")
        _mkdir(j("/dev/mqueue"))
        mount("mqueue", j("/dev/mqueue"), "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV)
    finally:
        os.umask(old)
    for src, dst in (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
                     ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")):
        os.symlink(src, j(f"/dev/{dst}"))

    _mkdir(j("/sys"))
    mount("sysfs", j("/sys"), "sysfs", (0 if privileged else MS_RDONLY) | MS_NOSUID | MS_NOEXEC | MS_NODEV)
    _mount_cgroups(j("/sys/fs/cgroup"), privileged)
    if not privileged:
        _mask_and_protect(j)

    _user_mounts(root, mounts)

    for src, dst in binds:
        target = j(dst)
        if not os.path.lexists(target):
            _mkdir(os.path.dirname(target))
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        elif os.path.islink(target):
            continue  # never follow a link out of the root
        mount(src, target, None, MS_BIND)

    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", MNT_DETACH)
    os.chdir("/")
    if read_only:
        # --read-only: the root itself, not the kernel file systems mounted on it
        mount("/", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY)


MS_STRICT = 1 << 24  # MS_STRICTATIME, as docker mounts /dev
