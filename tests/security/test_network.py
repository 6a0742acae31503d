"""Network holes of issue 16: the host's loopback reached from a bridge
(CVE-2020-8558's pattern), forged answers to the resolver's forwarded queries.

Traffic goes only to 127.0.0.0/8, to the bridges of the test's root and
inside network namespaces the tests make."""
from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

from conftest import wait_for
from dunnage.core.net.config import Networks
from dunnage.core.runtime.linux import CLONE_NEWNET, setns
from dunnage.core.store import Store

pytestmark = pytest.mark.timeout(120)


def _checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src_mac: bytes, dst_mac: bytes, src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An Ethernet frame holding one UDP datagram (no UDP checksum, as IPv4 allows)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def send_raw_from(pid: int, frames: list[bytes]) -> None:
    """Send FRAMES on eth0 of PID's network namespace through a packet socket, as
    a container's root (CAP_NET_RAW, which docker grants by default) can."""
    err = []

    def go():
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                setns(fd, CLONE_NEWNET)
            finally:
                os.close(fd)
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind(("eth0", 0))
                mac = s.getsockname()[4]
                for f in frames:
                    s.send(f.replace(b"SRCMAC", mac, 1))
        except Exception as e:  # noqa: BLE001
            err.append(e)
    t = threading.Thread(target=go)  # setns changes this thread only
    t.start()
    t.join(10)
    assert not err, err


def test_a_container_cannot_reach_the_hosts_loopback_through_the_bridge(session_root, engine, image):
    c = engine.run(image, ["sleep", "60"], detach=True)
    ns = wait_for(lambda: engine.inspect(c.id)["NetworkSettings"])
    pid, ip, gw = engine.inspect(c.id)["State"]["Pid"], ns["IPAddress"], ns["Gateway"]
    bridge = Networks(Store(str(session_root))).get("bridge")["Bridge"]
    with open(f"/sys/class/net/{bridge}/address") as f:
        bridge_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as lo_only, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as on_gw:
        lo_only.bind(("127.0.0.1", 0))   # a host service meant for the host alone
        on_gw.bind((gw, 0))              # one the container may reach: the control
        frames = [udp_frame(b"SRCMAC", bridge_mac, ip, dst, 40000, port, b"x")
                  for dst, port in (("127.0.0.1", lo_only.getsockname()[1]), (gw, on_gw.getsockname()[1]))]
        send_raw_from(pid, frames)
        on_gw.settimeout(5)
        assert on_gw.recv(100) == b"x"    # the frames came in, in order: the first one's fate is known
        lo_only.setblocking(False)
        with pytest.raises(BlockingIOError):
            lo_only.recv(100)


# ------------------------------------------------------------------ the resolver's forwarding
def in_new_netns(fn):
    """FN() in a thread inside a network namespace of its own (lo up): the
    resolver, its upstream and the forger all live there, on 127.0.0.x."""
    from dunnage.core.net import loopback_up
    from dunnage.core.net.netlink import _in_thread
    from dunnage.core.runtime.linux import unshare

    def body():
        unshare(CLONE_NEWNET)
        loopback_up()
        return fn()
    return _in_thread(body)


def _udp(addr: str, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(5)
    return s


def _forwarding_setup():
    from dunnage.core.net.dns import Resolver
    inside = _udp("127.0.0.11", 53)
    inside.setblocking(False)
    upstream = _udp("127.0.0.2", 53)
    client = _udp("127.0.0.1")
    return Resolver(dict, inside, ["127.0.0.2"]), upstream, client


def _ask(r, client, name: str, qid: int):
    """CLIENT asks R for NAME; returns what reached the upstream (data, source)."""
    from dnslib import DNSRecord
    q = DNSRecord.question(name)
    q.header.id = qid
    client.sendto(q.pack(), ("127.0.0.11", 53))
    r.on_query()


def test_forged_answers_to_forwarded_queries_are_dropped():
    from dnslib import QTYPE, RR, A, DNSRecord

    def scenario():
        r, upstream, client = _forwarding_setup()
        forger = _udp("127.0.0.3")
        same_host_other_port = _udp("127.0.0.2", 5353)
        try:
            _ask(r, client, "faraway.test", 0x1234)
            data, peer = upstream.recvfrom(4096)
            fwd = DNSRecord.parse(data)

            def answer(ip, qid=fwd.header.id, name="faraway.test"):
                a = DNSRecord.question(name).reply()
                a.header.id = qid
                a.add_answer(RR(name, QTYPE.A, rdata=A(ip), ttl=60))
                return a.pack()
            forger.sendto(answer("6.6.6.6"), peer)                       # another source, the right ID
            r.on_upstream()
            same_host_other_port.sendto(answer("6.6.6.7"), peer)         # the server's address, not its port
            r.on_upstream()
            upstream.sendto(answer("6.6.6.8", qid=fwd.header.id ^ 1), peer)  # the server, another ID
            r.on_upstream()
            upstream.sendto(answer("6.6.6.9", name="elsewhere.test"), peer)  # another question
            r.on_upstream()
            upstream.sendto(answer("203.0.113.7"), peer)                 # the real answer
            r.on_upstream()
            got = DNSRecord.parse(client.recv(4096))
            client.setblocking(False)
            try:
                extra = client.recv(4096)
            except BlockingIOError:
                extra = None
            return got, extra, peer
        finally:
            r.close()
            for s in (upstream, client, forger, same_host_other_port):
                s.close()
    got, extra, peer = in_new_netns(scenario)
    assert got.header.id == 0x1234 and [str(a.rdata) for a in got.rr] == ["203.0.113.7"]
    assert extra is None
    assert peer[0] == "127.0.0.1"  # bound where the route to the server leads, not 0.0.0.0


def test_forwarded_queries_use_random_ids_and_ports():
    def scenario():
        r, upstream, client = _forwarding_setup()
        seen = []
        try:
            for i in range(32):
                _ask(r, client, f"n{i}.test", 7)
                data, peer = upstream.recvfrom(4096)
                seen.append((int.from_bytes(data[:2], "big"), peer[1]))
            return seen, len(r.pending)
        finally:
            r.close()
            upstream.close()
            client.close()
    seen, pending = in_new_netns(scenario)
    ids, ports = [i for i, _ in seen], [p for _, p in seen]
    assert pending == 32
    assert len(set(ids)) >= 28 and len(set(ports)) >= 28
    steps = {(b - a) & 0xFFFF for a, b in zip(ids, ids[1:])}
    assert len(steps) > 4  # not a counter
