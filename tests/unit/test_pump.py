"""The shim's pump (core/shim/pump.py) on a pseudo-terminal of our own: what its clients
send reaches the terminal whatever else it is doing."""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
import threading

from conftest import wait_for
from dunnage.core.attach import RESIZE, frame
from dunnage.core.logs import LogWriter
from dunnage.core.shim.pump import Pump, Streams


def _size(fd: int) -> tuple[int, int]:
    return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]


def test_a_resize_from_a_client_gone_at_once_is_applied_while_output_flows(tmp_path):
    """The service's resize (POST /containers/{id}/resize) connects, sends its one frame and
    hangs up.  When the command's output came in the same round, the pump sent it to that
    client first, failed (the client is gone) and dropped it with its frame unread: the
    terminal kept its old size (docker run -it's first size, or a later one, lost now and
    then on a busy host).  Here the output is there before the frame, every time."""
    master, slave = os.openpty()
    listener, idle = socket.socketpair()  # a listener nobody connects to
    client, service = socket.socketpair()
    pump_thread = None
    try:
        os.write(slave, b"output the pump reads first\n")
        service.sendall(frame(RESIZE, struct.pack(">HH", 15, 70)))
        service.close()
        pump = Pump(LogWriter(str(tmp_path / "log")), Streams(master=master), listener, lambda _: None, [client])
        pump_thread = threading.Thread(target=pump.run, daemon=True)
        pump_thread.start()
        wait_for(lambda: _size(slave) == (15, 70), timeout=5)
    finally:
        os.close(slave)  # the terminal's last user is gone: the pump's run ends
        if pump_thread is None:
            os.close(master)
        else:
            pump_thread.join(5)
            assert not pump_thread.is_alive()
        for s in (listener, idle, client):
            s.close()
