"""A container's network sandbox: what its shim sets up before PID 1 starts
and takes down after the container's end.

- ``none``: PID 1 unshares an empty namespace itself (lo only); ``host``:
  the host's; ``container:NAME``: the namespace of another running container.
- a bridge network (``bridge``, the default, or a user-defined one): host
  ports are reserved, a namespace is made and held by the shim, a veth joins
  it to each network the container is attached to, ports are published, and
  on user-defined networks a resolver answers on 127.0.0.11.

Also writes the container's /etc/hosts and /etc/resolv.conf.
"""
from __future__ import annotations

import os
import socket
from typing import Optional

from .config import DEFAULT_NETWORK, NetworkError, Networks
from .ports import Reservation, docker_ports


HOSTS_HEAD = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def mode_kind(mode: str) -> str:
    if mode in ("none", "host"):
        return mode
    if mode.startswith("container:"):
        return "container"
    return "bridge"


def network_of(mode: str) -> str:
    return DEFAULT_NETWORK if mode in ("bridge", "default") else mode


class Sandbox:
    def __init__(self, store, c):
        self.store = store
        self.c = c
        self.netns_fd: Optional[int] = None
        self.reservation = Reservation()
        self.resolver = None
        self.attached = False
        self.child = None  # begin's, until finish takes its result
        self.go_w = -1  # ... which waits for go's word before it attaches the container
        self.reaping = None  # ... and then until settle reaps it
        self.settings: Optional[dict] = None  # a bridged container's NetworkSettings, which the shim saves
        self.proxies: list = []  # a ports.Proxy for what comes over [::1], if any port is relayed

    @classmethod
    def setup(cls, store, c) -> "Sandbox":
        return cls.begin(store, c).finish()

    @classmethod
    def begin(cls, store, c) -> "Sandbox":
        """Start what takes a while (a bridged container's child, netlink.Child), so that the
        caller's own work overlaps it; ``finish`` sets up the rest and takes its result."""
        sb = cls(store, c)
        if mode_kind(c.config["HostConfig"].get("NetworkMode") or "none") == "bridge":
            from .netlink import Child
            go_r, sb.go_w = os.pipe2(os.O_CLOEXEC)
            try:
                sb.child = Child(sb._bridge, go_r, *sb._files_args())
            except BaseException:
                os.close(sb.go_w)
                sb.go_w = -1
                raise
            finally:
                os.close(go_r)
        return sb

    def go(self) -> None:
        """The shim is recorded (its ShimPid): begin's child may attach the container to its
        networks (an endpoint whose container has no live shim is anyone's gc to release)."""
        if self.go_w >= 0:
            try:
                os.write(self.go_w, b"g")
            except OSError:  # the child is gone: finish says why
                pass
            finally:
                os.close(self.go_w)
                self.go_w = -1

    def finish(self) -> "Sandbox":
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def _files_args(self) -> tuple:
        hc = self.c.config["HostConfig"]
        extra = "".join(f"{ip}\t{name}\n" for name, ip in (h.split(":", 1) for h in hc.get("ExtraHosts") or []))
        return (self.c.config["Config"]["Hostname"], extra, hc.get("Dns") or [], hc.get("DnsSearch") or [],
                hc.get("DnsOptions") or [])

    def _setup(self) -> None:
        from .dns import resolv_conf
        c = self.c
        hc = c.config["HostConfig"]
        mode = hc.get("NetworkMode") or "none"
        kind = mode_kind(mode)
        hn = c.config["Config"]["Hostname"]
        dns = hc.get("Dns") or []
        search = hc.get("DnsSearch") or []
        options = hc.get("DnsOptions") or []
        extra = "".join(f"{ip}\t{name}\n" for name, ip in (h.split(":", 1) for h in hc.get("ExtraHosts") or []))
        if kind == "host":
            self._write("hosts", _read("/etc/hosts") + extra)
            self._write("resolv.conf", _read("/etc/resolv.conf"))
            return
        if kind == "container":
            from ..containers import find
            other = find(self.store, mode.split(":", 1)[1])
            if other is None or not other.running():
                raise NetworkError(f"cannot join the network of container {mode.split(':', 1)[1]}: it is not running",
                                   status=409)
            self.netns_fd = os.open(f"/proc/{other.state['Pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            self._write("hosts", _read(str(other.dir / "hosts")))
            self._write("resolv.conf", _read(str(other.dir / "resolv.conf")) or resolv_conf(False, dns, search, options))
            return
        if kind == "none":
            head = HOSTS_HEAD
            if c.config.get("Build"):  # BuildKit's RUN (executor/oci/hosts.go): its hostname resolves, on loopback
                head = head.replace("\tlocalhost\n", f"\tlocalhost {hn}\n", 1)
            self._write("hosts", head + extra)
            self._write("resolv.conf", resolv_conf(False, dns, search, options))
            return
        # bridge networks: set up by a child of ours (netlink.in_child), so what that touches
        # (records, pyroute2's code, libnftables for published ports) is not copied here for
        # the container's life; the namespace, the host ports' and the resolver's sockets come back
        child, self.child = self.child, None
        if child is None:
            from .netlink import Child
            child = Child(self._bridge, -1, *self._files_args())
        self.reaping = child
        out, fds = child.result()
        self.netns_fd = fds[0]
        self.attached = out["attached"]
        self.reservation.socks = [socket.socket(fileno=fd) for fd in fds[1:1 + out["ports"]]]
        from .ports import Proxy
        if out["proxied"]:
            self.proxies = [Proxy([(self.reservation.socks[i], (ip, port)) for i, ip, port in out["proxied"]])]
        if out["embedded"]:
            from .dns import Resolver, host_nameservers
            nets = Networks(self.store)
            cid = c.id
            udp, tcp = (socket.socket(fileno=fd) for fd in fds[-2:])
            for sock in (udp, tcp):
                sock.setblocking(False)
            self.resolver = Resolver(lambda: nets.names_for(cid), udp, list(dns) or host_nameservers()[0], tcp)
        self.settings = dict(out["settings"], SandboxKey=f"/proc/{os.getpid()}/fd/{self.netns_fd}")

    def _bridge(self, go_r: int, hn: str, extra: str, dns: list, search: list,
                options: list) -> tuple[dict, list[int]]:
        """In the child: ports reserved, the namespace made and joined to each network (once
        GO_R says so, if it is not -1: Sandbox.go), hosts and resolv.conf written; (what the
        shim keeps, [netns, *port sockets, resolver])."""
        if go_r >= 0:
            os.close(self.go_w)  # (the shim's end: its exit is a no)
        from .dns import bind_inside, resolv_conf
        c = self.c
        hc = c.config["HostConfig"]
        mode = hc.get("NetworkMode") or "none"
        nets = Networks(self.store)
        try:
            with nets.lock():
                nets._gc_locked()
            configs = c.config.get("NetworkConfigs") or {}
            # the network of --network first (eth0, published ports), then those connected later;
            # none at all if the container was disconnected from every one (lo only)
            wanted = []
            for name in sorted(configs, key=lambda n: n != network_of(mode)):
                wanted.append((nets.ensure_default() if name == DEFAULT_NETWORK else nets.get(name), configs[name]))
            bindings = list(hc.get("PortBindings") or [])
            exposed = list((c.config["Config"].get("ExposedPorts") or {}).keys())
            if hc.get("PublishAllPorts"):
                have = {f"{b['Port']}/{b['Proto']}" for b in bindings}
                for p in exposed:
                    if p not in have:
                        port, _, proto = p.partition("/")
                        bindings.append({"Proto": proto or "tcp", "HostIp": "0.0.0.0", "HostPort": 0, "Port": int(port)})
            if not wanted:
                bindings = []
            ports = self.reservation.reserve(bindings)
            if wanted and os.path.exists("/proc/net/if_inet6"):
                # docker's two bindings for a port on every address, on any network: [::] too
                # (on an IPv4-only one relayed to the container's IPv4 address, as docker-proxy does)
                ports += self.reservation.reserve([dict(p, HostIp="::") for p in ports if p["HostIp"] == "0.0.0.0"])
            from .netlink import new_netns
            self.netns_fd = new_netns()
            if go_r >= 0 and os.read(go_r, 1) != b"g":
                raise NetworkError("the container's shim ended before its network was made", status=500)
            settings = {}
            for i, (net, conf) in enumerate(wanted):
                ep = nets.attach(net["Id"], c.id, c.name, self.netns_fd, index=i, ip=conf.get("IPv4Address") or None,
                                 aliases=tuple(conf.get("Aliases") or ()), ports=ports if i == 0 else None,
                                 ip6=conf.get("IPv6Address") or None)
                self.attached = True
                settings[net["Name"]] = endpoint_settings(ep)
            main = settings[wanted[0][0]["Name"]] if wanted else {"IPAddress": "", "Gateway": "", "MacAddress": ""}
            embedded = bool(wanted) and not wanted[0][0].get("Default")
            self._write("hosts", HOSTS_HEAD + (f"{main['IPAddress']}\t{hn}\n" if wanted else "") + extra)
            self._write("resolv.conf", resolv_conf(embedded, dns, search, options))
            fds = [self.netns_fd, *(s.fileno() for s in self.reservation.socks)]
            if embedded:
                fds += [sock.detach() for sock in bind_inside(self.netns_fd)]
        except BaseException:
            if self.attached:
                nets.release(c.id, links=False)
            raise
        proxied = [(i, to, p["Port"]) for i, p in enumerate(ports)
                   if (to := relay_target(p["HostIp"], main["IPAddress"], main.get("GlobalIPv6Address")))]
        return {"attached": self.attached, "ports": len(self.reservation.socks), "embedded": embedded,
                "proxied": proxied,
                "settings": {"Networks": settings, "Ports": docker_ports(ports, exposed),
                             "IPAddress": main["IPAddress"], "Gateway": main["Gateway"],
                             "MacAddress": main["MacAddress"]}}, fds

    def _write(self, name: str, text: str) -> None:
        with open(self.c.dir / name, "w") as f:
            f.write(text)

    def settle(self) -> None:
        """The set-up child reaped: its exit (a ms or two of the kernel's) is waited
        for once the container runs, not on its start's path."""
        child, self.reaping = self.reaping, None
        if child is not None:
            child.reap()

    def close(self) -> None:
        """After the container's end: nothing of its network is left.  The namespace
        (ours alone once the resolver is closed) goes first and takes the veths with it."""
        for proxy in self.proxies:
            proxy.close()
        self.proxies = []
        if self.go_w >= 0:  # (its child is not to wait for it)
            os.close(self.go_w)
            self.go_w = -1
        if self.child is not None:  # begun, never finished: its result is taken and let go
            child, self.child = self.child, None
            try:
                out, fds = child.result()
            except Exception:  # noqa: BLE001 - it released what it had taken
                pass
            else:
                for fd in fds:
                    os.close(fd)
                self.attached = out["attached"]
            child.reap()
        self.settle()
        if self.resolver is not None:
            self.resolver.close()
            self.resolver = None
        if self.netns_fd is not None:
            os.close(self.netns_fd)
            self.netns_fd = None
        if self.attached:
            try:
                Networks(self.store).release(self.c.id, links=False)
            except Exception:  # noqa: BLE001
                import traceback
                traceback.print_exc()
            self.attached = False
        self.reservation.close()


def relay_target(host_ip: str, ip: str, ip6: Optional[str]) -> Optional[str]:
    """Where the shim relays (ports.Proxy) a port published on HOST_IP to, for a container with
    address IP (and IP6 on a dual-stack network); None: DNAT alone takes it there.  IPv6 cannot
    DNAT from the loopback: [::1] is relayed to IP, and [::1] to a port on [::] to IP6; an
    IPv4-only container has no address for an IPv6 DNAT: every IPv6 binding is relayed to IP,
    as docker-proxy does."""
    if host_ip == "::1":
        return ip
    if ":" not in host_ip:
        return None
    if not ip6:
        return ip
    return ip6 if host_ip == "::" else None


def endpoint_settings(ep: dict) -> dict:
    return {"NetworkID": ep["NetworkID"], "IPAddress": ep["IPAddress"], "IPPrefixLen": ep["IPPrefixLen"],
            "Gateway": ep["Gateway"], "MacAddress": ep["MacAddress"], "Aliases": ep.get("Aliases") or None,
            "Interface": ep["Interface"], "GlobalIPv6Address": ep.get("GlobalIPv6Address", ""),
            "GlobalIPv6PrefixLen": ep.get("GlobalIPv6PrefixLen", 0), "IPv6Gateway": ep.get("IPv6Gateway", "")}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""

