"""core/net/netlink.py: rtnetlink's messages are pyroute2's, and the package is
entered without its __init__ (which imports every module of the library: asyncio,
sqlite3, ssl, unittest.mock), which still runs for a name asked of it."""
from __future__ import annotations

import socket
import subprocess
import sys


def _python(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_netlink_takes_pyroute2s_message_classes_and_not_the_whole_library():
    out = _python("import sys, dunnage.core.net.netlink as n\n"
                  "print(n.ifinfmsg.__module__, 'asyncio' in sys.modules, 'pyroute2.iproute' in sys.modules,"
                  " 'sqlite3' in sys.modules)")
    assert out == "pyroute2.netlink.rtnl.ifinfmsg False False False"


def test_the_rest_of_pyroute2_is_still_there_for_whoever_asks():
    out = _python("import dunnage.core.net.netlink\n"
                  "from pyroute2 import IPRoute, config\n"
                  "import pyroute2\n"
                  "print(IPRoute.__name__, pyroute2.__version__ != 'unknown', config.__name__)")
    assert out == "IPRoute True pyroute2.config"


def test_a_veth_pair_request_is_what_the_kernel_reads():
    """The request that makes a container's veth pair, its peer in the namespace of
    descriptor 7 (rtnetlink(7): ifinfomsg, then IFLA_IFNAME, and IFLA_LINKINFO
    nesting the kind and VETH_INFO_PEER, itself an ifinfomsg with attributes)."""
    from dunnage.core.net import netlink
    peer = {"attrs": [("IFLA_IFNAME", "dtabc"), ("IFLA_NET_NS_FD", 7)]}
    msg = netlink._link(0, ("IFLA_IFNAME", "dvabc"), ("IFLA_LINKINFO", {"attrs": [
        ("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]}))
    msg["header"]["type"] = netlink.RTM_NEWLINK
    msg.encode()
    back = netlink.ifinfmsg(msg.data)
    back.decode()
    assert back["header"]["length"] == len(msg.data) == 0x68
    assert back["family"] == socket.AF_UNSPEC and back.get_attr("IFLA_IFNAME") == "dvabc"
    info = back.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    got = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert got.get_attr("IFLA_IFNAME") == "dtabc" and got.get_attr("IFLA_NET_NS_FD") == 7


def test_the_helper_child_hands_back_its_value_descriptors_and_errors():
    import errno
    import os

    import pytest
    from dunnage.core.net import netlink

    def pipes():
        ends = [fd for _ in range(200) for fd in os.pipe()]  # more than one message's worth (SCM_MAX_FD)
        os.write(ends[-1], b"x")
        return {"pid": os.getpid(), "n": len(ends)}, ends
    value, fds = netlink.in_child(pipes)
    try:
        assert value["pid"] != os.getpid() and value["n"] == len(fds) == 400
        assert os.read(fds[-2], 1) == b"x"
    finally:
        for fd in fds:
            os.close(fd)

    def fails():
        raise OSError(errno.EEXIST, "File exists")
    with pytest.raises(OSError) as e:
        netlink.in_child(fails)
    assert e.value.errno == errno.EEXIST

    def refuses():
        from dunnage.core.net.ports import PortError
        raise PortError("Bind for 0.0.0.0:80 failed: port is already allocated", status=409)
    with pytest.raises(netlink.NetlinkError, match="port is already allocated") as e:
        netlink.in_child(refuses)
    assert e.value.status == 409


def test_changes_sent_in_one_go_are_each_answered_and_the_first_refusal_is_raised():
    """The inside of a container's veth is set up by one sendmsg (addresses, link, route):
    each request gets its answer, the first one refused is the error, and nothing of
    theirs is left on the socket for the next request to misread."""
    import errno

    import pytest
    from dunnage.core.net import netlink

    with netlink._Rtnl() as nl:
        no_link = netlink._address(0x7ffffff0, "10.213.0.2", 24)  # (no link has that index)
        with pytest.raises(OSError) as e:
            nl.requests([no_link, netlink._default_route("10.213.0.1")])
        # run as nobody every change is refused; as root, the first for its missing link
        assert e.value.errno in (errno.EPERM, errno.ENODEV)
        assert nl.seq == 2
        assert nl.routes(socket.AF_INET)  # a dump after them reads its own answers
