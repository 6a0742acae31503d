"""Linux capabilities: docker's default set, --cap-add/--cap-drop, and applying
them (bounding, ambient, capset) as the last step before exec."""
from __future__ import annotations

import ctypes
import os

from ..errors import InvalidParameter
from .linux import libc as _libc, prctl

CAPS = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]
CAP_NUMBER = {name: i for i, name in enumerate(CAPS)}

# docker's (and podman's, less AUDIT_WRITE, MKNOD, NET_RAW, SYS_CHROOT) default: 0xa80425fb
DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522



class CapabilityError(InvalidParameter, ValueError):
    pass


_LAST_CAP: list[int] = []  # (read once; not functools' cache: the init imports this module with little else)


def last_cap() -> int:
    if not _LAST_CAP:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _LAST_CAP.append(int(f.read()))
        except OSError:
            _LAST_CAP.append(len(CAPS) - 1)
    return _LAST_CAP[0]


def normalize(name: str) -> str:
    n = name.strip().upper()
    if n.startswith("CAP_"):
        n = n[4:]
    if n != "ALL" and n not in CAP_NUMBER:
        raise CapabilityError(f'invalid capability: unknown capability: "CAP_{n}"')
    return n


def effective_set(cap_add: list[str] = (), cap_drop: list[str] = (), privileged: bool = False) -> list[str]:
    """The container's capabilities, computed as docker does: defaults, then drops, then adds."""
    known = [c for c in CAPS if CAP_NUMBER[c] <= last_cap()]
    if privileged:
        return known
    add = [normalize(c) for c in cap_add]
    drop = [normalize(c) for c in cap_drop]
    caps = set(DEFAULT_CAPS)
    if "ALL" in drop:
        caps = set()
    caps -= set(drop)
    if "ALL" in add:
        caps = set(known)
    caps |= {c for c in add if c != "ALL"}
    return [c for c in known if c in caps]


def mask(caps: list[str]) -> int:
    m = 0
    for c in caps:
        m |= 1 << CAP_NUMBER[c]
    return m


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def current_permitted() -> int:
    """This process's permitted set: a container can never get more (here, for
    one, CAP_SYS_RESOURCE is missing from the whole session)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return (1 << (last_cap() + 1)) - 1


def drop_bounding(caps: list[str]) -> None:
    """Limit the bounding set to CAPS (needs CAP_SETPCAP) and clear the ambient set."""
    m = mask(caps) & current_permitted()
    for i in range(last_cap() + 1):
        if not m & (1 << i):
            prctl(PR_CAPBSET_DROP, i)
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass  # kernels before 4.3 have no ambient set


def set_caps(caps: list[str]) -> None:
    """Effective and permitted = CAPS, inheritable empty (as docker since CVE-2022-24769)."""
    m = mask(caps) & current_permitted()
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    data[0].effective = data[0].permitted = m & 0xFFFFFFFF
    data[1].effective = data[1].permitted = m >> 32
    if _libc.capset(ctypes.byref(hdr), data) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"capset: {os.strerror(e)}")


def set_cap_sets(sets: dict) -> None:
    """An OCI process's own sets (process.capabilities): effective, permitted and inheritable
    as given (capset), then each ambient one raised, as runc's ApplyCaps does, where the
    permitted and inheritable sets allow it (the kernel refuses it otherwise; runc only warns)."""
    have = current_permitted()
    eff, prm, inh = (mask(sets.get(k) or []) & have for k in ("effective", "permitted", "inheritable"))
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i, shift in ((0, 0), (1, 32)):
        data[i].effective = (eff >> shift) & 0xFFFFFFFF
        data[i].permitted = (prm >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inh >> shift) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(hdr), data) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"capset: {os.strerror(e)}")
    for c in sets.get("ambient") or []:
        n = CAP_NUMBER[c]
        if prm & inh & (1 << n):
            _libc.prctl(ctypes.c_int(PR_CAP_AMBIENT), ctypes.c_ulong(PR_CAP_AMBIENT_RAISE), ctypes.c_ulong(n),
                        ctypes.c_ulong(0), ctypes.c_ulong(0))


def apply(caps: list[str]) -> None:
    """Limit this process (and what it execs as root) to CAPS."""
    drop_bounding(caps)
    set_caps(caps)
