"""What a handler returns besides a JSON document: a status with a body, a chunked
stream, or the hijacked connection (kept apart from the server, which imports the
handlers through the router)."""
from __future__ import annotations

import json
import queue
import threading
from typing import Callable, Iterable, Optional


class Response:
    def __init__(self, status: int = 200, body=None, headers: Optional[dict] = None):
        self.status, self.body, self.headers = status, body, headers or {}


class Stream:
    """A chunked body: ITEMS are bytes, sent as they come."""

    def __init__(self, items: Iterable[bytes], content_type: str = "application/json", status: int = 200,
                 headers: Optional[dict] = None):
        self.items, self.content_type, self.status, self.headers = items, content_type, status, headers or {}


class Hijack:
    """The connection taken over after the headers (attach, exec start): RUN(req, write)
    writes docker's raw stream and returns when it ends; then the connection closes."""

    def __init__(self, run: Callable, content_type: str = "application/vnd.docker.multiplexed-stream"):
        self.run, self.content_type = run, content_type


def progress_stream(work: Callable[[Callable[[dict], None]], None]) -> Stream:
    """docker's JSON progress stream (pull, push, build): WORK(put) runs on a thread of its own and
    each dict it puts goes out as a line as it comes; the stream ends when WORK returns, or with
    the error it raised as the last line, as dockerd ends one."""
    lines: queue.Queue = queue.Queue()
    done = object()

    def run() -> None:
        try:
            work(lines.put)
        except Exception as err:  # noqa: BLE001 - the client reads it from the stream
            lines.put({"errorDetail": {"message": str(err)}, "error": str(err)})
        finally:
            lines.put(done)
    threading.Thread(target=run, daemon=True).start()

    def body():
        while (item := lines.get()) is not done:
            yield json.dumps(item).encode() + b"\r\n"
    return Stream(body())
