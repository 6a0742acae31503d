"""The resolver a container on a user-defined network asks (127.0.0.11:53).

As docker's embedded DNS: it answers the names of the containers on the
networks the asking container is attached to (name, aliases, short id), read
from the network records at each query so names follow containers as they
come and go, and forwards every other query to the upstream servers (the
host's, or ``--dns``) from the host's network namespace.

It lives in the container's shim: a UDP socket bound inside the container's
namespace, one socket in the host's for forwarding, both polled by the
shim's loop (no thread, no extra process).
"""
from __future__ import annotations

import os
import socket
import time

from ..runtime.linux import CLONE_NEWNET

ADDRESS = "127.0.0.11"
TTL = 600


def host_nameservers(path: str = "/etc/resolv.conf") -> tuple[list[str], list[str]]:
    """(nameservers, search domains) of the host."""
    servers, search = [], []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append(parts[1])
                elif parts and parts[0] in ("search", "domain"):
                    search = parts[1:]
    except OSError:
        pass
    return servers, search


def resolv_conf(embedded: bool, dns: list[str], search: list[str], options: list[str]) -> str:
    """The container's /etc/resolv.conf, as docker writes it."""
    servers, host_search = host_nameservers()
    lines = []
    if search or host_search:
        lines.append("search " + " ".join(search or host_search))
    if embedded:
        lines.append(f"nameserver {ADDRESS}")
        opts = ["ndots:0"] + list(options)
    else:
        ns = list(dns) or [s for s in servers if not s.startswith("127.") and s != "::1"]
        if not ns:  # docker's fallback when the host only has a local resolver
            ns = ["8.8.8.8", "8.8.4.4"]
        lines += [f"nameserver {s}" for s in ns]
        opts = list(options)
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def bind_inside(netns_fd: int) -> socket.socket:
    """A UDP socket on 127.0.0.11:53 in the namespace of NETNS_FD."""
    from .netlink import _in_thread
    from ..runtime.linux import setns

    def make():
        setns(netns_fd, CLONE_NEWNET)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ADDRESS, 53))
        s.setblocking(False)
        return s
    return _in_thread(make)


class Resolver:
    def __init__(self, names, sock: socket.socket, upstreams: list[str]):
        """NAMES() -> {name: address}; SOCK the socket inside the container."""
        self.names = names
        self.sock = sock
        self.upstreams = [u for u in upstreams if u]
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.out.setblocking(False)
        self.pending: dict[int, tuple[tuple, int, float]] = {}  # our id -> (client, its id, when)
        self.next_id = int.from_bytes(os.urandom(2), "big")

    def fileno(self):
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
        self.out.close()

    def on_query(self) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord
        try:
            data, client = self.sock.recvfrom(4096)
        except OSError:
            return
        try:
            q = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - not DNS: nothing to answer
            return
        if not q.questions:
            return
        qname = str(q.q.qname).rstrip(".").lower()
        names = self.names()
        if qname in names:
            reply = q.reply()
            if q.q.qtype in (QTYPE.A, QTYPE.ANY):
                reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(names[qname]), ttl=TTL))
            self._send(reply.pack(), client)
            return
        if not self.upstreams:
            reply = q.reply()
            reply.header.rcode = RCODE.SERVFAIL
            self._send(reply.pack(), client)
            return
        self._expire()
        self.next_id = (self.next_id + 1) & 0xFFFF
        self.pending[self.next_id] = (client, q.header.id, time.monotonic())
        fwd = self.next_id.to_bytes(2, "big") + data[2:]
        for up in self.upstreams[:1]:
            try:
                self.out.sendto(fwd, (up, 53))
            except OSError:
                self.pending.pop(self.next_id, None)

    def on_upstream(self) -> None:
        try:
            data, _ = self.out.recvfrom(65535)
        except OSError:
            return
        if len(data) < 12:
            return
        entry = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if entry is not None:
            client, cid, _ = entry
            self._send(cid.to_bytes(2, "big") + data[2:], client)

    def _send(self, data: bytes, client) -> None:
        try:
            self.sock.sendto(data, client)
        except OSError:
            pass

    def _expire(self) -> None:
        now = time.monotonic()
        for k in [k for k, (_, _, t) in self.pending.items() if now - t > 10]:
            del self.pending[k]
