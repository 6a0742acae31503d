"""Links, addresses and routes through netlink (pyroute2).

Network namespaces are per thread in Linux: a container's namespace is made
and configured from a short-lived thread that unshares (or enters) it, so the
calling process never leaves the host's namespace.  The namespace is held by
a file descriptor (the shim's, for the container's lifetime); PID 1 enters it
with setns, and it vanishes, veths with it, when the last holder is gone.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import threading

from ..runtime.linux import CLONE_NEWNET, setns, unshare


class NetlinkError(Exception):
    pass


def _iproute():
    from pyroute2 import IPRoute  # ~0.2 s to import: only for containers that have a network
    return IPRoute()


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


def _index(ip, name: str) -> int:
    idx = ip.link_lookup(ifname=name)
    if not idx:
        raise NetlinkError(f"no such link: {name}")
    return idx[0]


def _lo_up(ip) -> None:
    ip.link("set", index=_index(ip, "lo"), state="up")


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
    with _iproute() as ip:
        if not ip.link_lookup(ifname=name):
            ip.link("add", ifname=name, kind="bridge")
        idx = _index(ip, name)
        have = {a.get_attr("IFA_ADDRESS") for a in ip.get_addr(index=idx, family=2)}
        if gateway not in have:
            ip.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
        ip.link("set", index=idx, state="up")
    # published ports on 127.0.0.1 are DNATed out of this bridge, then masqueraded
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")
    _sysctl("net/ipv4/ip_forward", "1")


def delete_link(name: str) -> bool:
    """Remove link NAME (a bridge, or a veth with its peer); False if it was not there."""
    with _iproute() as ip:
        idx = ip.link_lookup(ifname=name)
        if not idx:
            return False
        try:
            ip.link("del", index=idx[0])
        except Exception as e:  # noqa: BLE001 - gone meanwhile
            if ip.link_lookup(ifname=name):
                raise NetlinkError(f"removing {name}: {e}") from None
        return True


def _sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def attach(netns_fd: int, bridge: str, host_if: str, inside_if: str, address: str, prefixlen: int,
           gateway: str | None, mac: str) -> None:
    """A veth pair: HOST_IF on BRIDGE, its peer INSIDE_IF in the namespace of
    NETNS_FD with ADDRESS/PREFIXLEN and MAC, and a default route via GATEWAY."""
    tmp = "dt" + host_if[2:]
    from pyroute2.netlink.exceptions import NetlinkError as KernelError
    with _iproute() as ip:
        br = _index(ip, bridge)
        try:
            ip.link("add", ifname=host_if, kind="veth", peer={"ifname": tmp, "net_ns_fd": netns_fd})
        except KernelError as e:
            if e.code != errno.EEXIST:
                raise
            # the container's last veth, still going with its namespace (Sandbox.close)
            delete_link(host_if)
            ip.link("add", ifname=host_if, kind="veth", peer={"ifname": tmp, "net_ns_fd": netns_fd})
        try:
            ip.link("set", index=_index(ip, host_if), master=br, state="up")
        except BaseException:
            ip.link("del", index=_index(ip, host_if))
            raise

    def inside():
        setns(netns_fd, CLONE_NEWNET)
        _sysctl("net/ipv6/conf/all/disable_ipv6", "1")  # as docker: no IPv6 unless asked for
        with _iproute() as ip:
            idx = _index(ip, tmp)
            ip.link("set", index=idx, ifname=inside_if, address=mac)
            ip.addr("add", index=idx, address=address, prefixlen=prefixlen)
            ip.link("set", index=idx, state="up")
            if gateway:
                ip.route("add", dst="0.0.0.0/0", gateway=gateway)
    try:
        _in_thread(inside)
    except BaseException:
        delete_link(host_if)
        raise


def host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes other than the default (for subnet overlap checks)."""
    out = []
    with _iproute() as ip:
        for r in ip.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            if dst and r["dst_len"]:
                out.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
    return out


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 and the four bytes of the address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)
