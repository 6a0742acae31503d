"""The resolver a container on a user-defined network asks (127.0.0.11:53).

As docker's embedded DNS: it answers the names of the containers on the
networks the asking container is attached to (name, aliases, short id), read
from the network records at each query so names follow containers as they
come and go, and forwards every other query to the upstream servers (the
host's, or ``--dns``) from the host's network namespace.

A name shared by several containers (a ``--network-alias``, a compose
service's replicas) answers with all their addresses, in a new order each
time; container addresses answer PTR queries with ``NAME.NETWORK``, as
docker's do.  Over UDP an answer is cut to what the client takes (512 bytes,
or its EDNS0 size) and marked truncated, and the client asks again over TCP,
where the resolver answers too; a query that came over TCP goes upstream
over TCP.

It lives in the container's shim: a UDP and a TCP socket bound inside the
container's namespace, and in the host's one socket per forwarded query and
the TCP clients' connections, gathered in an epoll descriptor; the shim's loop
polls both (no thread, no extra process).  What one container sends can only
keep its own resolver busy, and that within bounds (pending queries, TCP
connections, their idle time).
"""
from __future__ import annotations

import errno
import os
import random
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


def bind_inside(netns_fd: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on 127.0.0.11:53 in the namespace of NETNS_FD."""
    from .netlink import _in_thread
    from ..runtime.linux import setns

    def make():
        setns(netns_fd, CLONE_NEWNET)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for s in (udp, tcp):
            s.bind((ADDRESS, 53))
            s.setblocking(False)
        tcp.listen(16)
        return udp, tcp
    return _in_thread(make)


class _Query:
    """One forwarded query: its own socket, connected to the upstream server (over
    TCP for a client that asked over TCP: CONN is that client's connection)."""
    __slots__ = ("sock", "client", "client_id", "our_id", "question", "query", "born", "conn", "wbuf", "rbuf")

    def __init__(self, sock, client, client_id, our_id, question, query, conn=None):
        self.sock, self.client, self.client_id, self.our_id = sock, client, client_id, our_id
        self.question, self.query, self.born, self.conn = question, query, time.monotonic(), conn
        self.wbuf = self.rbuf = b""


class _Conn:
    """A TCP client: what it sent so far (messages are length-prefixed) and what is
    still to be written to it."""
    __slots__ = ("sock", "rbuf", "wbuf", "seen", "eof")

    def __init__(self, sock):
        self.sock, self.rbuf, self.wbuf, self.seen, self.eof = sock, b"", b"", time.monotonic(), False


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
    MAX_CONNS = 64  # TCP clients at once; the oldest goes for a new one
    UDP_SIZE = 512  # what a client without EDNS0 takes (RFC 1035)
    EDNS_SIZE = 4096  # the most we send over UDP to one with it (and say we take)

    def __init__(self, names, sock: socket.socket, upstreams: list[str], tcp: socket.socket | None = None):
        """NAMES() -> {name: address or [addresses], reverse pointer name: [PTR targets]};
        SOCK the UDP socket inside the container, TCP its listening socket."""
        self.names = names
        self.sock = sock
        self.tcp = tcp
        self.upstreams = [u for u in upstreams if u]
        self.out = select.epoll()  # all but SOCK: the shim polls this one descriptor
        self.pending: dict[int, _Query] = {}  # by socket descriptor
        self.conns: dict[int, _Conn] = {}
        if tcp is not None:
            self.out.register(tcp.fileno(), select.EPOLLIN)

    def fileno(self):
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
        for fd in list(self.pending):
            self._drop(fd)
        for fd in list(self.conns):
            self._close_conn(fd)
        if self.tcp is not None:
            self.tcp.close()
        self.out.close()

    # ------------------------------------------------------------ queries
    def on_query(self) -> None:
        try:
            data, client = self.sock.recvfrom(4096)
        except OSError:
            return
        self._answer(data, client, None)

    def _answer(self, data: bytes, client, conn: _Conn | None) -> None:
        """Answer DATA, a query from CLIENT (over UDP) or CONN (over TCP)."""
        from dnslib import RCODE, DNSRecord
        try:
            q = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - not DNS: nothing to answer
            return
        if not q.questions:
            return
        reply = self._local(q)
        if reply is not None:
            self._reply(q, reply, client, conn)
            return
        question = question_of(data)
        if not self.upstreams or question is None:
            reply = q.reply()
            reply.header.rcode = RCODE.SERVFAIL
            self._reply(q, reply, client, conn)
            return
        self._expire()
        our_id = int.from_bytes(os.urandom(2), "big")
        family = socket.AF_INET6 if ":" in self.upstreams[0] else socket.AF_INET
        out = socket.socket(family, socket.SOCK_DGRAM if conn is None else socket.SOCK_STREAM)
        query = our_id.to_bytes(2, "big") + data[2:]
        try:
            out.setblocking(False)
            if conn is None:
                out.connect((self.upstreams[0], 53))
                out.send(query)
            else:
                err = out.connect_ex((self.upstreams[0], 53))
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, os.strerror(err))
        except OSError:
            out.close()
            self._servfail(data, client, conn)
            return
        p = _Query(out, client, q.header.id, our_id, question, data, conn)
        if conn is not None:
            p.wbuf = len(query).to_bytes(2, "big") + query
        self.pending[out.fileno()] = p
        self.out.register(out.fileno(), select.EPOLLIN | (select.EPOLLOUT if conn is not None else 0))

    def _local(self, q):
        """The answer for a name of ours (or a PTR of one of our addresses), else None."""
        from dnslib import AAAA, PTR, QTYPE, RR, A
        qname = str(q.q.qname).rstrip(".").lower()
        got = self.names().get(qname)
        if got is None:
            return None
        got = [got] if isinstance(got, str) else list(got)
        reply = q.reply()
        qtype = q.q.qtype
        if qname.endswith((".in-addr.arpa", ".ip6.arpa")):
            if qtype in (QTYPE.PTR, QTYPE.ANY):
                for target in got:
                    reply.add_answer(RR(q.q.qname, QTYPE.PTR, rdata=PTR(target + "."), ttl=TTL))
            return reply
        random.shuffle(got)  # round robin, as docker's: each asker starts somewhere else
        for address in got:
            if ":" in address:
                if qtype in (QTYPE.AAAA, QTYPE.ANY):
                    reply.add_answer(RR(q.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=TTL))
            elif qtype in (QTYPE.A, QTYPE.ANY):
                reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        return reply

    def _reply(self, q, reply, client, conn: _Conn | None) -> None:
        """Send REPLY to Q: over UDP no larger than the client takes (its EDNS0 size, or
        512 bytes), cut to the answers that fit and marked truncated if need be."""
        from dnslib import EDNS0, QTYPE
        opt = next((r for r in q.ar if r.rtype == QTYPE.OPT), None)
        if opt is not None:
            reply.add_ar(EDNS0(udp_len=self.EDNS_SIZE))
        data = reply.pack()
        if conn is not None:
            self._to_conn(conn, data)
            return
        limit = min(max(opt.rclass, self.UDP_SIZE), self.EDNS_SIZE) if opt is not None else self.UDP_SIZE
        if len(data) > limit:
            answers = reply.rr
            reply.rr, reply.auth = [], []
            reply.header.tc = 1
            for rr in answers:
                reply.rr.append(rr)
                if len(reply.pack()) > limit:
                    reply.rr.pop()
                    break
            data = reply.pack()
        self._send(data, client)

    # ------------------------------------------------------------ the epoll set
    def on_upstream(self) -> None:
        """Whatever is ready in the epoll set: upstream answers, TCP clients."""
        for fd, events in self.out.poll(0):
            if self.tcp is not None and fd == self.tcp.fileno():
                self._accept()
            elif fd in self.conns:
                self._on_conn(fd, events)
            elif fd in self.pending:
                if self.pending[fd].conn is None:
                    self._on_udp_answer(fd)
                else:
                    self._on_tcp_upstream(fd, events)
        self._expire()

    def _on_udp_answer(self, fd: int) -> None:
        p = self.pending[fd]
        while True:
            try:
                data = p.sock.recv(65535)
            except BlockingIOError:
                break
            except OSError:  # the server refused (ICMP): the client hears it now
                self._drop(fd)
                self._servfail(p.query, p.client, None)
                break
            if self._is_answer(p, data):
                self._drop(fd)
                self._send(p.client_id.to_bytes(2, "big") + data[2:], p.client)
                break

    @staticmethod
    def _is_answer(p: _Query, data: bytes) -> bool:
        return (len(data) >= 12 and int.from_bytes(data[:2], "big") == p.our_id and bool(data[2] & 0x80)
                and question_of(data) == p.question)

    def _on_tcp_upstream(self, fd: int, events: int) -> None:
        p = self.pending[fd]
        try:
            if p.wbuf and events & select.EPOLLOUT:
                p.wbuf = p.wbuf[p.sock.send(p.wbuf):]
                if not p.wbuf:
                    self.out.modify(fd, select.EPOLLIN)
            if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                data = p.sock.recv(65537)
                if not data:
                    raise ConnectionError("the server closed the connection")
                p.rbuf += data
        except BlockingIOError:
            return
        except OSError:
            self._drop(fd)
            self._servfail(p.query, None, p.conn)
            self._close_if_done(p.conn)
            return
        if len(p.rbuf) >= 2 and len(p.rbuf) >= 2 + int.from_bytes(p.rbuf[:2], "big"):
            answer = p.rbuf[2:2 + int.from_bytes(p.rbuf[:2], "big")]
            self._drop(fd)
            if self._is_answer(p, answer):
                self._to_conn(p.conn, p.client_id.to_bytes(2, "big") + answer[2:])
            else:
                self._servfail(p.query, None, p.conn)
            self._close_if_done(p.conn)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.tcp.accept()
            except OSError:  # none left (EAGAIN), or out of descriptors
                return
            if len(self.conns) >= self.MAX_CONNS:
                self._close_conn(min(self.conns, key=lambda fd: self.conns[fd].seen))
            sock.setblocking(False)
            self.conns[sock.fileno()] = _Conn(sock)
            self.out.register(sock.fileno(), select.EPOLLIN)

    def _on_conn(self, fd: int, events: int) -> None:
        c = self.conns[fd]
        c.seen = time.monotonic()
        try:
            if c.wbuf and events & select.EPOLLOUT:
                c.wbuf = c.wbuf[c.sock.send(c.wbuf):]
                if not c.wbuf:
                    self.out.modify(fd, 0 if c.eof else select.EPOLLIN)
            if not c.eof and events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                data = c.sock.recv(65537)
                if data:
                    c.rbuf += data
                else:  # the client is done asking (it may wait for the answers still)
                    c.eof = True
                    self.out.modify(fd, select.EPOLLOUT if c.wbuf else 0)
        except BlockingIOError:
            pass
        except OSError:
            self._close_conn(fd)
            return
        while len(c.rbuf) >= 2 and len(c.rbuf) >= 2 + int.from_bytes(c.rbuf[:2], "big"):
            n = int.from_bytes(c.rbuf[:2], "big")
            msg, c.rbuf = c.rbuf[2:2 + n], c.rbuf[2 + n:]
            self._answer(msg, None, c)
            if fd not in self.conns:
                return
        self._close_if_done(c)

    def _close_if_done(self, c: _Conn) -> None:
        """A client that stopped sending is closed once it has every answer."""
        if c.eof and not c.wbuf and not any(p.conn is c for p in self.pending.values()):
            self._close_conn(c.sock.fileno())

    def _to_conn(self, c: _Conn, data: bytes) -> None:
        if c.sock.fileno() not in self.conns:  # gone meanwhile
            return
        c.wbuf += len(data).to_bytes(2, "big") + data
        try:
            c.wbuf = c.wbuf[c.sock.send(c.wbuf):]
        except BlockingIOError:
            pass
        except OSError:
            self._close_conn(c.sock.fileno())
            return
        if c.wbuf:
            self.out.modify(c.sock.fileno(), (0 if c.eof else select.EPOLLIN) | select.EPOLLOUT)

    def _close_conn(self, fd: int) -> None:
        c = self.conns.pop(fd, None)
        if c is not None:
            for qfd in [q for q, p in self.pending.items() if p.conn is c]:
                self._drop(qfd)
            try:
                self.out.unregister(fd)
            except OSError:
                pass
            c.sock.close()

    def _servfail(self, query: bytes, client, conn: _Conn | None) -> None:
        from dnslib import RCODE, DNSRecord
        try:
            q = DNSRecord.parse(query)
        except Exception:  # noqa: BLE001
            return
        reply = q.reply()
        reply.header.rcode = RCODE.SERVFAIL
        self._reply(q, reply, client, conn)

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
        for fd in [fd for fd, c in self.conns.items() if now - c.seen > self.TIMEOUT]:
            self._close_conn(fd)
