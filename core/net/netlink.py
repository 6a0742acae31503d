"""Links, addresses and routes through rtnetlink, in pyroute2's messages.

Network namespaces are per thread in Linux: a container's namespace is made
and configured from a short-lived thread that unshares (or enters) it, or a
short-lived child process, so the calling process never leaves the host's
namespace.  The namespace is held by a file descriptor (the shim's, for the
container's lifetime); PID 1 enters it with setns, and it vanishes, veths
with it, when the last holder is gone.

pyroute2 encodes and decodes the messages (``ifinfmsg``, ``ifaddrmsg``,
``rtmsg`` and its ``Marshal``); they go over one plain rtnetlink socket per
use.  Its ``IPRoute`` is not used: it is asyncio underneath (0.12 s and
7.5 MiB to import, most of a bridged container's start), and the package's
``__init__`` imports every module of the library (asyncio, sqlite3, ssl,
unittest.mock: 0.1 s, 12 MiB more), so the package is entered without it
(``_enter_pyroute2``).  The message classes cost 10 ms and 1.5 MiB, imported
once by the fork server before it forks shims, which share those pages; a
shim's network is set up by a child of it (``in_child``), so the pages
pyroute2's code touches are copied there and go with it.
"""
from __future__ import annotations

import errno
import importlib.util
import ipaddress
import marshal
import os
import socket
import sys
import threading

from ..errors import System
from ..runtime.linux import CLONE_NEWNET, setns, unshare


def _enter_pyroute2() -> None:
    """pyroute2's package with its ``__path__`` only, so its submodules import
    without its ``__init__``.  That runs, in full, the first time a name of the
    package other than a submodule is asked for (PEP 562): ``from pyroute2
    import IPRoute`` anywhere else in the process still works."""
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None:
        raise ImportError("pyroute2 is not installed (a dependency of dunnage: pip install pyroute2)")
    pkg = importlib.util.module_from_spec(spec)

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:  # ("from pyroute2 import config")
            return importlib.import_module(f"pyroute2.{name}")
        del pkg.__dict__["__getattr__"]
        spec.loader.exec_module(pkg)
        return getattr(pkg, name)
    pkg.__getattr__ = __getattr__
    sys.modules["pyroute2"] = pkg


_enter_pyroute2()

from pyroute2.netlink import (  # noqa: E402
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nlmsgerr)
from pyroute2.netlink.marshal import Marshal  # noqa: E402
from pyroute2.netlink.rtnl import (  # noqa: E402
    RTM_DELLINK, RTM_GETADDR, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, rt_proto, rt_scope, rt_type)
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402

RT_TABLE_MAIN = 254


class NetlinkError(System):
    pass


class _Marshal(Marshal):
    """The answers dunnage reads (links, addresses, routes; errors and acks are Marshal's own)."""
    msg_map = {RTM_NEWLINK: ifinfmsg, RTM_NEWADDR: ifaddrmsg, RTM_NEWROUTE: rtmsg}


_MARSHAL = _Marshal()


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


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

    def _encode(self, msg, kind: int, flags: int) -> int:
        self.seq += 1
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        return self.seq

    def _send(self, msg, kind: int, flags: int) -> int:
        seq = self._encode(msg, kind, flags)
        self.sock.send(msg.data)
        return seq

    def _replies(self, seq: int):
        """The answers to SEQ, until its end (an ack, an error or DONE)."""
        while True:
            for msg in _MARSHAL.parse(self.sock.recv(1 << 16)):
                header = msg["header"]
                if header["sequence_number"] != seq:
                    continue
                if header.get("error") is not None:
                    code = header["error"].code
                    raise OSError(code, os.strerror(code))
                if header["type"] in (NLMSG_ERROR, NLMSG_DONE):
                    return
                yield msg

    def request(self, msg, kind: int, flags: int = 0) -> None:
        """Send a change; raise OSError with the kernel's errno if it is refused."""
        for _ in self._replies(self._send(msg, kind, NLM_F_ACK | flags)):
            pass

    def requests(self, reqs: list[tuple]) -> None:
        """Changes REQS ((message, kind, flags) each) sent in one go: the kernel takes them
        in order and acks each; raise OSError with the errno of the first one refused."""
        seqs = [self._encode(msg, kind, NLM_F_ACK | flags) for msg, kind, flags in reqs]
        self.sock.send(b"".join(msg.data for msg, _, _ in reqs))
        pending = set(seqs)
        errors = {}
        while pending:
            for msg in _MARSHAL.parse(self.sock.recv(1 << 16)):
                header = msg["header"]
                seq = header["sequence_number"]
                if seq not in pending:
                    continue
                if header.get("error") is not None:
                    errors[seq] = header["error"].code
                if header.get("error") is not None or header["type"] in (NLMSG_ERROR, NLMSG_DONE):
                    pending.discard(seq)
        if errors:
            code = errors[min(errors)]
            raise OSError(code, os.strerror(code))

    def dump(self, msg, kind: int) -> list:
        return list(self._replies(self._send(msg, kind, NLM_F_DUMP)))

    # ---- what dunnage asks
    def new_link(self, name: str, kind: str, data: dict | None = None, master: int = 0, up: bool = False,
                 mtu: int | None = None) -> None:
        """Link NAME of KIND; with MASTER (an index) a port of it, UP, and MTU, from the start."""
        info = [("IFLA_INFO_KIND", kind)] + ([("IFLA_INFO_DATA", data)] if data else [])
        msg = _link(0, ("IFLA_IFNAME", name), *([("IFLA_MASTER", master)] if master else []),
                    *([("IFLA_MTU", mtu)] if mtu else []), ("IFLA_LINKINFO", {"attrs": info}))
        if up:
            msg["flags"] = msg["change"] = IFF_UP
        self.request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)

    def set_link(self, index: int, *attrs: tuple, up: bool = False) -> None:
        msg = _link(index, *attrs)
        if up:
            msg["flags"] = msg["change"] = IFF_UP
        self.request(msg, RTM_NEWLINK)

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        self.request(*_address(index, address, prefixlen))

    def addresses(self, index: int, family: int = socket.AF_INET) -> set[str]:
        msg = ifaddrmsg()
        msg["family"] = family
        return {m.get_attr("IFA_ADDRESS") for m in self.dump(msg, RTM_GETADDR)
                if m["index"] == index and m.get_attr("IFA_ADDRESS")}

    def routes(self, family: int) -> list:
        msg = rtmsg()
        msg["family"] = family
        return self.dump(msg, RTM_GETROUTE)


def _address(index: int, address: str, prefixlen: int) -> tuple:
    """The request that gives link INDEX ADDRESS/PREFIXLEN: (message, kind, flags)."""
    msg = ifaddrmsg()
    msg["family"] = _family(address)
    msg["prefixlen"] = prefixlen
    msg["index"] = index
    attrs = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
    if msg["family"] == socket.AF_INET:
        brd = ipaddress.ip_network(f"{address}/{prefixlen}", strict=False).broadcast_address
        attrs.append(("IFA_BROADCAST", str(brd)))
    else:
        msg["flags"] = IFA_F_NODAD  # ours alone in its subnet: usable at once, as docker's
    msg["attrs"] = attrs
    return msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL


def _default_route(gateway: str) -> tuple:
    """The request for a default route via GATEWAY: (message, kind, flags)."""
    msg = rtmsg()
    msg["family"] = _family(gateway)
    msg["table"] = RT_TABLE_MAIN
    msg["proto"] = rt_proto["boot"]
    msg["scope"] = rt_scope["universe"]
    msg["type"] = rt_type["unicast"]
    msg["attrs"] = [("RTA_GATEWAY", gateway)]
    return msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL


def _link(index: int, *attrs: tuple):
    msg = ifinfmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["index"] = index
    msg["attrs"] = list(attrs)
    return msg


def _warm() -> None:
    """Encode and decode each kind of message once: pyroute2 compiles a class's
    attribute tables at its first use, 1 ms here, once in the fork server before
    it forks rather than in each of its children."""
    msgs = [_link(1, ("IFLA_IFNAME", "dv"), ("IFLA_ADDRESS", "02:42:00:00:00:00"), ("IFLA_MASTER", 1),
                  ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [
                      ("VETH_INFO_PEER", {"attrs": [("IFLA_IFNAME", "dt"), ("IFLA_NET_NS_FD", 0)]})]})]})),
            ifaddrmsg(), ifaddrmsg(), rtmsg(), rtmsg(), nlmsgerr()]
    msgs[1]["family"] = msgs[3]["family"] = socket.AF_INET
    msgs[1]["attrs"] = [("IFA_LOCAL", "10.0.0.1"), ("IFA_ADDRESS", "10.0.0.1"), ("IFA_BROADCAST", "10.0.0.255")]
    msgs[2]["family"] = socket.AF_INET6
    msgs[2]["attrs"] = [("IFA_LOCAL", "fd00::1"), ("IFA_ADDRESS", "fd00::1")]
    msgs[3]["attrs"] = [("RTA_GATEWAY", "10.0.0.1"), ("RTA_DST", "10.0.0.0"), ("RTA_TABLE", RT_TABLE_MAIN)]
    msgs[4]["family"] = socket.AF_INET6
    msgs[4]["attrs"] = [("RTA_GATEWAY", "fd00::1")]
    for msg in msgs:
        msg.encode()
        type(msg)(msg.data).decode()


_warm()


def _index(name: str) -> int:
    """The index of link NAME in the calling thread's namespace."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise NetlinkError(f"no such link: {name}") from None


_ALONE = False  # in a Child: one thread, in a process that ends after its one task


def _in_thread(fn, *args):
    """Run FN in a fresh thread (whose network namespace FN may change); its result or its
    exception.  In a Child, FN runs in the calling thread, whose namespace is put back after:
    a thread's start waits for the scheduler to run it, some ms on busy CPUs."""
    if _ALONE:
        host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return fn(*args)
        finally:
            try:
                setns(host, CLONE_NEWNET)
            finally:
                os.close(host)
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


def ensure_bridge(name: str, gateway: str, prefixlen: int, gateway6: str | None = None,
                  prefixlen6: int | None = None, mtu: int | None = None) -> None:
    """Bridge NAME with GATEWAY/PREFIXLEN (and GATEWAY6/PREFIXLEN6) and MTU, up; made
    unless it is there."""
    with _Rtnl() as nl:
        try:
            idx = socket.if_nametoindex(name)
        except OSError:
            nl.new_link(name, "bridge", mtu=mtu)
            idx = _index(name)
        if gateway6:
            _sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "0")
            if gateway6 not in nl.addresses(idx, socket.AF_INET6):
                nl.add_address(idx, gateway6, prefixlen6)
        if gateway not in nl.addresses(idx):
            nl.add_address(idx, gateway, prefixlen)
        nl.set_link(idx, up=True)
    # published ports on 127.0.0.1 are DNATed out of this bridge, then masqueraded
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")
    _sysctl("net/ipv4/ip_forward", "1")
    if gateway6:
        _sysctl("net/ipv6/conf/all/forwarding", "1")  # as docker, with the first IPv6 network


def delete_link(name: str) -> bool:
    """Remove link NAME (a bridge, or a veth with its peer); False if it was not there."""
    try:
        idx = socket.if_nametoindex(name)
    except OSError:
        return False
    with _Rtnl() as nl:
        try:
            nl.request(_link(idx), RTM_DELLINK)
        except OSError as e:
            if e.errno != errno.ENODEV:  # gone meanwhile
                raise NetlinkError(f"removing {name}: {e.strerror}") from None
    return True


def _sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def attach(netns_fd: int, bridge: str, host_if: str, inside_if: str, addresses: list[tuple[str, int]],
           gateways: list[str], mac: str, mtu: int | None = None) -> None:
    """A veth pair: HOST_IF on BRIDGE, its peer INSIDE_IF in the namespace of
    NETNS_FD with ADDRESSES ((address, prefix length): an IPv4 one, an IPv6 one
    on a dual-stack network) and MAC, and default routes via GATEWAYS; both ends of
    MTU (the network's) if given."""
    tmp = "dt" + host_if[2:]
    br = _index(bridge)
    # one request: the pair, HOST_IF a port of BRIDGE and up, its peer with MAC in the namespace
    peer = {"attrs": [("IFLA_IFNAME", tmp), ("IFLA_ADDRESS", mac), ("IFLA_NET_NS_FD", netns_fd),
                      *([("IFLA_MTU", mtu)] if mtu else [])]}
    veth = {"attrs": [("VETH_INFO_PEER", peer)]}
    with _Rtnl() as nl:
        try:
            nl.new_link(host_if, "veth", veth, master=br, up=True, mtu=mtu)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise NetlinkError(f"adding {host_if}: {e.strerror}") from None
            # the container's last veth, still going with its namespace (Sandbox.close)
            delete_link(host_if)
            try:
                nl.new_link(host_if, "veth", veth, master=br, up=True, mtu=mtu)
            except OSError as e:
                raise NetlinkError(f"adding {host_if}: {e.strerror}") from None
    ipv6 = any(":" in a for a, _ in addresses)

    def inside():
        setns(netns_fd, CLONE_NEWNET)
        if ipv6:
            _sysctl("net/ipv6/conf/all/disable_ipv6", "0")
            _sysctl(f"net/ipv6/conf/{tmp}/disable_ipv6", "0")
        elif inside_if == "eth0":
            _sysctl("net/ipv6/conf/all/disable_ipv6", "1")  # as docker: no IPv6 unless asked for
        else:  # (eth0 may have it)
            _sysctl(f"net/ipv6/conf/{tmp}/disable_ipv6", "1")
        idx = _index(tmp)
        up = _link(idx, ("IFLA_IFNAME", inside_if))
        up["flags"] = up["change"] = IFF_UP
        with _Rtnl() as nl:  # in one go, in this order
            nl.requests([*(_address(idx, address, prefixlen) for address, prefixlen in addresses),
                         (up, RTM_NEWLINK, 0), *(_default_route(gateway) for gateway in gateways)])
    try:
        _in_thread(inside)
    except OSError as e:
        delete_link(host_if)
        raise NetlinkError(f"configuring {inside_if}: {e.strerror}") from None
    except BaseException:
        delete_link(host_if)
        raise


_FDS_AT_ONCE = 250  # SCM_MAX_FD: 253


def in_child(fn, *args) -> tuple:
    """FN(*ARGS) in a forked child (``Child``), waited for: (VALUE, FDS)."""
    child = Child(fn, *args)
    try:
        return child.result()
    finally:
        child.reap()


class Child:
    """FN(*ARGS) in a forked child, which leaves when it is done, so what it
    dirties (the pages of the fork server's objects that pyroute2's code and
    the records' touch, libnftables' heap) goes with it rather than staying in
    a long-lived process; the caller goes on meanwhile and takes its result
    when it needs it.  FN returns (VALUE, FDS): VALUE (what marshal takes) and
    the descriptors FDS come back as they are.  Its error is raised by
    ``result``: an OSError as one, anything else as a NetlinkError with its
    message (and its status, if it had one).  Its exit (the kernel unmapping
    what it dirtied: a ms or two) is waited for by ``reap``, later."""

    def __init__(self, fn, *args):
        self.sock, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.pidfd = -1
        self.pid = os.fork()
        if self.pid == 0:
            try:
                global _ALONE
                _ALONE = True
                self.sock.close()
                try:
                    value, fds = fn(*args)
                    for i in range(0, len(fds), _FDS_AT_ONCE):  # (a range of published ports: many sockets)
                        socket.send_fds(its, [b"F"], fds[i:i + _FDS_AT_ONCE])
                    its.send(marshal.dumps(("ok", value)))
                except OSError as e:
                    its.send(marshal.dumps(("os", e.errno or 0, e.strerror or str(e))))
                except BaseException as e:  # noqa: BLE001
                    its.send(marshal.dumps(("error", str(e) or type(e).__name__, getattr(e, "status", None))))
            finally:
                os._exit(0)
        its.close()

    def result(self) -> tuple:
        fds: list[int] = []
        msg = b""
        try:
            with self.sock:
                while True:
                    msg, got, _, _ = socket.recv_fds(self.sock, 1 << 20, _FDS_AT_ONCE, socket.MSG_CMSG_CLOEXEC)
                    fds += got
                    if msg != b"F":
                        break
        finally:
            try:
                if not os.waitpid(self.pid, os.WNOHANG)[0]:
                    self.pidfd = os.pidfd_open(self.pid)  # (this child, whoever reaps it and forks meanwhile)
            except (ChildProcessError, ProcessLookupError):
                pass
        out = marshal.loads(msg) if msg else ("error", "the network set-up's process died", None)
        if out[0] != "ok":
            for fd in fds:
                os.close(fd)
        if out[0] == "os":
            raise OSError(out[1], out[2])
        if out[0] == "error":
            raise NetlinkError(out[1], status=out[2])
        return out[1], fds

    def reap(self) -> None:
        """Wait for the child's end, once ``result`` is taken (which does not)."""
        fd, self.pidfd = self.pidfd, -1
        if fd < 0:
            return
        try:
            os.waitid(os.P_PIDFD, fd, os.WEXITED)
        except ChildProcessError:  # reaped meanwhile (a shim's waitpid(-1), at its PID 1's end)
            pass
        finally:
            os.close(fd)


def host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes other than the default (for subnet overlap checks)."""
    out = []
    with _Rtnl() as nl:
        for m in nl.routes(socket.AF_INET):
            table = m.get_attr("RTA_TABLE") or m["table"]
            dst = m.get_attr("RTA_DST")
            if table == RT_TABLE_MAIN and dst and m["dst_len"]:
                out.append(ipaddress.ip_network(f"{dst}/{m['dst_len']}", strict=False))
    return out


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 and the four bytes of the address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)
