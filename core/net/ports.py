"""Published ports: docker's ``-p`` grammar, and reserving host ports.

Traffic reaches a container through DNAT rules (firewall), not through a
proxy, except what comes over [::1], which IPv6 cannot DNAT to a bridge: the
shim relays that (Proxy), TCP and UDP.  So that a host port can belong to one owner only, the shim holds a
socket bound to each published host port for the container's lifetime, as
podman does: a port that something else already uses is refused before the
container starts, and nothing else can take it while the container runs.
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket

from ..errors import InvalidParameter


class PortError(InvalidParameter):
    pass


# an address only before a host port (docker: in "1.2.3.4:80" 1.2.3.4 is a bad host port)
_SPEC = re.compile(r"^(?:(?:(?P<ip>\[[^\]]*\]|[0-9.]*):)?(?P<host>[0-9]*(?:-[0-9]+)?):)?"
                   r"(?P<cont>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>tcp|udp))?$")


def _range(text: str, what: str, spec: str) -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise PortError(f'invalid {what} port in "{spec}"') from None
    if not (1 <= a <= b <= 65535):
        raise PortError(f'invalid {what} port range in "{spec}" (1-65535)')
    return list(range(a, b + 1))


def parse_publish(spec: str) -> list[dict]:
    """``[IP:][HOST:]CONTAINER[/PROTO]`` with ranges -> bindings
    {"Proto", "HostIp", "HostPort" (0: any free one), "Port"}."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise PortError(f'invalid publish spec "{spec}" ([IP:]HOST:CONTAINER[/tcp|udp])')
    ip = (m.group("ip") or "").strip("[]")
    if ip:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise PortError(f'invalid IP address "{ip}" in "{spec}"') from None
        ip = str(addr)
    proto = m.group("proto") or "tcp"
    cports = _range(m.group("cont"), "container", spec)
    hosts = _range(m.group("host"), "host", spec) if m.group("host") else [0] * len(cports)
    if len(hosts) != len(cports):
        if len(cports) == 1 and m.group("host"):
            # docker: a host range for one container port means "one free port of the range"
            return [{"Proto": proto, "HostIp": ip or "0.0.0.0", "HostPort": 0, "Port": cports[0],
                     "HostRange": [hosts[0], hosts[-1]]}]
        raise PortError(f'host and container port ranges differ in length in "{spec}"')
    return [{"Proto": proto, "HostIp": ip or "0.0.0.0", "HostPort": h, "Port": c} for h, c in zip(hosts, cports)]


def parse_expose(spec: str) -> list[str]:
    """``PORT[-PORT][/PROTO]`` -> ["80/tcp", ...]."""
    m = re.fullmatch(r"([0-9]+(?:-[0-9]+)?)(?:/(tcp|udp))?", spec.strip())
    if not m:
        raise PortError(f'invalid port "{spec}" (PORT[-PORT][/tcp|udp])')
    return [f"{p}/{m.group(2) or 'tcp'}" for p in _range(m.group(1), "exposed", spec)]


def key(binding: dict) -> str:
    return f"{binding['Port']}/{binding['Proto']}"


class Reservation:
    """Sockets holding the host ports of a container's bindings."""

    def __init__(self):
        self.socks: list[socket.socket] = []

    def reserve(self, bindings: list[dict]) -> list[dict]:
        """Bind every host port (a free one for HostPort 0); the bindings with
        their actual host ports.  Raises PortError, releasing what it took."""
        out = []
        try:
            for b in bindings:
                out.append(dict(b, HostPort=self._take(b)))
                out[-1].pop("HostRange", None)
        except BaseException:
            self.close()
            raise
        return out

    def _take(self, b: dict) -> int:
        candidates = [b["HostPort"]]
        if b.get("HostRange"):
            candidates = list(range(b["HostRange"][0], b["HostRange"][1] + 1))
        last = None
        for port in candidates:
            six = ":" in b["HostIp"]
            s = socket.socket(socket.AF_INET6 if six else socket.AF_INET,
                              socket.SOCK_STREAM if b["Proto"] == "tcp" else socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if six:  # [::]:P beside 0.0.0.0:P, as docker's two bindings
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind((b["HostIp"], port))
                if b["Proto"] == "tcp":
                    s.listen(1)  # two bound-only sockets with SO_REUSEADDR would share the port
            except OSError as e:
                s.close()
                last = e
                continue
            self.socks.append(s)
            return s.getsockname()[1]
        host = f"[{b['HostIp']}]" if ":" in b["HostIp"] else b["HostIp"]
        where = f"{host}:{b['HostPort'] or '-'.join(map(str, b.get('HostRange') or []))}"
        reason = "port is already allocated" if getattr(last, "errno", 0) == 98 else str(last)
        raise PortError(f"Bind for {where} failed: {reason}", status=409 if reason == "port is already allocated" else 500)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks = []


class Proxy:
    """What reaches host ports over [::1], relayed to the container's addresses by one
    thread of the shim: IPv6 has no route_localnet, so no DNAT takes traffic from the
    loopback to a bridge (docker runs its userland proxy for these, and its ip6 output
    rule leaves ::1 to it as the ip6 table's here does).  TCP: each connection accepted
    is joined to one made to the container.  UDP: each client (address and port) gets a
    socket connected to the container, its answers sent back from the host port, and
    dropped after UDP_IDLE seconds without traffic, as docker-proxy's.  One thread for
    every port of the container (a published range is many ports)."""

    UDP_IDLE = 90.0
    UDP_FLOWS = 1024  # clients relayed at once per port: past that, the quietest one goes

    def __init__(self, listeners: list[tuple[socket.socket, tuple[str, int]]]):
        """LISTENERS: (a bound host-port socket, the container's (address, port)) each."""
        import threading
        self.listeners = listeners
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC)
        for sock, _ in listeners:
            if sock.type == socket.SOCK_STREAM:
                sock.listen(64)
            sock.setblocking(False)
        self.thread = threading.Thread(target=self._run, name="port-proxy", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import selectors
        import time
        sel = selectors.DefaultSelector()
        targets = {}
        for sock, target in self.listeners:
            sel.register(sock, selectors.EVENT_READ)
            targets[sock] = target
        sel.register(self.wake_r, selectors.EVENT_READ)
        pipes = _Pipes(sel)  # TCP: the connections joined
        flows: dict[tuple, socket.socket] = {}  # UDP: (listener, client) -> its socket to the container
        flow_of: dict[socket.socket, tuple] = {}
        last: dict[socket.socket, float] = {}

        def drop(up: socket.socket) -> None:
            sel.unregister(up)
            flows.pop(flow_of.pop(up), None)
            last.pop(up, None)
            up.close()
        try:
            while True:
                ready = sel.select(self.UDP_IDLE / 3 if flows else None)
                now = time.monotonic()
                for key, mask in ready:
                    s = key.fileobj
                    if s == self.wake_r:
                        return
                    if s in targets:
                        if s.type == socket.SOCK_STREAM:
                            self._accept(s, targets[s], pipes)
                        else:
                            self._from_client(s, targets[s], sel, flows, flow_of, last, now, drop)
                    elif s in flow_of:
                        self._from_container(s, flow_of, last, now)
                    elif s in pipes.other:
                        pipes.event(s, mask)
                for up in [u for u, t in last.items() if now - t > self.UDP_IDLE]:
                    drop(up)
        finally:
            for x in [*pipes.other, *flow_of]:
                x.close()
            sel.close()

    @staticmethod
    def _accept(listener: socket.socket, target: tuple, pipes: "_Pipes") -> None:
        import errno
        try:
            client, _ = listener.accept()
        except OSError:
            return
        # connected without waiting (the thread is every port's): what the client sends
        # meanwhile waits in the buffer, and a refusal shows as the first read's error
        up = socket.socket(socket.AF_INET6 if ":" in target[0] else socket.AF_INET, socket.SOCK_STREAM)
        up.setblocking(False)
        if up.connect_ex(target) not in (0, errno.EINPROGRESS):
            up.close()
            client.close()
            return
        pipes.add(client, up)

    def _from_client(self, listener: socket.socket, target: tuple, sel, flows: dict, flow_of: dict,
                     last: dict, now: float, drop) -> None:
        import selectors
        while True:
            try:
                data, client = listener.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:
                continue  # an ICMP error of an earlier answer: the next datagram
            up = flows.get((listener, client))
            if up is None:
                mine = [u for u, f in flow_of.items() if f[0] is listener]
                if len(mine) >= self.UDP_FLOWS:
                    drop(min(mine, key=last.get))
                up = socket.socket(socket.AF_INET6 if ":" in target[0] else socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    up.setblocking(False)
                    up.connect(target)
                except OSError:
                    up.close()
                    continue
                flows[(listener, client)], flow_of[up] = up, (listener, client)
                sel.register(up, selectors.EVENT_READ)
            last[up] = now
            try:
                up.send(data)
            except OSError:
                pass

    @staticmethod
    def _from_container(up: socket.socket, flow_of: dict, last: dict, now: float) -> None:
        listener, client = flow_of[up]
        while True:
            try:
                data = up.recv(65535)
            except BlockingIOError:
                return
            except OSError:
                continue  # the container's port unreachable (ICMP): nothing to send back
            last[up] = now
            try:
                listener.sendto(data, client)
            except OSError:
                pass

    def close(self) -> None:
        os.write(self.wake_w, b"x")
        self.thread.join(5)
        os.close(self.wake_r)
        os.close(self.wake_w)


class _Pipes:
    """TCP connections joined two by two, without blocking: what one end sends waits in a
    buffer for the other to take it, and that end is not read meanwhile (so a client that
    does not read stalls its own connection only); an end's EOF is passed on as a
    shutdown once its data is through, and the pair goes when both directions are done
    or one fails."""

    def __init__(self, sel):
        self.sel = sel
        self.other: dict[socket.socket, socket.socket] = {}
        self.out: dict[socket.socket, bytearray] = {}  # to be written to the end
        self.eof: set[socket.socket] = set()  # ends that sent their EOF
        self.shut: set[socket.socket] = set()  # ends whose writing side is shut down
        self.events: dict[socket.socket, int] = {}

    def add(self, a: socket.socket, b: socket.socket) -> None:
        for x, y in ((a, b), (b, a)):
            x.setblocking(False)
            self.other[x], self.out[x] = y, bytearray()
        self._watch(a)
        self._watch(b)

    def event(self, s: socket.socket, mask: int) -> None:
        import selectors
        peer = self.other[s]
        try:
            if mask & selectors.EVENT_WRITE:
                self._flush(s)
            if mask & selectors.EVENT_READ and s in self.other:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    data = None
                if data == b"":
                    self.eof.add(s)
                    if not self.out[peer]:
                        self._shut(peer)
                elif data:
                    self.out[peer] += data
                    self._flush(peer)
        except OSError:
            self._close(s)
            return
        if s in self.other:
            if s in self.shut and peer in self.shut:
                self._close(s)
                return
            self._watch(s)
            self._watch(peer)

    def _flush(self, x: socket.socket) -> None:
        buf = self.out[x]
        if buf:
            try:
                del buf[:x.send(buf)]
            except BlockingIOError:
                pass
        if not buf and self.other[x] in self.eof and x not in self.shut:
            self._shut(x)

    def _shut(self, x: socket.socket) -> None:
        x.shutdown(socket.SHUT_WR)
        self.shut.add(x)

    def _watch(self, x: socket.socket) -> None:
        import selectors
        ev = ((selectors.EVENT_READ if x not in self.eof and not self.out[self.other[x]] else 0)
              | (selectors.EVENT_WRITE if self.out[x] else 0))
        had = self.events.get(x, 0)
        if ev == had:
            return
        if not ev:
            self.sel.unregister(x)
            del self.events[x]
            return
        if had:
            self.sel.modify(x, ev)
        else:
            self.sel.register(x, ev)
        self.events[x] = ev

    def _close(self, s: socket.socket) -> None:
        for x in (s, self.other[s]):
            if self.events.pop(x, 0):
                self.sel.unregister(x)
            self.other.pop(x, None)
            self.out.pop(x, None)
            self.eof.discard(x)
            self.shut.discard(x)
            x.close()


def docker_ports(bindings: list[dict], exposed: list[str] = ()) -> dict:
    """NetworkSettings.Ports: {"80/tcp": [{"HostIp", "HostPort"}], "443/tcp": None}."""
    out: dict = {p: None for p in exposed}
    for b in bindings:
        out.setdefault(key(b), None)
        if out[key(b)] is None:
            out[key(b)] = []
        out[key(b)].append({"HostIp": b["HostIp"], "HostPort": str(b["HostPort"])})
    return out
