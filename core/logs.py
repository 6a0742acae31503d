"""Container logs: msgpack records (time_ns, stream, bytes) in containers/<id>/log."""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import msgpack

STDOUT, STDERR = "stdout", "stderr"


class LogWriter:
    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, stream: str, data: bytes) -> None:
        os.write(self.fd, msgpack.packb([time.time_ns(), stream, data], use_bin_type=True))

    def close(self) -> None:
        os.close(self.fd)


def read_logs(path: str, follow: bool = False, alive: Callable[[], bool] = lambda: False,
              poll: float = 0.05, idle: Callable[[], None] | None = None) -> Iterator[tuple[int, str, bytes]]:
    """Yield log records; with FOLLOW keep going while ALIVE() says the writer lives."""
    up = msgpack.Unpacker(raw=False)
    pos = 0

    def drain() -> bool:
        nonlocal pos
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        pos += len(data)
        up.feed(data)
        return bool(data)

    while True:
        got = drain()
        for rec in up:
            yield rec[0], rec[1], rec[2]
        if not follow:
            return
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
