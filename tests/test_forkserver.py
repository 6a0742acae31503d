"""The fork server (core/forkserver.py): the shims of a root are forked from one
long-lived process, which leaves after the last of them; nothing depends on it."""
from __future__ import annotations

import os
import signal

import pytest

from dunnage.core import Engine
from dunnage.core import forkserver
from dunnage.core.images.demo import DEMO_IMAGE

from conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def _gone(pid: int) -> bool:
    return _comm(pid) == "" or open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] == "Z"


@pytest.fixture
def eng(fresh_root):
    e = Engine(str(fresh_root))
    e.ensure_demo_image()
    return e


def _run(e: Engine):
    return e.run(DEMO_IMAGE, ["sleep", "600"], detach=True, network="none")


def test_shims_share_one_fork_server_which_leaves_after_them(eng):
    a, b = _run(eng), _run(eng)
    server = _ppid(a.state["ShimPid"])
    assert _comm(server) == forkserver.NAME
    assert _ppid(b.state["ShimPid"]) == server  # one server for the root
    assert (eng.store.run / forkserver.SOCK).exists()
    eng.remove(a.id, force=True)
    assert not _gone(server)  # b still runs
    assert eng.container(b.id).status == "running"
    eng.remove(b.id, force=True)
    wait_for(lambda: _gone(server), timeout=forkserver.LINGER + 10)
    assert not (eng.store.run / forkserver.SOCK).exists()
    c = _run(eng)  # and a new one comes with the next container
    assert _comm(_ppid(c.state["ShimPid"])) == forkserver.NAME
    assert _ppid(c.state["ShimPid"]) != server


def test_a_server_of_other_code_steps_aside(eng, monkeypatch):
    a = _run(eng)
    server = _ppid(a.state["ShimPid"])
    monkeypatch.setattr(forkserver, "code_stamp", lambda: "another dunnage")
    b = _run(eng)  # refused: forked here instead, and the old server goes
    assert _ppid(b.state["ShimPid"]) != server
    wait_for(lambda: _gone(server), timeout=10)
    assert eng.container(a.id).status == "running"  # its shim did not notice
    assert eng.container(b.id).status == "running"
    monkeypatch.undo()
    c = _run(eng)
    assert _comm(_ppid(c.state["ShimPid"])) == forkserver.NAME


def test_containers_outlive_a_killed_fork_server(eng):
    a = _run(eng)
    server = _ppid(a.state["ShimPid"])
    os.kill(server, signal.SIGKILL)
    wait_for(lambda: _gone(server), timeout=10)
    assert eng.container(a.id).status == "running"
    b = _run(eng)  # the dead server's socket is replaced
    assert _comm(_ppid(b.state["ShimPid"])) == forkserver.NAME
    eng.stop(a.id, timeout=1)
    assert eng.container(a.id).status == "exited"
    eng.remove(a.id)
    eng.remove(b.id, force=True)
