"""Container networking.  For now: the loopback of a fresh network namespace.

Bridges, veths and addresses (issue 6) go through pyroute2's netlink; bringing
up ``lo`` needs one flag, so it is a single ioctl here: importing pyroute2
costs about 0.3 s, which every container start would pay."""
from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def host_net_counters(pid: int) -> tuple[int, int]:
    """(rx, tx) bytes of every non-loopback interface in PID's network namespace."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                if name.strip() == "lo":
                    continue
                v = rest.split()
                rx += int(v[0])
                tx += int(v[8])
    except (OSError, ValueError, IndexError):
        pass
    return rx, tx
