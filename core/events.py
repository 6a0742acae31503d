"""The events log: one msgpack record per lifecycle event, appended atomically.

Fronts follow it to refresh at once when another front changes something."""
from __future__ import annotations

import os
import time
from typing import Iterator, Optional

import msgpack

from .store import Store, pack


def emit(store: Store, type_: str, action: str, id_: str, attrs: Optional[dict] = None) -> None:
    rec = {"time_ns": time.time_ns(), "Type": type_, "Action": action, "id": id_, "Attributes": attrs or {}}
    fd = os.open(store.events_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)  # root's alone
    try:
        os.write(fd, pack(rec))  # one write() with O_APPEND: records never interleave
    finally:
        os.close(fd)


def read(store: Store, offset: int = 0) -> tuple[list[dict], int]:
    """Records from byte OFFSET on, and the offset after the last whole record."""
    try:
        with open(store.events_log, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    up = msgpack.Unpacker(raw=False)
    up.feed(data)
    out = []
    consumed = 0
    for rec in up:
        out.append(rec)
        consumed = up.tell()
    return out, offset + consumed


def follow(store: Store, since_ns: int = 0, poll: float = 0.2) -> Iterator[dict]:
    off = 0
    while True:
        recs, off = read(store, off)
        for r in recs:
            if r["time_ns"] >= since_ns:
                yield r
        time.sleep(poll)
