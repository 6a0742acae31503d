"""Container logs: msgpack records [time_ns, stream, bytes] in containers/<id>/log.

The log is bounded as docker's ``local`` driver bounds its own: unless the
container was made with other --log-opt values, the writer rotates at
MAX_SIZE (20 MiB) keeping MAX_FILE (5) files, log -> log.1 -> log.2 ...
(docker's ``local`` also compresses the rotated files; these are not).
Readers read the rotated files oldest first, in chunks of CHUNK bytes, so a
log of any size is read in bounded memory, and a follower that sees the file
replaced under it finishes the old one before going on with the new; it ends
once the writer is gone, or the container with its log (removed under it).
``tail_lines`` finds the last lines without holding what comes before them."""
from __future__ import annotations

import collections
import os
import time
from typing import Callable, Iterator, Optional

import msgpack

STDOUT, STDERR = "stdout", "stderr"
MAX_SIZE = 20 << 20
MAX_FILE = 5
CHUNK = 1 << 20


class LogWriter:
    def __init__(self, path: str, max_size: int = 0, max_file: int = 1):
        self.path, self.max_size, self.max_file = path, max_size, max(1, max_file)
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, stream: str, data: bytes) -> None:
        rec = msgpack.packb([time.time_ns(), stream, data], use_bin_type=True)
        if self.max_size and self.size and self.size + len(rec) > self.max_size:
            self.rotate()
        os.write(self.fd, rec)  # one write() per record: readers never see half of one
        self.size += len(rec)

    def rotate(self) -> None:
        os.close(self.fd)
        if self.max_file <= 1:
            os.unlink(self.path)
        else:
            for i in range(self.max_file - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i}")
        self.fd = self._open()
        self.size = 0

    def close(self) -> None:
        os.close(self.fd)


class LineJoiner:
    """Log records -> lines. The shim writes what each read of the pipe gave, so one line
    can be split between two records: the piece without its newline is held, per stream,
    until the rest comes, or until flush() finds it old enough to be a prompt that will
    not be finished. Lines are bytes without their newline."""

    def __init__(self):
        self._held: dict[str, tuple[int, bytes]] = {}

    def feed(self, t: int, stream: str, data: bytes) -> list[tuple[int, str, bytes]]:
        pieces = data.split(b"\n")
        held = self._held.pop(stream, None)
        if held is not None:
            pieces[0] = held[1] + pieces[0]
        tail = pieces.pop()
        out = []
        if pieces:  # a line keeps the time its first piece was written
            out.append((held[0] if held is not None else t, stream, pieces[0]))
            out.extend((t, stream, p) for p in pieces[1:])
        if tail:
            self._held[stream] = (held[0] if held is not None and not pieces else t, tail)
        return out

    def flush(self, older_than_ns: int = 0) -> list[tuple[int, str, bytes]]:
        """The held pieces written at least OLDER_THAN_NS ago (all of them with 0), as lines."""
        now = time.time_ns()
        out = [(t, stream, text) for stream, (t, text) in self._held.items() if now - t >= older_than_ns]
        for _, stream, _ in out:
            del self._held[stream]
        return out


PROMPT_NS = 1_000_000_000  # a piece without its newline held this long is shown as it is


def log_files(path: str) -> list[str]:
    """The rotated files, oldest first, then the live one."""
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return list(reversed(rotated)) + [path]


def _records(path: str, offset: int = 0) -> Iterator[tuple[int, list]]:
    """(offset, record) of each whole record of file PATH from OFFSET on, read CHUNK at a time."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return  # rotated away meanwhile: its records moved on
    with f:
        f.seek(offset)
        up = msgpack.Unpacker(raw=False)
        pos = offset
        while True:
            data = f.read(CHUNK)
            if not data:
                return
            up.feed(data)
            for rec in up:
                yield pos, rec
                pos = offset + up.tell()


def tail_lines(path: str, n: int) -> tuple[list[tuple[int, str, bytes]], int]:
    """The last N lines of the log (a piece without its newline last, as it is, as
    LineJoiner gives them) and how many records there were.  One pass finds where the
    earliest of those lines starts, keeping N positions; a second reads from there."""
    files = log_files(path)
    count = 0
    starts: collections.deque = collections.deque(maxlen=max(n, 0))  # of the last N completed lines
    partial: dict[str, tuple] = {}  # stream -> where its unfinished line starts
    for fi, name in enumerate(files):
        for off, (_, stream, data) in _records(name):
            here = (fi, off, count)
            count += 1
            if not data:
                continue
            nl = data.count(b"\n")
            if nl:
                starts.append(partial.pop(stream, here))
                starts.extend([here] * min(nl - 1, starts.maxlen or 0))
                if not data.endswith(b"\n"):
                    partial[stream] = here
            else:
                partial.setdefault(stream, here)
    if n <= 0:
        return [], count
    keep = list(starts)[max(len(starts) - max(n - len(partial), 0), 0):] + list(partial.values())
    if not keep:
        return [], count
    fi, off, idx = min(keep)
    joiner = LineJoiner()
    lines: collections.deque = collections.deque(maxlen=n)
    for name in files[fi:]:
        for _, (t, stream, data) in _records(name, off):
            if idx >= count:
                break
            idx += 1
            lines.extend((t0, s0, line + b"\n") for t0, s0, line in joiner.feed(t, stream, data))
        off = 0
    lines.extend(joiner.flush())
    return list(lines), count


def container_logs(c, follow: bool = False, stop=None) -> Iterator[tuple[int, str, bytes]]:
    """The log records of C (a containers.Container); with FOLLOW, new ones as they come,
    until the container's shim is gone or STOP() says so."""

    def alive() -> bool:
        if stop is not None and stop():
            return False
        try:
            c.reload()
        except FileNotFoundError:
            return False  # removed (docker rm), its log with it: nothing more will come
        return c.status in ("running", "paused", "restarting") or bool(c.shim_alive())

    def idle() -> None:
        # the writer is the shim: look again after 50 ms, or the moment it exits (pidfd)
        if c.shim_alive():
            c.wait_shim(0.05)
        else:  # no shim to wait on (one that died: the next look repairs the state)
            time.sleep(0.05)

    return read_logs(str(c.log_path), follow=follow, alive=alive, idle=idle)


def details_prefix(config: dict) -> bytes:
    """docker logs --details' prefix of each line of a container (its CONFIG): the extra
    attributes its --log-opt labels=, labels-regex=, env=, env-regex= name (daemon/logger's
    ExtraAttributes), key=value query-escaped, by key, joined by commas, then a space."""
    import re
    from urllib.parse import quote_plus
    opts = ((config.get("HostConfig") or {}).get("LogConfig") or {}).get("Attrs") or {}
    conf = config.get("Config") or {}
    labels = conf.get("Labels") or {}
    env = dict(e.split("=", 1) for e in conf.get("Env") or [] if "=" in e)
    extra: dict[str, str] = {}
    for k in (opts.get("labels") or "").split(","):
        if k in labels:
            extra[k] = labels[k]
    if opts.get("labels-regex"):
        extra.update({k: v for k, v in labels.items() if re.search(opts["labels-regex"], k)})
    for k in (opts.get("env") or "").split(","):
        if k in env:
            extra[k] = env[k]
    if opts.get("env-regex"):
        extra.update({k: v for k, v in env.items() if re.search(opts["env-regex"], k)})
    return ",".join(f"{quote_plus(k, safe='~')}={quote_plus(v, safe='~')}"
                    for k, v in sorted(extra.items())).encode() + b" "


def read_logs(path: str, follow: bool = False, alive: Callable[[], bool] = lambda: False,
              poll: float = 0.05, idle: Callable[[], None] | None = None) -> Iterator[tuple[int, str, bytes]]:
    """Yield log records; with FOLLOW keep going while ALIVE() says the writer lives."""
    for old in log_files(path)[:-1]:
        for _, rec in _records(old):
            yield rec[0], rec[1], rec[2]
    up = msgpack.Unpacker(raw=False)
    f: Optional[object] = None
    ino = None

    def reopen() -> bool:
        nonlocal f, ino
        try:
            nf = open(path, "rb")
        except FileNotFoundError:
            return False
        if f is not None:
            f.close()
        f, ino = nf, os.fstat(nf.fileno()).st_ino
        return True

    def drain() -> bool:
        if f is None:
            reopen()
            if f is None:
                return False
        data = f.read(CHUNK)
        up.feed(data)
        return bool(data)

    try:
        while True:
            got = drain()
            for rec in up:
                yield rec[0], rec[1], rec[2]
            if got:
                continue  # read on to the end before looking at anything else
            if not follow:
                return
            try:
                replaced = f is None or os.stat(path).st_ino != ino
            except FileNotFoundError:
                replaced = True
            if replaced:
                # the writer rotated: its last records went into the old file before the
                # rename, so they are read first; then on with the new file
                if f is not None and drain():
                    continue
                if reopen():
                    continue
                # no file there: one being rotated in, or none ever again (the container
                # was removed with its log): which one, alive() says
            if not alive():
                while drain():  # one last read: the writer may have written as it exited
                    for rec in up:
                        yield rec[0], rec[1], rec[2]
                return
            if idle is not None:
                idle()
            else:
                time.sleep(poll)
    finally:
        if f is not None:
            f.close()
