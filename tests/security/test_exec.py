"""exec and attach without leaks into the container (issue 16, items 5, 6, 7 and 14;
issue 15's interrupted exec -it): the attach socket out of reach of --network host
containers and of name squatters, the exec'd process with nothing of the caller's
but pipes or a pty, nothing of the host readable in it before it execs, and left
running when its client goes away, as docker does."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DUNNAGE, cli, wait_for
from dunnage.core.attach import address
from dunnage.core.cgroups import open_cgroup

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).parent.parent / "data"
TICKER = ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]
# what an exec'd shell has open (ls -l lines "... FD -> TARGET"; not the last command: sh would exec it)
FDS = "ls -l /proc/$$/fd; true"


@pytest.fixture(scope="module")
def unixconnect(tmp_path_factory):
    exe = tmp_path_factory.mktemp("unixconnect") / "unixconnect"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(exe), str(DATA / "unixconnect.c")], check=True, timeout=60)
    return exe


def _fds(out: bytes) -> dict[int, str]:
    fds = {}
    for line in out.decode().split("\n"):
        left, arrow, target = line.partition(" -> ")
        if arrow:
            fds[int(left.split()[-1])] = target.strip()
    return fds


def test_host_network_container_cannot_reach_attach_sockets(engine, image, run_cli, unixconnect):
    victim = engine.run(image, TICKER, detach=True)
    spy = engine.run(image, ["sleep", "300"], network="host", detach=True)
    engine.copy_to(spy.id, str(unixconnect), "/unixconnect")
    path = address(engine.store, victim.id)
    r = run_cli("exec", spy.id, "/unixconnect", f"@dunnage-attach-{victim.id}", path, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split("\n")[:2] == [f"@dunnage-attach-{victim.id} refused Connection refused",
                                                 f"{path} refused No such file or directory"]
    # the host's network namespace holds no address of the shim's that any container could name
    unix = run_cli("exec", spy.id, "cat", "/proc/net/unix", timeout=30).stdout
    assert b"@dunnage-attach-" + victim.id.encode() not in unix
    s = engine.attach_socket(victim.id)  # while root on the host gets its output
    try:
        s.settimeout(10)
        assert s.recv(100)
    finally:
        s.close()


def test_attach_name_squatting_does_not_break_start(engine, image, run_cli):
    c = engine.create(image, TICKER, detach=True)
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind(chr(0) + 'dunnage-attach-' + sys.argv[1])\n"
            "s.listen(8)\n"
            "print('bound', flush=True)\n"
            "sys.stdin.read()\n")
    squatter = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                 "-c", code, c.id], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert squatter.stdout.readline() == b"bound\n"
        r = run_cli("start", c.id, timeout=60)
        assert r.returncode == 0, r.stderr
        assert engine.container(c.id).status == "running"
        s = engine.attach_socket(c.id)
        try:
            s.settimeout(10)
            assert b"tick" in s.recv(100)
        finally:
            s.close()
        mode = os.stat(engine.store.run_dir(c.id)).st_mode & 0o777
        assert mode == 0o700, oct(mode)
    finally:
        squatter.kill()
        squatter.wait(10)


@pytest.fixture
def box(engine, image):
    return engine.run(image, ["sleep", "300"], detach=True, env=["FROM_RUN=1"])


@pytest.mark.parametrize("served", [True, False], ids=["served", "own-process"])
def test_exec_gets_pipes_and_nothing_else(engine, box, tmp_path, served):
    """Not the caller's stdout file, not its other descriptors, not the fork server's connection."""
    env = dict(os.environ, **({} if served else {"DUNNAGE_FORKSERVER": "0"}))
    out = tmp_path / "out"
    (tmp_path / "in").write_bytes(b"typed\n")
    extra = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # an open host directory, inheritable
    os.set_inheritable(extra, True)
    try:
        for flags, stdin in (([], "/dev/null"), (["-i"], "pipe:[")):
            with open(out, "wb") as o, open(tmp_path / "in", "rb") as i:
                r = subprocess.run([DUNNAGE, "--root", str(engine.store.root), "exec", *flags, box.id, "sh", "-c",
                                    FDS], stdin=i, stdout=o, stderr=subprocess.PIPE, env=env, pass_fds=(extra,),
                                   timeout=60)
            assert r.returncode == 0, r.stderr
            fds = _fds(out.read_bytes())
            assert sorted(fds) == [0, 1, 2], fds
            assert fds[0].startswith(stdin) and fds[1].startswith("pipe:[") and fds[2].startswith("pipe:["), fds
    finally:
        os.close(extra)


def test_exec_d_keeps_nothing_open(engine, box, run_cli):
    r = run_cli("exec", "-d", box.id, "sh", "-c", f"({FDS}) >/tmp/fds.new; mv /tmp/fds.new /tmp/fds")
    assert r.returncode == 0, r.stderr
    fds = _fds(wait_for(lambda: run_cli("exec", box.id, "cat", "/tmp/fds").stdout, timeout=30))
    assert sorted(fds) == [0, 1, 2] and set(fds.values()) == {"/dev/null"}, fds  # (of the exec'd shell, $$)


def test_exec_t_gets_the_containers_pty_and_nothing_else(engine, box):
    inner = f"{DUNNAGE} --root {engine.store.root} exec -t {box.id} sh -c {shlex.quote(FDS)}"
    # the caller has a host directory open as fd 5
    r = subprocess.run(["script", "-qec", f"exec 5</ && {inner}", "/dev/null"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    fds = _fds(r.stdout.replace(b"\r", b""))
    assert sorted(fds) == [0, 1, 2], fds
    assert fds[0] == fds[1] == fds[2] and fds[0].startswith("/dev/pts/"), fds


def run_cli_ok(engine, *args) -> str:
    r = cli(engine.store.root, *args, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


RACER = """
while [ ! -s /tmp/target ]; do sleep 0.05; done
p=$(cat /tmp/target)
if cat /proc/$p/environ >/tmp/environ 2>/dev/null; then r=readable; else r=denied; fi
if readlink /proc/$p/exe >/tmp/exe 2>/dev/null; then r="$r readable"; else r="$r denied"; fi
echo $r >/tmp/result.new && mv /tmp/result.new /tmp/result
exec sleep 300
"""


def test_exec_process_shows_nothing_of_the_host_before_it_execs(engine, image):
    """The container's PID 1 races the exec'd process while that still is the host's
    Python (held there: the container's /etc/passwd, which it reads, is a FIFO)."""
    c = engine.run(image, ["sh", "-c", RACER], detach=True, env=["FROM_RUN=1"])
    run_cli_ok(engine, "exec", c.id, "sh", "-c", "cp /etc/passwd /tmp/passwd && rm /etc/passwd && mkfifo /etc/passwd")
    merged = Path(c.merged)
    env = dict(os.environ, DUNNAGE_FORKSERVER="0", SECRET="hunter2-of-the-caller")
    front = subprocess.Popen([DUNNAGE, "--root", str(engine.store.root), "exec", c.id, "sh", "-c",
                              "tr '\\0' '\\n' </proc/$$/environ; true"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        def held() -> int | None:
            """The exec'd process, still Python, in the container's pid namespace."""
            for pid in open_cgroup(c.id).procs():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        nspid = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
                    if len(nspid) == 2 and os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(sys.executable):
                        return pid
                except (OSError, StopIteration):
                    continue
            return None
        pid = wait_for(held, timeout=30)
        with open(f"/proc/{pid}/status") as f:
            inner = next(line.split()[2] for line in f if line.startswith("NSpid:"))
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"hunter2" not in f.read()  # (root on the host may look: the memory is wiped)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert b"--root" not in f.read()
        (merged / "tmp/target").write_text(inner)
        wait_for(lambda: (merged / "tmp/result").exists(), timeout=30)
        assert (merged / "tmp/result").read_text().split() == ["denied", "denied"]
        assert held() == pid  # it was still held while PID 1 looked
        (merged / "etc/passwd").write_bytes((merged / "tmp/passwd").read_bytes())  # let it go on
        out, err = front.communicate(timeout=60)
    finally:
        front.kill()
        front.wait(10)
    assert front.returncode == 0, err
    env_after = dict(line.split("=", 1) for line in out.decode().split("\n") if line)
    assert "SECRET" not in env_after and env_after.get("FROM_RUN") == "1", (out, err)
    assert set(env_after) == {"PATH", "HOSTNAME", "FROM_RUN", "HOME"}, env_after


def test_interrupted_exec_it_leaves_the_process_running(engine, box):
    """issue 15: the client killed (as `timeout 3 script -qec "dunnage exec -it ..."` does)
    ends neither the exec'd process nor its session: no SIGHUP, as with docker."""
    cmd = f"{DUNNAGE} --root {engine.store.root} exec -it {box.id} sleep 4242"
    client = subprocess.Popen(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def sleeper() -> int | None:
            for pid in open_cgroup(box.id).procs():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if f.read() == b"sleep\x004242\x00":
                            return pid
                except OSError:
                    continue
            return None
        pid = wait_for(sleeper, timeout=30)
        with open(f"/proc/{client.pid}/task/{client.pid}/children") as f:
            session = int(f.read().split()[0])  # script's child leads the session the front is in
        client.send_signal(signal.SIGTERM)
        client.wait(30)
    finally:
        client.kill()
        client.wait(10)

    def stat(p: int) -> list[str]:
        """State, ppid, pgrp, session...; [] once gone."""
        try:
            with open(f"/proc/{p}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return []

    def gone(p: int) -> bool:
        return stat(p)[:1] in ([], ["Z"])

    def session_left() -> bool:
        return all(gone(int(p)) or stat(int(p))[3:4] != [str(session)] for p in os.listdir("/proc") if p.isdigit())
    wait_for(session_left, timeout=30)  # the front is gone, its end of the pty closed
    run_cli_ok(engine, "exec", box.id, "true")  # (time for a signal sent at that close to land)
    assert not gone(pid)
    with open(f"/proc/{pid}/status") as f:
        pending = {k: int(v, 16) for k, _, v in (line.partition(":\t") for line in f) if k in ("SigPnd", "ShdPnd")}
    assert not any(v & (1 << (signal.SIGHUP - 1)) for v in pending.values())
