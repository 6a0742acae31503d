"""run -i / -t, attach, and detaching with ctrl-p ctrl-q."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import Tmux, dunnage_cmd, wait_for

pytestmark = pytest.mark.timeout(120)


def test_run_i_feeds_stdin(run_cli, image):
    r = run_cli("run", "--rm", "-i", image, "sh", "-c", "cat; echo done; exit 6", input=b"hello\nworld\n")
    assert r.returncode == 6
    assert r.stdout == b"hello\nworld\ndone\n"
    r = run_cli("run", "--rm", "-i", image, "nosuchcmd", input=b"")
    assert r.returncode == 127 and b"executable file not found" in r.stderr
    r = run_cli("run", "--rm", "-it", image, "sh", input=b"")
    assert r.returncode == 1 and b"the input device is not a TTY" in r.stderr


def test_run_it_gives_a_terminal_and_rm_removes(engine, image):
    with Tmux(f"{dunnage_cmd(engine.store.root)} run -it --rm --name ttybox {image} sh; echo EXITED=$?; sleep 60") as t:
        wait_for(lambda: "/ #" in t.screen(), timeout=20)
        t.keys("tty; stty size; echo sum=$((40+2))", "Enter")
        wait_for(lambda: "sum=42" in t.screen(), timeout=10)
        assert "/dev/pts/0" in t.screen() and "20 90" in t.screen()
        t.resize(70, 15)
        t.keys("stty size", "Enter")
        wait_for(lambda: "15 70" in t.screen(), timeout=10)
        t.keys("exit 3", "Enter")
        wait_for(lambda: "EXITED=3" in t.screen(), timeout=20)
        assert all(c.name != "ttybox" for c in engine.containers(all_=True))


def test_detach_and_attach_again(engine, image):
    with Tmux(f"{dunnage_cmd(engine.store.root)} run -it --name detachable {image} sh; echo EXITED=$?; sleep 60") as t:
        wait_for(lambda: "/ #" in t.screen(), timeout=20)
        t.keys("echo first", "Enter")
        wait_for(lambda: "first" in t.screen().split("echo first", 1)[-1], timeout=10)
        t.keys("C-p", "C-q")
        wait_for(lambda: "EXITED=0" in t.screen(), timeout=10)
        assert engine.container("detachable").status == "running"
    with Tmux(f"{dunnage_cmd(engine.store.root)} attach detachable; echo EXITED=$?; sleep 60") as t:
        # attach shows nothing until the container writes: an empty line brings a prompt

        def prompt() -> bool:
            t.keys("Enter")
            return "/ #" in t.screen()
        wait_for(prompt, timeout=20, interval=0.3)
        t.keys("echo again-$((1+1))", "Enter")
        wait_for(lambda: "again-2" in t.screen(), timeout=20)
        t.keys("exit 9", "Enter")
        wait_for(lambda: "EXITED=9" in t.screen(), timeout=20)
    c = engine.container("detachable")
    assert c.status == "exited" and c.state["ExitCode"] == 9
    logs = b"".join(d for _, _, d in engine.logs(c.id))
    assert b"again-2" in logs and b"first" in logs  # a terminal's output is logged too


def test_attach_to_a_stopped_container_is_refused(run_cli, engine, image):
    c = engine.run(image, ["true"], name="stopped", detach=True)
    engine.wait(c.id, 30)
    r = run_cli("attach", "stopped")
    assert r.returncode == 1 and b"cannot attach to a stopped container" in r.stderr


def test_attach_sees_output_of_a_running_container(run_cli, engine, image):
    engine.run(image, ["sh", "-c", "sleep 1; echo late; exit 2"], name="talker", detach=True)
    r = run_cli("attach", "--no-stdin", "talker")
    assert r.returncode == 2
    assert r.stdout == b"late\n"


def test_attach_socket_refuses_other_users(engine, image):
    c = engine.run(image, ["sh", "-c", "while :; do echo tick; sleep 0.2; done"], name="private", detach=True)
    from dunnage.core.attach import address
    # as another user would try it, with nothing of dunnage's (which that user may not be able to read:
    # a checkout in a 0700 directory): the socket named through a descriptor of its directory, as
    # dunnage.core.attach.connect does
    code = ("import os, socket, sys\n"
            "d, name = os.path.split(sys.argv[1])\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            " fd = os.open(d, os.O_PATH | os.O_DIRECTORY)\n"
            " s.connect(f'/proc/self/fd/{fd}/{name}'); s.settimeout(5); print(len(s.recv(100)))\n"
            "except PermissionError:\n print('denied')")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-I", "-S",
                        "-c", code, address(engine.store, c.id)], capture_output=True, timeout=30)
    assert r.stdout.strip() == b"denied", r.stderr  # the socket's directory is root's, 0700
    s = engine.attach_socket(c.id)
    try:
        s.settimeout(5)
        assert s.recv(100)  # root gets the output
    finally:
        s.close()


def test_start_attach_interactive_relays_stdin_from_the_first_byte(run_cli, engine, image):
    c = engine.create(image, ["sh", "-c", "echo start; cat; echo done"], interactive=True, network="none",
                      name="start-ai")
    r = run_cli("start", "-a", "-i", "start-ai", input=b"hello\nworld\n", timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"start\nhello\nworld\ndone\n"
    # the attach was for that start only: a plain start runs the command at once
    # (cat then waits on its open stdin, as in docker)
    assert run_cli("start", "start-ai").returncode == 0
    wait_for(lambda: run_cli("logs", "start-ai").stdout.count(b"start") == 2, timeout=10)
    engine.kill(c.id)
