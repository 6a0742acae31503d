"""The fork server (core/forkserver/): the shims of a root are forked from one
long-lived process, which leaves after the last of them; nothing depends on it.
The `dunnage` command (bin/dunnage) runs its commands there while it is up."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from dunnage.core import Engine
from dunnage.core import forkserver
from dunnage.core.images.demo import DEMO_IMAGE

from conftest import DUNNAGE, wait_for

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
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def eng(fresh_root, monkeypatch):
    # the servers this process starts run the command line's commands, as those a `dunnage` command starts
    monkeypatch.setattr(forkserver.client, "FRONT", ("dunnage.tui.cli:main", "dunnage.tui.cli:build_parser"))
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
    spare = _spare(server)  # (not counted: it does not keep the server up)
    eng.remove(b.id, force=True)
    wait_for(lambda: _gone(server), timeout=forkserver.LINGER + 10)
    wait_for(lambda: _gone(spare), timeout=10)  # it leaves with the server
    assert not (eng.store.run / forkserver.SOCK).exists()
    c = _run(eng)  # and a new one comes with the next container
    assert _comm(_ppid(c.state["ShimPid"])) == forkserver.NAME
    assert _ppid(c.state["ShimPid"]) != server


def test_a_server_of_other_code_steps_aside(eng, monkeypatch):
    a = _run(eng)
    server = _ppid(a.state["ShimPid"])
    monkeypatch.setattr(forkserver.client, "code_stamp", lambda: "another dunnage")
    b = _run(eng)  # refused: forked here instead, and the old server goes
    assert _ppid(b.state["ShimPid"]) != server
    wait_for(lambda: _gone(server), timeout=10)
    assert eng.container(a.id).status == "running"  # its shim did not notice
    assert eng.container(b.id).status == "running"
    monkeypatch.setattr(forkserver.client, "code_stamp", forkserver.code_stamp)
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


# ------------------------------------------------------------------ commands run in the server
def _children(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if _ppid(int(p)) == pid:
                    out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _served_command(server: int) -> int:
    """The pid of the one command the server is running (its child named dunnage)."""
    return wait_for(lambda: [p for p in _children(server) if _comm(p) == "dunnage"], timeout=20)[0]


def _spare(server: int) -> int:
    return wait_for(lambda: [p for p in _children(server) if _comm(p) == forkserver.SPARE_NAME], timeout=10)[0]


def test_a_command_runs_in_the_fork_server_with_the_callers_streams_env_and_directory(eng, tmp_path):
    server = _ppid(_run(eng).state["ShimPid"])
    spare = _spare(server)  # forked ahead of the next command
    (tmp_path / "vars.env").write_text("FROM_FILE=file\n")
    p = subprocess.Popen([DUNNAGE, "--root", str(eng.store.root), "run", "--rm", "-i", "--network", "none",
                          "-e", "GREETING", "--env-file", "vars.env", DEMO_IMAGE,
                          "sh", "-c", 'read x; echo "got $x $FROM_FILE"; echo "$GREETING" >&2; exit 3'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=tmp_path, env=dict(os.environ, GREETING="hello"))
    try:
        cmd = _served_command(server)  # not run by the script's own process
        assert p.pid not in (cmd, _ppid(cmd))
        assert cmd == spare  # but by the spare, and another waits for the next one
        assert _spare(server) != spare
        out, err = p.communicate(b"line\n", timeout=60)
    finally:
        p.kill()
    assert (p.returncode, out, err) == (3, b"got line file\n", b"hello\n")


def test_signals_reach_a_served_command_and_its_end_follows_the_scripts(eng):
    server = _ppid(_run(eng).state["ShimPid"])
    p = subprocess.Popen([DUNNAGE, "--root", str(eng.store.root), "run", "--rm", "--name", "trapping",
                          "--network", "none", DEMO_IMAGE, "sh", "-c", 'trap "exit 7" INT; sleep 60 & wait'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _served_command(server)
        wait_for(lambda: any(c.name == "trapping" and c.status == "running" for c in eng.containers()), timeout=30)
        wait_for(lambda: b"sleep" in subprocess.run([DUNNAGE, "--root", str(eng.store.root), "top", "trapping"],
                                                    capture_output=True).stdout, timeout=10)
        p.send_signal(signal.SIGINT)  # ctrl-c: forwarded to the command, which forwards it to the container
        assert p.wait(timeout=30) == 7
    finally:
        p.kill()
    # the script killed outright: its command (here following a log forever) ends too
    a = _run(eng)
    wait_for(lambda: not [p for p in _children(server) if _comm(p) == "dunnage"], timeout=20)  # the earlier ones
    f = subprocess.Popen([DUNNAGE, "--root", str(eng.store.root), "logs", "-f", a.id], stdout=subprocess.PIPE)
    cmd = _served_command(server)
    f.kill()
    f.wait()
    wait_for(lambda: _gone(cmd), timeout=10)


def test_a_stale_server_runs_no_command_and_leaves(eng):
    """The code changed under a running server (an upgrade): the command runs in the
    script's own process, and the server goes."""
    a = _run(eng)
    server = _ppid(a.state["ShimPid"])
    source = Path(forkserver.__file__).parents[2] / "tui" / "cli.py"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        r = subprocess.run([DUNNAGE, "--root", str(eng.store.root), "ps", "-q", "--no-trunc"],
                           capture_output=True, timeout=60)
        assert r.returncode == 0 and r.stdout.decode().split() == [a.id]
        wait_for(lambda: _gone(server), timeout=10)
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert eng.container(a.id).status == "running"


def test_a_server_started_without_a_front_runs_no_command(fresh_root, monkeypatch):
    """The server imports nothing of the fronts: one started by a process that named no
    command entry (register_front) serves shims only, and the script runs its command itself."""
    monkeypatch.setattr(forkserver.client, "FRONT", None)
    e = Engine(str(fresh_root))
    e.ensure_demo_image()
    a = _run(e)
    server = _ppid(a.state["ShimPid"])
    assert _comm(server) == forkserver.NAME
    spare = _spare(server)
    r = subprocess.run([DUNNAGE, "--root", str(e.store.root), "ps", "-q", "--no-trunc"], capture_output=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.decode().split() == [a.id]
    assert _spare(server) == spare  # not handed a command
    assert not _gone(server)  # nor gone as a stale one
    e.remove(a.id, force=True)


def _server_of(root: Path) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and _comm(int(p)) == forkserver.NAME:
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read().replace(b"\0", b" ").split()[2:3] == [str(root).encode()]:
                        out.append(int(p))
            except (OSError, IndexError):
                pass
    return out


def test_a_command_run_without_a_server_leaves_one_for_the_commands_that_follow(fresh_root):
    """A script's commands (or a rebuild) after one that found no server are served: that
    one started a server on its way out, which leaves after LINGER as any server does."""
    root = Path(fresh_root)
    assert not _server_of(root)
    r = subprocess.run([DUNNAGE, "--root", str(root), "images", "-q"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    server = wait_for(lambda: _server_of(root), timeout=20)[0]
    wait_for(lambda: (root / "run" / forkserver.SOCK).exists(), timeout=20)
    p = subprocess.Popen([DUNNAGE, "--root", str(root), "events"], stdout=subprocess.PIPE)
    try:
        cmd = _served_command(server)  # the next command runs there
        assert p.pid not in (cmd, _ppid(cmd))
    finally:
        p.kill()
        p.wait()
    wait_for(lambda: _gone(server), timeout=forkserver.LINGER + 20)
    assert not (root / "run" / forkserver.SOCK).exists()
    # the same command with servers turned off leaves none (it forks nothing on its way out)
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=setsid", "-o", "/dev/stdout", DUNNAGE, "--root",
                        str(root), "images", "-q"], capture_output=True, timeout=60,
                       env=dict(os.environ, DUNNAGE_FORKSERVER="0"))
    assert r.returncode == 0 and b"setsid" not in r.stdout, r.stdout
