"""-p and --expose as docker's go-connections/nat.ParsePortSpec reads them (core/net/ports.py)."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from dunnage.core.net.ports import PortError, Proxy, docker_ports, parse_expose, parse_publish


def b(port, host=0, ip="0.0.0.0", proto="tcp"):
    return {"Proto": proto, "HostIp": ip, "HostPort": host, "Port": port}


@pytest.mark.parametrize("spec, want", [
    ("80", [b(80)]),
    ("8080:80", [b(80, 8080)]),
    (":80", [b(80)]),
    ("127.0.0.1:8080:80", [b(80, 8080, "127.0.0.1")]),
    ("127.0.0.1::80", [b(80, 0, "127.0.0.1")]),
    ("0.0.0.0:53:53/udp", [b(53, 53, proto="udp")]),
    ("80/udp", [b(80, proto="udp")]),
    ("80/tcp", [b(80)]),
    ("8080-8081:80-81", [b(80, 8080), b(81, 8081)]),
    ("80-81", [b(80), b(81)]),
    ("127.0.0.1:7000-7001:80-81/udp", [b(80, 7000, "127.0.0.1", "udp"), b(81, 7001, "127.0.0.1", "udp")]),
    ("65535:1", [b(1, 65535)]),
])
def test_publish_specs(spec, want):
    assert parse_publish(spec) == want


def test_a_host_range_for_one_container_port_is_one_free_port_of_it():
    assert parse_publish("8000-8010:80") == [dict(b(80), HostRange=[8000, 8010])]


@pytest.mark.parametrize("spec", [
    "", "abc", "0", "65536", "80:0", "70000:80", "1.2.3.4:80",  # docker: 1.2.3.4 is a bad host port
    "80:90-91", "8080-8082:80-81", "81-80", "localhost:80:80", "999.1.1.1:80:80", "80/sctpx", "80/", "80:80:80:80",
    "-1:80",
])
def test_publish_specs_docker_refuses(spec):
    with pytest.raises(PortError):
        parse_publish(spec)


def test_ipv6_host_addresses_udp_on_the_loopback_too():
    assert parse_publish("[::]:8080:80") == [{"Proto": "tcp", "HostIp": "::", "HostPort": 8080, "Port": 80}]
    assert parse_publish("[::1]:8080:80") == [{"Proto": "tcp", "HostIp": "::1", "HostPort": 8080, "Port": 80}]
    assert parse_publish("[2001:DB8::1]::53/udp") == [{"Proto": "udp", "HostIp": "2001:db8::1", "HostPort": 0,
                                                      "Port": 53}]
    assert parse_publish("[::1]:8080:80/udp") == [{"Proto": "udp", "HostIp": "::1", "HostPort": 8080, "Port": 80}]


@pytest.fixture
def udp_echo():
    """A UDP echo server on 127.0.0.1 (a thread): answers "echo:" + each datagram."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                data, peer = srv.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            srv.sendto(b"echo:" + data, peer)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()
    stop.set()
    t.join(2)
    srv.close()


def test_the_udp_relay_answers_each_client_from_the_host_port_and_forgets_idle_ones(udp_echo):
    """ports.Proxy with a UDP socket, as the shim relays a port published on [::1]."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    listener.bind(("::1", 0))
    host = listener.getsockname()[:2]
    proxy = Proxy([(listener, udp_echo)])
    clients = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for n, c in enumerate(clients):
            c.settimeout(5)
            for i in range(2):
                c.sendto(f"c{n}-{i}".encode(), host)
                data, frm = c.recvfrom(100)
                assert data == f"echo:c{n}-{i}".encode() and frm[:2] == host  # from the port it was sent to
        deadline = time.monotonic() + 5
        proxy.UDP_IDLE = 0.2  # read by the thread at each round: the flows made go once idle
        clients[0].sendto(b"wake", host)
        assert clients[0].recvfrom(100)[0] == b"echo:wake"
        while time.monotonic() < deadline and _flows(proxy) > 1:
            time.sleep(0.05)
        assert _flows(proxy) <= 1
        clients[1].sendto(b"again", host)  # a forgotten client is relayed anew
        assert clients[1].recvfrom(100)[0] == b"echo:again"
    finally:
        proxy.close()
        for c in clients:
            c.close()
        listener.close()
    assert not proxy.thread.is_alive()


def _flows(proxy) -> int:
    """Sockets the proxy's thread holds to the target (those of its process, by their peer)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            s = socket.socket(fileno=int(fd))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_DGRAM and s.getpeername() == proxy.listeners[0][1]:
                n += 1
        except OSError:
            pass
        finally:
            s.detach()
    return n


def test_expose():
    assert parse_expose("80") == ["80/tcp"]
    assert parse_expose("53/udp") == ["53/udp"]
    assert parse_expose("8000-8002") == ["8000/tcp", "8001/tcp", "8002/tcp"]
    for bad in ("", "http", "0", "80/icmp", "2-1", "1:2"):
        with pytest.raises(PortError):
            parse_expose(bad)


def test_inspect_ports_document():
    """NetworkSettings.Ports: every exposed port, null where nothing is published, HostPort a string."""
    doc = docker_ports([dict(b(80, 8080)), dict(b(53, 5353, "127.0.0.1", "udp"))], ["9000/tcp"])
    assert doc["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    assert doc["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
    assert doc["9000/tcp"] is None


def test_one_relay_thread_serves_tcp_and_udp_ports_together(udp_echo):
    """A container's relayed ports share one thread: a TCP connection piped both ways beside UDP."""
    tcp_srv = socket.socket()
    tcp_srv.bind(("127.0.0.1", 0))
    tcp_srv.listen(4)

    def serve_tcp():
        conn, _ = tcp_srv.accept()
        with conn:
            while data := conn.recv(100):
                conn.sendall(b"tcp:" + data)
    threading.Thread(target=serve_tcp, daemon=True).start()
    t_listen, u_listen = socket.socket(socket.AF_INET6), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    for s in (t_listen, u_listen):
        s.bind(("::1", 0))
    proxy = Proxy([(t_listen, tcp_srv.getsockname()), (u_listen, udp_echo)])
    try:
        with socket.create_connection(t_listen.getsockname()[:2], timeout=5) as c, \
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
            u.settimeout(5)
            c.sendall(b"one")
            assert c.recv(100) == b"tcp:one"
            u.sendto(b"two", u_listen.getsockname()[:2])
            assert u.recvfrom(100)[0] == b"echo:two"
            c.sendall(b"three")
            assert c.recv(100) == b"tcp:three"
        assert [t.name for t in threading.enumerate()].count("port-proxy") == 1
    finally:
        proxy.close()
        for s in (t_listen, u_listen, tcp_srv):
            s.close()


def test_the_tcp_relay_passes_half_closes_and_a_client_that_does_not_read_stalls_only_itself():
    """A request ended by shutdown(SHUT_WR) still gets its whole answer (EOF passed on, not a
    close), and 8 MiB waiting for a client that does not read leave the next client served."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    big = os.urandom(8 << 20)

    def answer(conn):
        with conn:
            req = b""
            while chunk := conn.recv(65536):
                req += chunk
            try:
                conn.sendall(big if req == b"big" else b"got:" + req)
            except OSError:
                pass

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    listen = socket.socket(socket.AF_INET6)
    listen.bind(("::1", 0))
    proxy = Proxy([(listen, srv.getsockname())])
    host = listen.getsockname()[:2]
    try:
        with socket.create_connection(host, timeout=5) as stalled:
            stalled.sendall(b"big")
            stalled.shutdown(socket.SHUT_WR)  # and never reads
            for n in range(2):
                with socket.create_connection(host, timeout=5) as c:
                    c.sendall(b"x" * 100_000)
                    c.shutdown(socket.SHUT_WR)
                    got = b""
                    while chunk := c.recv(65536):
                        got += chunk
                    assert got == b"got:" + b"x" * 100_000
            got = b""
            while chunk := stalled.recv(1 << 20):
                got += chunk
            assert got == big
    finally:
        proxy.close()
        srv.close()
        listen.close()


def test_a_refused_tcp_connection_closes_the_clients_at_once():
    """Nothing listens at the target: the client is closed, and the relay goes on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()
    listen = socket.socket(socket.AF_INET6)
    listen.bind(("::1", 0))
    proxy = Proxy([(listen, dead)])
    try:
        for _ in range(2):
            with socket.create_connection(listen.getsockname()[:2], timeout=5) as c:
                c.sendall(b"hello")
                try:
                    assert c.recv(100) == b""
                except ConnectionResetError:
                    pass
        assert proxy.thread.is_alive()
    finally:
        proxy.close()
        listen.close()


def test_what_the_shim_relays_and_where_to():
    from dunnage.core.net.sandbox import relay_target
    four, six = "172.17.0.2", "fd00::2"
    assert relay_target("0.0.0.0", four, None) is None and relay_target("127.0.0.1", four, six) is None  # DNAT
    assert relay_target("::1", four, None) == four and relay_target("::1", four, six) == four
    assert relay_target("::", four, six) == six  # [::1] to a dual-stack port (the rest: DNAT)
    assert relay_target("2001:db8::1", four, six) is None
    assert relay_target("::", four, None) == four and relay_target("2001:db8::1", four, None) == four  # docker-proxy's
