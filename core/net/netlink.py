"""Links, addresses and routes through rtnetlink.

Network namespaces are per thread in Linux: a container's namespace is made
and configured from a short-lived thread that unshares (or enters) it, so the
calling process never leaves the host's namespace.  The namespace is held by
a file descriptor (the shim's, for the container's lifetime); PID 1 enters it
with setns, and it vanishes, veths with it, when the last holder is gone.

The messages are built here (struct, one socket per use): the dozen requests
dunnage makes (rtnetlink(7): links, addresses, routes) did not need pyroute2,
whose asyncio core cost 0.2 s to import, 13 MiB, and 0.9 ms per request, most
of a bridged container's start.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import threading

from ..errors import System
from ..runtime.linux import CLONE_NEWNET, setns, unshare

class NetlinkError(System):
    pass


# rtnetlink(7), netlink(7), <linux/if_link.h>, <linux/veth.h>, <linux/rtnetlink.h>
RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_GATEWAY, RTA_TABLE = 1, 5, 15
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1
_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags


def _attr(kind: int, data: bytes) -> bytes:
    """One rtattr (nested ones are attributes joined as DATA), padded to 4 bytes."""
    n = 4 + len(data)
    return struct.pack("=HH", n, kind) + data + b"\0" * (-n % 4)


def _attrs(buf: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    off = 0
    while off + 4 <= len(buf):
        n, kind = struct.unpack_from("=HH", buf, off)
        if n < 4:
            break
        out.setdefault(kind & 0x3FFF, buf[off + 4:off + n])
        off += (n + 3) & ~3
    return out


def _name(name: str) -> bytes:
    return _attr(IFLA_IFNAME, name.encode() + b"\0")


def _link(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


class _Rtnl:
    """An rtnetlink socket in the calling thread's network namespace."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> "_Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | flags, self.seq, 0) + body)
        return self.seq

    def _replies(self, seq: int):
        """(type, payload) of the answers to SEQ, until its end (an ack, an error or DONE)."""
        while True:
            buf = self.sock.recv(1 << 16)
            off = 0
            while off + _HDR.size <= len(buf):
                n, kind, _, s, _ = _HDR.unpack_from(buf, off)
                payload = buf[off + _HDR.size:off + n]
                off += (n + 3) & ~3
                if s != seq:
                    continue
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return
                if kind == NLMSG_DONE:
                    return
                yield kind, payload

    def request(self, kind: int, body: bytes, flags: int = 0) -> None:
        """Send a change; raise OSError with the kernel's errno if it is refused."""
        for _ in self._replies(self._send(kind, NLM_F_ACK | flags, body)):
            pass

    def dump(self, kind: int, body: bytes) -> list[tuple[int, bytes]]:
        return list(self._replies(self._send(kind, NLM_F_DUMP, body)))

    # ---- what dunnage asks
    def set_link(self, index: int, *attrs: bytes, up: bool = False) -> None:
        self.request(RTM_NEWLINK, _link(index, IFF_UP if up else 0, IFF_UP if up else 0) + b"".join(attrs))

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        a = socket.inet_aton(address)
        brd = ipaddress.ip_network(f"{address}/{prefixlen}", strict=False).broadcast_address.packed
        self.request(RTM_NEWADDR, _IFADDR.pack(socket.AF_INET, prefixlen, 0, 0, index)
                     + _attr(IFA_LOCAL, a) + _attr(IFA_ADDRESS, a) + _attr(IFA_BROADCAST, brd),
                     NLM_F_CREATE | NLM_F_EXCL)

    def addresses(self, index: int) -> set[str]:
        out = set()
        for kind, p in self.dump(RTM_GETADDR, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            if kind == RTM_NEWADDR and _IFADDR.unpack_from(p)[4] == index:
                a = _attrs(p[_IFADDR.size:]).get(IFA_ADDRESS)
                if a:
                    out.add(socket.inet_ntoa(a))
        return out


def _index(name: str) -> int:
    """The index of link NAME in the calling thread's namespace."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise NetlinkError(f"no such link: {name}") from None


def _in_thread(fn, *args):
    """Run FN in a fresh thread (whose network namespace FN may change); its result or its exception."""
    out: dict = {}

    def body():
        try:
            out["v"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            out["e"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out.get("v")


def new_netns() -> int:
    """A new network namespace with lo up; returns a descriptor that holds it."""
    def make():
        unshare(CLONE_NEWNET)
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        from . import loopback_up
        loopback_up()
        return fd
    return _in_thread(make)


def ensure_bridge(name: str, gateway: str, prefixlen: int) -> None:
    """Bridge NAME with GATEWAY/PREFIXLEN, up; made unless it is there."""
    with _Rtnl() as nl:
        try:
            idx = socket.if_nametoindex(name)
        except OSError:
            nl.request(RTM_NEWLINK, _link() + _name(name) + _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, b"bridge")),
                       NLM_F_CREATE | NLM_F_EXCL)
            idx = _index(name)
        if gateway not in nl.addresses(idx):
            nl.add_address(idx, gateway, prefixlen)
        nl.set_link(idx, up=True)
    # published ports on 127.0.0.1 are DNATed out of this bridge, then masqueraded
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")
    _sysctl("net/ipv4/ip_forward", "1")


def delete_link(name: str) -> bool:
    """Remove link NAME (a bridge, or a veth with its peer); False if it was not there."""
    try:
        idx = socket.if_nametoindex(name)
    except OSError:
        return False
    with _Rtnl() as nl:
        try:
            nl.request(RTM_DELLINK, _link(idx))
        except OSError as e:
            if e.errno != errno.ENODEV:  # gone meanwhile
                raise NetlinkError(f"removing {name}: {e.strerror}") from None
    return True


def _sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def attach(netns_fd: int, bridge: str, host_if: str, inside_if: str, address: str, prefixlen: int,
           gateway: str | None, mac: str) -> None:
    """A veth pair: HOST_IF on BRIDGE, its peer INSIDE_IF in the namespace of
    NETNS_FD with ADDRESS/PREFIXLEN and MAC, and a default route via GATEWAY."""
    tmp = "dt" + host_if[2:]
    br = _index(bridge)
    peer = _attr(VETH_INFO_PEER, _link() + _name(tmp) + _attr(IFLA_NET_NS_FD, struct.pack("=I", netns_fd)))
    veth = _link() + _name(host_if) + _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, peer))
    with _Rtnl() as nl:
        try:
            nl.request(RTM_NEWLINK, veth, NLM_F_CREATE | NLM_F_EXCL)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise NetlinkError(f"adding {host_if}: {e.strerror}") from None
            # the container's last veth, still going with its namespace (Sandbox.close)
            delete_link(host_if)
            nl.request(RTM_NEWLINK, veth, NLM_F_CREATE | NLM_F_EXCL)
        try:
            nl.set_link(_index(host_if), _attr(IFLA_MASTER, struct.pack("=I", br)), up=True)
        except BaseException:
            delete_link(host_if)
            raise

    def inside():
        setns(netns_fd, CLONE_NEWNET)
        _sysctl("net/ipv6/conf/all/disable_ipv6", "1")  # as docker: no IPv6 unless asked for
        with _Rtnl() as nl:
            idx = _index(tmp)
            nl.set_link(idx, _name(inside_if), _attr(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", ""))))
            nl.add_address(idx, address, prefixlen)
            nl.set_link(idx, up=True)
            if gateway:
                nl.request(RTM_NEWROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                                                     RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                           + _attr(RTA_GATEWAY, socket.inet_aton(gateway)), NLM_F_CREATE | NLM_F_EXCL)
    try:
        _in_thread(inside)
    except OSError as e:
        delete_link(host_if)
        raise NetlinkError(f"configuring {inside_if}: {e.strerror}") from None
    except BaseException:
        delete_link(host_if)
        raise


def host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes other than the default (for subnet overlap checks)."""
    out = []
    with _Rtnl() as nl:
        for kind, p in nl.dump(RTM_GETROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
            if kind != RTM_NEWROUTE:
                continue
            _, dst_len, _, _, table, *_ = _RTMSG.unpack_from(p)
            attrs = _attrs(p[_RTMSG.size:])
            if RTA_TABLE in attrs:
                table = struct.unpack("=I", attrs[RTA_TABLE])[0]
            dst = attrs.get(RTA_DST)
            if table == RT_TABLE_MAIN and dst and dst_len:
                out.append(ipaddress.ip_network(f"{socket.inet_ntoa(dst)}/{dst_len}", strict=False))
    return out


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 and the four bytes of the address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)
