"""`dunnage system service` under socket activation (issue 19): the listening socket
handed over as systemd hands it (LISTEN_PID, LISTEN_FDS, fd 3), by systemd's own
systemd-socket-activate and by hand, and contrib/systemd's unit pair checked by
systemd-analyze.  The service is stopped after each test, pass or fail."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import DUNNAGE, wait_for
from test_api import DOCKER, _ping, _stop_service

CONTRIB = Path(__file__).resolve().parent.parent / "contrib" / "systemd"


def _listening(path: str, mode: int) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, mode)
    s.listen(16)
    return s


def _handed(root, s: socket.socket, *extra: str) -> subprocess.Popen:
    """The service with S on fd 3 and LISTEN_PID its own pid, as systemd starts it."""
    return subprocess.Popen(["bash", "-c", f'exec 3<&{s.fileno()}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh",
                             DUNNAGE, "--root", str(root), "system", "service", *extra],
                            pass_fds=(s.fileno(),), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="systemd's systemd-socket-activate")
def test_systemd_socket_activate(session_root, tmp_path):
    sock = str(tmp_path / "activated.sock")
    p = subprocess.Popen(["systemd-socket-activate", "-l", sock, "--", DUNNAGE,
                          "--root", str(session_root), "system", "service", "--time", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None, timeout=20)
        st = os.stat(sock)
        assert st.st_uid == 0 and not st.st_mode & 0o002  # others may not connect
        env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))
        r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "version", "--format", "{{.Server.APIVersion}}"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert (r.returncode, r.stdout) == (0, "1.41\n"), r.stderr
        r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "run", "--rm", "local/busybox", "echo", "activated"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert (r.returncode, r.stdout) == (0, "activated\n"), r.stderr
        assert p.poll() is None
    finally:
        _stop_service(p)


def test_handed_socket_serves_and_stays_after_idle_exit(session_root, tmp_path):
    path = str(tmp_path / "handed.sock")
    s = _listening(path, 0o660)
    try:
        p = _handed(session_root, s, "--time", "1")
        try:
            wait_for(lambda: p.poll() is not None or _ping(path), timeout=20)
            assert p.wait(timeout=30) == 0, p.stderr.read().decode()  # idle: it exits
            assert stat.S_ISSOCK(os.lstat(path).st_mode)  # systemd's socket: not the service's to remove
            assert not (session_root / "run" / "docker.sock").exists()  # URI's default was not bound
        finally:
            _stop_service(p)
        # still listening (systemd's): a connection waits for the next service, which takes it
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(30)
        c.connect(path)
        c.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        p = _handed(session_root, s, "--time", "1")
        try:
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
        finally:
            c.close()
            _stop_service(p)
    finally:
        s.close()


def test_handed_socket_others_may_use_is_refused(session_root, tmp_path):
    path = str(tmp_path / "open.sock")
    s = _listening(path, 0o666)
    try:
        p = _handed(session_root, s)
        try:
            assert p.wait(timeout=30) == 125
            err = p.stderr.read().decode()
            assert "must be root's, mode 0660 or tighter" in err and "Traceback" not in err
        finally:
            _stop_service(p)
    finally:
        s.close()


def test_contrib_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze")
    sock = (CONTRIB / "dunnage.socket").read_text()
    assert "SocketMode=0660" in sock and "SocketUser=root" in sock and "ListenStream=/run/dunnage/docker.sock" in sock
    service = (CONTRIB / "dunnage.service").read_text()
    assert "KillMode=process" in service  # the containers' shims outlive the service
    (tmp_path / "dunnage.socket").write_text(sock)
    (tmp_path / "dunnage.service").write_text(service.replace("/usr/local/bin/dunnage", DUNNAGE))
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "dunnage.socket"),
                        str(tmp_path / "dunnage.service")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
