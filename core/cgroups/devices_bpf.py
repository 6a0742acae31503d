"""cgroup v2 device access control: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE.

cgroup v2 has no devices controller; the kernel asks a program attached to the group instead,
once per open or mknod of a device node. The program is built here from docker's rules ("c 1:3
rwm", "b *:* m"), the way runc's devicefilter builds it: read the request (type, access, major,
minor), try each allow rule in turn, deny when none matches. It is loaded and attached with the
bpf(2) system call through ctypes; the cgroup holds it, so it lives exactly as long as the group.
"""
from __future__ import annotations

import ctypes
import os
import struct

from .common import CgroupError

# bpf(2) commands, program and attach types (include/uapi/linux/bpf.h)
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH, BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 5, 8, 9, 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
# struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major; u32 minor; }
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280}

# opcodes used below
_LDXW = 0x61      # dst = *(u32 *)(src + off)
_AND32_K = 0x54   # dst &= imm (32-bit)
_RSH32_K = 0x74   # dst >>= imm (32-bit)
_MOV32_X = 0xbc   # dst = src (32-bit)
_MOV64_K = 0xb7   # dst = imm
_JNE_K = 0x55     # if dst != imm: pc += off
_JNE_X = 0x5d     # if dst != src: pc += off
_EXIT = 0x95


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def parse_rule(rule: str) -> tuple[int, int, int, int]:
    """'c 1:3 rwm' -> (type, major, minor, access); type 0 = any ('a'), major/minor -1 = '*'."""
    parts = rule.split()
    if len(parts) == 1 and parts[0] == "a":
        return 0, -1, -1, ACC_MKNOD | ACC_READ | ACC_WRITE
    try:
        kind, numbers, access = parts
        ma, mi = numbers.split(":")
        t = {"a": 0, "c": DEV_CHAR, "b": DEV_BLOCK}[kind]
        acc = 0
        for ch in access:
            acc |= {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}[ch]
        return t, (-1 if ma == "*" else int(ma)), (-1 if mi == "*" else int(mi)), acc
    except (ValueError, KeyError):
        raise CgroupError(f"invalid device rule {rule!r}: want TYPE MAJOR:MINOR ACCESS, as 'c 1:3 rwm'") from None


def program(rules: list[str]) -> bytes:
    """The eBPF instructions allowing exactly what the rules allow; everything else is denied."""
    out = [
        _insn(_LDXW, dst=2, src=1, off=0), _insn(_AND32_K, dst=2, imm=0xFFFF),   # r2 = type
        _insn(_LDXW, dst=3, src=1, off=0), _insn(_RSH32_K, dst=3, imm=16),       # r3 = access requested
        _insn(_LDXW, dst=4, src=1, off=4),                                         # r4 = major
        _insn(_LDXW, dst=5, src=1, off=8),                                         # r5 = minor
    ]
    for rule in rules:
        t, ma, mi, acc = parse_rule(rule)
        checks: list[tuple[int, ...]] = []  # each ends with a jump to the next rule
        if t:
            checks.append((_JNE_K, 2, 0, t))
        if acc != ACC_MKNOD | ACC_READ | ACC_WRITE:
            # every bit requested must be allowed: (requested & allowed) == requested
            checks += [(_MOV32_X, 1, 3, None), (_AND32_K, 1, 0, acc), (_JNE_X, 1, 3, 0)]
        if ma >= 0:
            checks.append((_JNE_K, 4, 0, ma))
        if mi >= 0:
            checks.append((_JNE_K, 5, 0, mi))
        block_len = len(checks) + 2  # the checks, then r0 = 1 and exit
        for i, (code, dst, src, imm) in enumerate(checks):
            if code in (_JNE_K, _JNE_X):
                out.append(_insn(code, dst=dst, src=src, off=block_len - i - 1, imm=imm))
            else:
                out.append(_insn(code, dst=dst, src=src, imm=imm or 0))
        out += [_insn(_MOV64_K, dst=0, imm=1), _insn(_EXIT)]
    out += [_insn(_MOV64_K, dst=0, imm=0), _insn(_EXIT)]
    return b"".join(out)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytearray) -> int:
    machine = os.uname().machine
    nr = _SYS_BPF.get(machine)
    if nr is None:
        raise CgroupError(f"device control on cgroup v2: bpf(2) number unknown for {machine}")
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    r = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def _load(insns: bytes) -> int:
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(65536)
    attr = bytearray(128)
    struct.pack_into("<IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                     ctypes.addressof(code), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
    attr[48:48 + 15] = b"dunnage_devices"
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()
        raise CgroupError(f"device control on cgroup v2: the kernel refused the eBPF program: {e.strerror}"
                          + (f" ({detail[-1]})" if detail else "")) from None


def attached(cgroup_dir: str) -> list[int]:
    """Ids of the device programs attached to a cgroup directory."""
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ids = (ctypes.c_uint32 * 64)()
        attr = bytearray(128)
        struct.pack_into("<IIIIQI", attr, 0, fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 64)
        _bpf(BPF_PROG_QUERY, attr)
        return list(ids[:struct.unpack_from("<I", attr, 24)[0]])
    finally:
        os.close(fd)


def apply(cgroup_dir: str, rules: list[str]) -> None:
    """Attach a program allowing exactly `rules` to the group, replacing any device program dunnage
    attached before (attach the new one first, so there is never a moment without a filter)."""
    old = attached(cgroup_dir)
    prog = _load(program(rules))
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        attr = bytearray(32)
        struct.pack_into("<IIII", attr, 0, fd, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        try:
            _bpf(BPF_PROG_ATTACH, attr)
        except OSError as e:
            raise CgroupError(f"device control on cgroup v2: attaching the eBPF program failed: {e.strerror}") from None
        for pid in old:
            attr = bytearray(16)
            struct.pack_into("<I", attr, 0, pid)
            try:
                old_fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr)
            except OSError:
                continue  # gone meanwhile
            try:
                attr = bytearray(32)
                struct.pack_into("<III", attr, 0, fd, old_fd, BPF_CGROUP_DEVICE)
                _bpf(BPF_PROG_DETACH, attr)
            finally:
                os.close(old_fd)
    finally:
        os.close(fd)
        os.close(prog)
