"""Container networking (the modules of this package are listed in docs/architecture.md).

Here: bringing up ``lo`` in a fresh namespace, which needs one flag, so it is
a single ioctl, and a container's traffic counters."""
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


def host_net_counters(pid: int) -> tuple[int, int, int, int]:
    """(rx bytes, tx bytes, rx packets, tx packets) of every non-loopback
    interface in PID's network namespace."""
    rx = tx = rxp = txp = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                if name.strip() == "lo":
                    continue
                v = rest.split()
                rx += int(v[0])
                rxp += int(v[1])
                tx += int(v[8])
                txp += int(v[9])
    except (OSError, ValueError, IndexError):
        pass
    return rx, tx, rxp, txp
