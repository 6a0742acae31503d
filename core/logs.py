"""Container logs: msgpack records [time_ns, stream, bytes] in containers/<id>/log.

With a size limit (--log-opt max-size=10m, max-file=3, as docker's json-file
driver), the writer rotates: log -> log.1 -> log.2 ..., keeping MAX_FILE files
in all.  Readers read the rotated files oldest first, and a follower that sees
the file replaced under it finishes the old one before going on with the new."""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator, Optional

import msgpack

STDOUT, STDERR = "stdout", "stderr"


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


def log_files(path: str) -> list[str]:
    """The rotated files, oldest first, then the live one."""
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return list(reversed(rotated)) + [path]


def read_logs(path: str, follow: bool = False, alive: Callable[[], bool] = lambda: False,
              poll: float = 0.05, idle: Callable[[], None] | None = None) -> Iterator[tuple[int, str, bytes]]:
    """Yield log records; with FOLLOW keep going while ALIVE() says the writer lives."""
    for old in log_files(path)[:-1]:
        try:
            with open(old, "rb") as f:
                up = msgpack.Unpacker(f, raw=False)
                for rec in up:
                    yield rec[0], rec[1], rec[2]
        except FileNotFoundError:
            continue  # rotated away while we read: its records moved on
    up = msgpack.Unpacker(raw=False)
    f: Optional[object] = None
    ino = None

    def reopen() -> None:
        nonlocal f, ino
        try:
            nf = open(path, "rb")
        except FileNotFoundError:
            return
        if f is not None:
            f.close()
        f, ino = nf, os.fstat(nf.fileno()).st_ino

    def drain() -> bool:
        if f is None:
            reopen()
            if f is None:
                return False
        data = f.read()
        up.feed(data)
        return bool(data)

    try:
        while True:
            got = drain()
            for rec in up:
                yield rec[0], rec[1], rec[2]
            if not follow:
                return
            try:
                replaced = f is None or os.stat(path).st_ino != ino
            except FileNotFoundError:
                replaced = True
            if replaced and not got:
                # the writer rotated: what was left in the old file is read; go on with the new one
                reopen()
                continue
            if not got:
                if not alive():
                    drain()  # one last read: the writer may have written as it exited
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
