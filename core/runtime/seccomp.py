"""Seccomp: docker-format profiles compiled to a filter by libseccomp (pyseccomp).

The default profile (seccomp_default.json) blocks what docker's documentation
says its default profile blocks, gated by the same capabilities.
`--security-opt seccomp=unconfined` turns filtering off, `seccomp=FILE` loads
a docker-format profile.  The filter is loaded in the container's PID 1 just
before capabilities are dropped (loading needs CAP_SYS_ADMIN or
no_new_privs), and is inherited by everything it execs."""
from __future__ import annotations

import errno
import os

from ..errors import InvalidParameter

# (json and pathlib are imported where a profile is read: dunnage-runtime's container init
# imports this module to load a filter compiled for it, and nothing else of it)
DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "seccomp_default.json")


def preload():
    """Import pyseccomp (and so load libseccomp) now: after pivot_root the host's libraries
    are out of reach. pyseccomp finds its libraries with ctypes.util.find_library, which runs
    `ldconfig -p` twice (25 ms of every `run`): the usual sonames are tried first, and the
    slow search only when they do not load."""
    import sys
    if "pyseccomp" in sys.modules:
        return sys.modules["pyseccomp"]
    import ctypes
    import ctypes.util
    slow = ctypes.util.find_library
    sonames = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}

    def quick(name):
        so = sonames.get(name)
        if so:
            try:
                ctypes.CDLL(so)
                return so
            except OSError:
                pass
        return slow(name)
    ctypes.util.find_library = quick
    try:
        import pyseccomp
    finally:
        ctypes.util.find_library = slow
    return pyseccomp


class SeccompError(InvalidParameter, ValueError):
    pass


def load_profile(opt: str | None) -> dict | None:
    """The profile for a --security-opt seccomp= value (None: the default; 'unconfined': no filter)."""
    import json
    from pathlib import Path
    if opt == "unconfined":
        return None
    path = Path(opt or DEFAULT_PROFILE)
    try:
        prof = json.loads(path.read_text())
    except OSError as e:
        raise SeccompError(f"opening seccomp profile ({path}) failed: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise SeccompError(f"decoding seccomp profile ({path}) failed: {e}") from None
    if not isinstance(prof, dict) or "defaultAction" not in prof:
        raise SeccompError(f"seccomp profile {path} has no defaultAction")
    _action(prof["defaultAction"], prof.get("defaultErrnoRet"))  # validate early
    for r in prof.get("syscalls") or []:
        _action(r.get("action", ""), r.get("errnoRet"))
    return prof


def _action(name: str, errno_ret: int | None = None) -> int:
    sc = preload()
    acts = {"SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_KILL": sc.KILL, "SCMP_ACT_KILL_THREAD": sc.KILL,
            "SCMP_ACT_KILL_PROCESS": getattr(sc, "KILL_PROCESS", sc.KILL), "SCMP_ACT_TRAP": sc.TRAP,
            "SCMP_ACT_LOG": getattr(sc, "LOG", sc.ALLOW)}
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(errno.EPERM if errno_ret is None else int(errno_ret))
    if name in acts:
        return acts[name]
    raise SeccompError(f"seccomp profile: unknown action {name!r}")


def _ops():
    sc = preload()
    return {"SCMP_CMP_EQ": sc.EQ, "SCMP_CMP_NE": sc.NE, "SCMP_CMP_LT": sc.LT, "SCMP_CMP_LE": sc.LE,
            "SCMP_CMP_GT": sc.GT, "SCMP_CMP_GE": sc.GE, "SCMP_CMP_MASKED_EQ": sc.MASKED_EQ}


def _applies(rule: dict, caps: set[str]) -> bool:
    inc = set((rule.get("includes") or {}).get("caps") or [])
    exc = set((rule.get("excludes") or {}).get("caps") or [])
    if inc and not inc <= caps:
        return False
    if exc and exc & caps:
        return False
    arches = (rule.get("includes") or {}).get("arches")
    if arches:
        names = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
        if os.uname().machine not in {names.get(a.replace("SCMP_ARCH_", "").lower(), a) for a in arches}:
            return False
    return True


# what a container's config says for docker's default profile (seccomp_default.json)
DEFAULT = "default"
# docker's default profile compiled for a set of capabilities: {caps: BPF program},
# filled by precompile() in the fork server, so containers forked from it load the
# common filter ready-made (compiling it cold took 2 ms of every start)
_DEFAULT: dict | None = None
_COMPILED: dict[tuple[str, ...], bytes] = {}


def default_profile() -> dict:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_profile(None)
    return _DEFAULT


def for_spec(profile: dict | str | None) -> dict | str | None:
    """A config's Seccomp for a process spec: with DEFAULT, the default profile is read
    now, while its file is in reach (install runs after pivot_root or setns)."""
    if profile == DEFAULT:
        default_profile()
    return profile


def precompile(caps: list[str]) -> None:
    """Compile the default profile for CAPS now, kept for install()."""
    _COMPILED[tuple(sorted(caps))] = compile_bpf(default_profile(), caps)


def compile_bpf(profile: dict | str, caps: list[str]) -> bytes:
    """PROFILE (or DEFAULT) compiled for a container holding CAPS: the BPF program install()
    loads as it is (dunnage-runtime's warm server compiles a bundle's filter for the init)."""
    if profile == DEFAULT:
        profile = default_profile()
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        with open(os.dup(fd), "wb") as f:
            _compile(profile, caps).export_bpf(f)
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)


def _load_bpf(program: bytes) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER) of a compiled PROGRAM (sock_filter records), as
    libseccomp loads it: no flags, and no_new_privs left alone (CAP_SYS_ADMIN is ours)."""
    import ctypes
    from .linux import libc

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buf = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.addressof(buf))
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    if libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"loading the seccomp filter: {os.strerror(e)}")


def install(profile: dict | str | bytes, caps: list[str]) -> None:
    """Compile PROFILE (a docker-format profile, or DEFAULT) for a container holding
    CAPS and load it into this process; a PROFILE of bytes is compile_bpf's program."""
    if isinstance(profile, bytes):
        _load_bpf(profile)
        return
    if profile == DEFAULT:  # (a config written before DEFAULT holds the profile: compiled as any other)
        program = _COMPILED.get(tuple(sorted(caps)))
        if program is not None:
            _load_bpf(program)
            return
        profile = default_profile()
    _compile(profile, caps).load()


def _compile(profile: dict, caps: list[str]):
    """PROFILE as a libseccomp filter for a container holding CAPS."""
    sc = preload()
    have = {f"CAP_{c}" for c in caps}
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    f = sc.SyscallFilter(default)
    # libseccomp sets no_new_privs on load unless told not to: we still hold
    # CAP_SYS_ADMIN, and docker leaves no_new_privs off unless asked
    f.set_attr(sc.Attr.CTL_NNP, 0)
    ops = _ops()
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, have):
            continue
        act = _action(rule["action"], rule.get("errnoRet"))
        if act == default:
            continue
        args = []
        for a in rule.get("args") or []:
            if a["op"] == "SCMP_CMP_MASKED_EQ":
                args.append(sc.Arg(a["index"], ops[a["op"]], a["value"], a.get("valueTwo", 0)))
            else:
                args.append(sc.Arg(a["index"], ops[a["op"]], a["value"]))
        for name in rule.get("names") or []:
            try:
                f.add_rule(act, name, *args)
            except (OSError, RuntimeError, ValueError):
                continue  # a syscall this architecture or libseccomp does not know
    return f
