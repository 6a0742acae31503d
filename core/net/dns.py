"""The resolver a container on a user-defined network asks (127.0.0.11:53).

As docker's embedded DNS: it answers the names of the containers on the
networks the asking container is attached to (name, aliases, short id), read
from the network records at each query so names follow containers as they
come and go, and forwards every other query to the upstream servers (the
host's, or ``--dns``) from the host's network namespace.

It lives in the container's shim: a UDP socket bound inside the container's
namespace, and one connected socket in the host's per forwarded query, gathered
in an epoll descriptor; the shim's loop polls both (no thread, no extra process).
"""
from __future__ import annotations

import os
import select
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


class _Query:
    """One forwarded query: its own socket, connected to the upstream server."""
    __slots__ = ("sock", "client", "client_id", "our_id", "question", "query", "born")

    def __init__(self, sock, client, client_id, our_id, question, query):
        self.sock, self.client, self.client_id, self.our_id = sock, client, client_id, our_id
        self.question, self.query, self.born = question, query, time.monotonic()


def question_of(data: bytes) -> bytes | None:
    """The question section of a DNS message with one question (its name in lower
    case), or None: what a reply must repeat to be taken for the query's."""
    if len(data) < 12 or int.from_bytes(data[4:6], "big") != 1:
        return None
    i = 12
    while True:
        if i >= len(data):
            return None
        n = data[i]
        if n == 0:
            break
        if n & 0xC0:  # a pointer: nothing comes before the question to point at
            return None
        i += 1 + n
    end = i + 5
    return data[12:end].lower() if end <= len(data) else None


class Resolver:
    """Forwarding as a resolver must to resist forged answers (what docker's
    embedded DNS does): each query goes out on a socket of its own, connected to
    the upstream server (the kernel picks the source address from the route and a
    random ephemeral port, and passes on only the datagrams of that peer), under a
    random ID; a reply counts only with that ID and the query's question.  Anything
    else on the socket is dropped and the query keeps waiting for its answer."""

    TIMEOUT = 10.0
    MAX_PENDING = 256

    def __init__(self, names, sock: socket.socket, upstreams: list[str]):
        """NAMES() -> {name: address}; SOCK the socket inside the container."""
        self.names = names
        self.sock = sock
        self.upstreams = [u for u in upstreams if u]
        self.out = select.epoll()  # the pending queries' sockets: the shim polls this one descriptor
        self.pending: dict[int, _Query] = {}  # by socket descriptor

    def fileno(self):
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
        for fd in list(self.pending):
            self._drop(fd)
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
        question = question_of(data)
        if not self.upstreams or question is None:
            reply = q.reply()
            reply.header.rcode = RCODE.SERVFAIL
            self._send(reply.pack(), client)
            return
        self._expire()
        our_id = int.from_bytes(os.urandom(2), "big")
        out = socket.socket(socket.AF_INET6 if ":" in self.upstreams[0] else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            out.setblocking(False)
            out.connect((self.upstreams[0], 53))
            out.send(our_id.to_bytes(2, "big") + data[2:])
        except OSError:
            out.close()
            self._servfail(data, client)
            return
        self.pending[out.fileno()] = _Query(out, client, q.header.id, our_id, question, data)
        self.out.register(out.fileno(), select.EPOLLIN)

    def on_upstream(self) -> None:
        for fd, _ in self.out.poll(0):
            p = self.pending.get(fd)
            if p is None:
                continue
            while True:
                try:
                    data = p.sock.recv(65535)
                except BlockingIOError:
                    break
                except OSError:  # the server refused (ICMP): the client hears it now
                    self._drop(fd)
                    self._servfail(p.query, p.client)
                    break
                if (len(data) >= 12 and int.from_bytes(data[:2], "big") == p.our_id and data[2] & 0x80
                        and question_of(data) == p.question):
                    self._drop(fd)
                    self._send(p.client_id.to_bytes(2, "big") + data[2:], p.client)
                    break
        self._expire()

    def _servfail(self, query: bytes, client) -> None:
        from dnslib import RCODE, DNSRecord
        try:
            reply = DNSRecord.parse(query).reply()
        except Exception:  # noqa: BLE001
            return
        reply.header.rcode = RCODE.SERVFAIL
        self._send(reply.pack(), client)

    def _send(self, data: bytes, client) -> None:
        try:
            self.sock.sendto(data, client)
        except OSError:
            pass

    def _drop(self, fd: int) -> None:
        p = self.pending.pop(fd, None)
        if p is not None:
            try:
                self.out.unregister(fd)
            except OSError:
                pass
            p.sock.close()

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [fd for fd, p in self.pending.items() if now - p.born > self.TIMEOUT]
        over = len(self.pending) - len(stale) - self.MAX_PENDING + 1
        if over > 0:  # too many unanswered: the oldest go
            alive = sorted((p.born, fd) for fd, p in self.pending.items() if fd not in stale)
            stale += [fd for _, fd in alive[:over]]
        for fd in stale:
            self._drop(fd)
