"""Attaching to a container's standard streams through its shim.

The shim listens on attach.sock in the container's run directory, which is its
own and 0700: not on an abstract address, which belongs to the network namespace
(a --network host container could reach it, as with containerd's CVE-2020-15257)
and which anyone may bind first.  Unix socket paths are limited to 108 bytes and a
run directory's path can be longer, so both ends name the socket through a
descriptor of that directory (/proc/self/fd/N/attach.sock).  The shim also
accepts only peers running as its own user (SO_PEERCRED).  Frames both ways are a type byte,
a 4-byte big-endian length and the payload.  Shim -> client: STDOUT, STDERR,
EXIT (payload: the exit code).  Client -> shim: STDIN, RESIZE (rows, cols as
two 16-bit numbers), STDIN_EOF.  The client detaches on ctrl-p ctrl-q, as with
docker; the container goes on."""
from __future__ import annotations

import fcntl
import os
import selectors
import signal
import socket
import struct
import sys
import termios
import tty as _tty

STDIN, STDOUT, STDERR, EXIT, RESIZE, STDIN_EOF = 0, 1, 2, 3, 4, 5
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def frame(kind: int, data: bytes = b"") -> bytes:
    return struct.pack(">BI", kind, len(data)) + data


class Reader:
    """Splits a byte stream into frames."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 5:
            kind, n = struct.unpack(">BI", self.buf[:5])
            if len(self.buf) < 5 + n:
                break
            out.append((kind, self.buf[5:5 + n]))
            self.buf = self.buf[5 + n:]
        return out


SOCKET = "attach.sock"


def address(store, cid: str) -> str:
    """The path of CID's attach socket in STORE."""
    return str(store.run_dir(cid) / SOCKET)


def _via_dir(path: str, flags: int = os.O_PATH) -> tuple[int, str]:
    """A descriptor of PATH's directory, and PATH named through it (short enough
    for a unix socket address whatever the directory's path)."""
    d, name = os.path.split(path)
    fd = os.open(d or ".", flags | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd, f"/proc/self/fd/{fd}/{name}"


def listen(store, cid: str) -> socket.socket:
    """The shim's listening socket.  The run directory must be ours: it is made
    0700 so that only our user reaches the socket; a stale socket (a shim killed
    earlier) is replaced."""
    path = address(store, cid)
    fd, short = _via_dir(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            raise PermissionError(f"{os.path.dirname(path)} is not owned by us")
        os.fchmod(fd, 0o700)
        try:
            os.unlink(SOCKET, dir_fd=fd)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.bind(short)
            os.chmod(SOCKET, 0o600, dir_fd=fd)
            s.listen(8)
        except BaseException:
            s.close()
            raise
        return s
    finally:
        os.close(fd)


def peer_uid(s: socket.socket) -> int:
    pid, uid, gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def connect(path: str, timeout: float = 10.0) -> socket.socket:
    import time
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        fd = -1
        try:
            fd, short = _via_dir(path)
            s.connect(short)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.01)
        except BaseException:
            s.close()
            raise
        finally:
            if fd >= 0:
                os.close(fd)


def run_client(sock: socket.socket, interactive: bool, tty: bool) -> tuple[str, int | None]:
    """Relay between our terminal and the container.  Returns ("exit", code),
    ("detached", None) or ("closed", None)."""
    stdin_tty = interactive and tty and os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def winch(*_):
        if tty and os.isatty(0):
            try:
                rows, cols = struct.unpack("hhhh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
                sock.sendall(frame(RESIZE, struct.pack(">HH", rows, cols)))
            except OSError:
                pass

    old = signal.signal(signal.SIGWINCH, winch) if tty else None
    winch()
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    if interactive:
        sel.register(0, selectors.EVENT_READ)
    rd = Reader()
    pending_ctrl_p = False
    try:
        if stdin_tty:
            _tty.setraw(0)
        while True:
            for key, _ in sel.select():
                if key.fileobj is sock:
                    data = sock.recv(65536)
                    if not data:
                        return "closed", None
                    for kind, payload in rd.feed(data):
                        if kind == EXIT:
                            return "exit", int(payload or b"0")
                        (sys.stdout.buffer if kind == STDOUT else sys.stderr.buffer).write(payload)
                    sys.stdout.buffer.flush()
                    sys.stderr.buffer.flush()
                else:
                    data = os.read(0, 65536)
                    if not data:
                        sel.unregister(0)
                        sock.sendall(frame(STDIN_EOF))
                        continue
                    if tty:
                        if pending_ctrl_p and data[:1] == b"\x11":
                            return "detached", None
                        if DETACH_KEYS in data:
                            return "detached", None
                        pending_ctrl_p = data.endswith(b"\x10")
                    sock.sendall(frame(STDIN, data))
    finally:
        sel.close()
        if old is not None:
            signal.signal(signal.SIGWINCH, old)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
