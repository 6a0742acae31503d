"""dunnage exec: joining a running container's namespaces, cgroup, user, seccomp and capabilities."""
from __future__ import annotations

import os

import pytest

from conftest import Tmux, dunnage_cmd, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def box(engine, image):
    return engine.run(image, ["sleep", "300"], name="execbox", detach=True, env=["FROM_RUN=1"], hostname="exechost")


def test_exec_joins_the_container(run_cli, box):
    r = run_cli("exec", "execbox", "sh", "-c",
                "echo $$ $FROM_RUN; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo;"
                "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /proc | grep -cE '^[0-9]+$'")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    pid, env = lines[0].split()
    assert int(pid) > 1 and env == "1"
    assert lines[1] == "exechost"
    assert lines[2].strip() == "sleep 300"          # the container's PID 1, seen from inside
    assert lines[3].split() == ["CapEff:", "00000000a80425fb"]
    assert lines[4].split() == ["Seccomp:", "2"]
    assert int(lines[5]) < 6                         # only the container's processes
    for ns in ("mnt", "net", "uts", "ipc", "pid", "cgroup"):
        inside = run_cli("exec", "execbox", "readlink", f"/proc/self/ns/{ns}").stdout.strip()
        assert inside == os.readlink(f"/proc/{box.state['Pid']}/ns/{ns}").encode()


def test_exec_process_is_in_the_containers_cgroup(run_cli, box):
    r = run_cli("exec", "execbox", "sh", "-c", "cat /proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    seen = set()
    for line in r.stdout.decode().splitlines():
        if ":pids:" in line or ":memory:" in line or line.startswith("0::"):
            assert line.endswith(":/"), line  # the root of the container's cgroup namespace
            seen.add(line.split(":")[1] or "unified")
    assert {"pids", "memory"} <= seen, r.stdout


def test_exec_flags_and_exit_codes(run_cli, box):
    r = run_cli("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=42", "execbox", "sh", "-c", "id -u; pwd; echo $X; exit 7")
    assert r.returncode == 7
    assert r.stdout.decode().split() == ["65534", "/tmp", "42"]
    r = run_cli("exec", "execbox", "nosuchcmd")
    assert r.returncode == 127 and b'exec: "nosuchcmd": executable file not found in $PATH' in r.stderr
    r = run_cli("exec", "-u", "nosuchuser", "execbox", "true")
    assert r.returncode == 126 and b"unable to find user nosuchuser" in r.stderr
    r = run_cli("exec", "nosuchbox", "true")
    assert r.returncode == 1 and b"No such container: nosuchbox" in r.stderr


def test_exec_stdin_only_with_i(run_cli, box):
    assert run_cli("exec", "-i", "execbox", "cat", input=b"piped\n").stdout == b"piped\n"
    assert run_cli("exec", "execbox", "cat", input=b"ignored\n").stdout == b""


def test_exec_detached(run_cli, box):
    r = run_cli("exec", "-d", "execbox", "sh", "-c", "sleep 0.3; echo done > /tmp/marker")
    assert r.returncode == 0
    wait_for(lambda: run_cli("exec", "execbox", "cat", "/tmp/marker").stdout == b"done\n", timeout=15)


def test_exec_in_a_stopped_container_is_refused(run_cli, engine, box):
    engine.stop(box.id, 1)
    r = run_cli("exec", "execbox", "true")
    assert r.returncode == 1 and b"is not running" in r.stderr


def test_exec_it_gives_a_real_terminal(engine, box):
    with Tmux(f"{dunnage_cmd(engine.store.root)} exec -it execbox sh; echo EXITED=$?; sleep 30") as t:
        wait_for(lambda: "/ #" in t.screen(), timeout=20)
        t.keys("tty; stty size; echo sum=$((20+22))", "Enter")
        wait_for(lambda: "sum=42" in t.screen(), timeout=10)
        s = t.screen()
        assert "/dev/pts/" in s and "20 90" in s
        t.resize(70, 15)
        t.keys("stty size", "Enter")
        wait_for(lambda: "15 70" in t.screen(), timeout=10)
        t.keys("sleep 100 &", "Enter")  # a background job holding the terminal must not keep exec alive
        t.keys("exit 5", "Enter")
        wait_for(lambda: "EXITED=5" in t.screen(), timeout=10)
