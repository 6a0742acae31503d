"""The shim's output pump: while the container's command runs, one loop copies its
output to the log and to attached clients and the clients' input to it, and serves
what else the shim waits on: new attach clients, the container's DNS resolver, its
health checks, and the end of its root's FUSE server.  Each source has its handler."""
from __future__ import annotations

import os
import selectors
import socket
from dataclasses import dataclass
from typing import Callable, Optional

from .. import attach
from ..logs import STDERR, STDOUT, LogWriter


@dataclass(frozen=True)
class Streams:
    """The command's ends the pump serves: OUT_R and ERR_R its stdout and stderr, or
    MASTER its terminal; IN_W its stdin (-i)."""
    out_r: Optional[int] = None
    err_r: Optional[int] = None
    master: Optional[int] = None
    in_w: Optional[int] = None


class Pump:
    def __init__(self, log: LogWriter, streams: Streams, listener: socket.socket, accept: Callable,
                 clients: list, *, fuse_done: int = -1, on_fuse_died: Callable = lambda: None,
                 resolver=None, health=None):
        """STREAMS are the command's; ACCEPT(LISTENER) a new attach client or None;
        CLIENTS those attached already.  FUSE_DONE reads EOF when the root's server ends
        (then ON_FUSE_DIED()); RESOLVER is the container's DNS server; HEALTH its checker."""
        master, out_r, err_r, in_w = streams.master, streams.out_r, streams.err_r, streams.in_w
        self.log, self.master, self.in_w, self.listener, self.accept = log, master, in_w, listener, accept
        self.on_fuse_died, self.resolver, self.health = on_fuse_died, resolver, health
        self.sel = selectors.DefaultSelector()
        self.sources = 0
        if master is not None:
            self.sel.register(master, selectors.EVENT_READ, (self.on_output, STDOUT))
            self.sources = 1
        if out_r is not None:
            self.sel.register(out_r, selectors.EVENT_READ, (self.on_output, STDOUT))
            self.sel.register(err_r, selectors.EVENT_READ, (self.on_output, STDERR))
            self.sources = 2
        self.sel.register(listener, selectors.EVENT_READ, (self.on_listen, None))
        # the FUSE server's end: the container's root is gone, the container fails
        if fuse_done >= 0:
            self.sel.register(fuse_done, selectors.EVENT_READ, (self.on_fuse, None))
        if resolver is not None:
            self.sel.register(resolver.sock, selectors.EVENT_READ, (self.on_dns, "query"))
            self.sel.register(resolver.out, selectors.EVENT_READ, (self.on_dns, "upstream"))
        self.clients: dict = {}
        self.deaf: set = set()  # clients whose output failed: still read to their end (on_output)
        for cl in clients:
            self.add_client(cl)
        self.stdin_open = in_w is not None
        self.hfd: Optional[int] = None  # the running health check's output

    def run(self) -> list:
        """Until the command's output ends; returns the clients still attached."""
        health = self.health
        while self.sources:
            events_ = self.sel.select(timeout=health.timeout() if health is not None else None)
            if health is not None and not events_ and health.timeout() == 0:
                self.on_health_due()
                continue
            for key, _ in events_:
                handler, arg = key.data
                handler(key, arg)
        if self.stdin_open:
            os.close(self.in_w)
        if self.hfd is not None:
            self.sel.unregister(self.hfd)
        for cl in self.clients:
            self.sel.unregister(cl)
        self.sel.close()
        return list(self.clients)

    def add_client(self, cl) -> None:
        self.clients[cl] = attach.Reader()
        self.sel.register(cl, selectors.EVENT_READ, (self.on_client, None))

    def drop_client(self, cl) -> None:
        self.sel.unregister(cl)
        self.clients.pop(cl, None)
        self.deaf.discard(cl)
        cl.close()

    def on_output(self, key, stream: int) -> None:
        try:
            data = os.read(key.fd, 65536)
        except OSError:  # EIO: the terminal's last user is gone
            data = b""
        if not data:
            self.sel.unregister(key.fd)
            os.close(key.fd)
            self.sources -= 1
            return
        self.log.write(stream, data)
        f = attach.frame(attach.STDOUT if stream == STDOUT else attach.STDERR, data)
        for cl in self.clients:
            if cl in self.deaf:
                continue
            try:
                cl.sendall(f)
            except OSError:
                # gone, or going: the service's resize sends its frame and hangs up at once.
                # Dropped here, its frame went unread (the terminal kept its size), and a read
                # event of it in this same round then met a closed socket (the shim died): it
                # gets no more output, and on_client reads it to its end and drops it there
                self.deaf.add(cl)

    def on_listen(self, key, _) -> None:
        cl = self.accept(self.listener)
        if cl is not None:
            self.add_client(cl)

    def on_client(self, key, _) -> None:
        cl = key.fileobj
        try:
            data = cl.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop_client(cl)
            return
        for ftype, payload in self.clients[cl].feed(data):
            try:
                self.input(ftype, payload)
            except OSError:
                pass

    def input(self, ftype: int, payload: bytes) -> None:
        """A client's frame: input, its end, or its terminal's new size."""
        master = self.master
        if ftype == attach.STDIN:
            if master is not None:
                os.write(master, payload)
            elif self.stdin_open:
                os.write(self.in_w, payload)
        elif ftype == attach.STDIN_EOF:
            if master is not None:
                os.write(master, b"\x04")
            elif self.stdin_open:
                os.close(self.in_w)
                self.stdin_open = False
        elif ftype == attach.RESIZE and master is not None:
            import fcntl
            import struct
            import termios
            rows, cols = struct.unpack(">HH", payload[:4])
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def on_fuse(self, key, _) -> None:
        self.sel.unregister(key.fd)
        self.on_fuse_died()

    def on_dns(self, key, stream: str) -> None:
        self.resolver.on_query() if stream == "query" else self.resolver.on_upstream()

    def on_health(self, key, _) -> None:
        if self.health.readable():
            self.sel.unregister(self.hfd)
            self.hfd = None
            self.health.finish()

    def on_health_due(self) -> None:
        """A check is due to start, or the running one took too long."""
        if self.hfd is not None:
            self.sel.unregister(self.hfd)
            self.hfd = None
        self.health.tick()
        if self.health.fileno() is not None:
            self.hfd = self.health.fileno()
            self.sel.register(self.hfd, selectors.EVENT_READ, (self.on_health, None))
