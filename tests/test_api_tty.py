"""The Engine API's terminals and standard input (issue 19): `docker run -it`, `docker
exec -it`, `docker attach` through a real terminal (tmux), their resizes, stdin without
a tty, and docker-py's containers.run() that returns the output.  Driven by the real
clients against the real service on the session's root; what a test makes goes after
it, pass or fail."""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from conftest import Tmux, wait_for
from test_api import DOCKER, IMAGE, request, running_service


@pytest.fixture(scope="module")
def service(session_root):
    with running_service(session_root, "docker-tty.sock") as sock:
        yield sock


@pytest.fixture
def docker(service, engine, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))

    def run(*args, timeout=60, input=None) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, "-H", f"unix://{service}", *args], capture_output=True, env=env,
                              timeout=timeout, input=input)
    run.cmd = f"DOCKER_CONFIG={tmp_path / 'docker-config'} {DOCKER} -H unix://{service}"
    return run


def first_prompt(t: Tmux) -> None:
    """Wait for sh's first prompt (a test that fails prints the screen: Tmux)."""
    wait_for(lambda: "/ #" in t.screen(), timeout=30)


def test_cli_run_it_terminal_resize_and_exit_code(docker, engine):
    """The CLI's first resize comes right after the start, while sh writes its first lines,
    and each SIGWINCH's resize connects and hangs up at once: the shim once lost such a
    frame, or died on it (no prompt, or a terminal that kept its size, now and then in full
    runs; test_a_resize_is_set_when_answered_while_the_terminal_is_busy below has it in most
    runs of the old shim, tests/unit/test_pump.py every time)."""
    with Tmux(f"{docker.cmd} run -it --rm --name api-tty {IMAGE} sh; echo EXITED=$?; sleep 60") as t:
        first_prompt(t)
        # typed again until answered: keys typed in the moment the prompt is drawn can be lost on a loaded host
        wait_for(lambda: (t.keys("tty; stty size; echo sum=$((40+2))", "Enter"), "sum=42" in t.screen())[1],
                 timeout=20, interval=1.0)
        assert "/dev/pts/0" in t.screen() and "20 90" in t.screen()
        t.resize(70, 15)  # the CLI's SIGWINCH: POST /containers/{id}/resize
        wait_for(lambda: (t.keys("clear; stty size", "Enter"), "15 70" in t.screen())[1], timeout=10, interval=0.3)
        t.keys("exit 3", "Enter")
        wait_for(lambda: "EXITED=3" in t.screen(), timeout=20)
    assert all(c.name != "api-tty" for c in engine.containers(all_=True))


def test_cli_run_it_detach_keys_and_attach_again(docker, engine):
    with Tmux(f"{docker.cmd} run -it --name api-detach {IMAGE} sh; echo EXITED=$?; sleep 60") as t:
        first_prompt(t)
        wait_for(lambda: (t.keys("echo first-$((1+1))", "Enter"), "first-2" in t.screen())[1], timeout=20,
                 interval=1.0)  # typed again until answered, as above
        t.keys("C-p", "C-q")
        wait_for(lambda: "EXITED=0" in t.screen(), timeout=10)
    assert engine.container("api-detach").status == "running"  # the end of the attach's input left sh alone
    with Tmux(f"{docker.cmd} attach api-detach; echo EXITED=$?; sleep 60") as t:
        def prompt() -> bool:
            t.keys("Enter")
            return "/ #" in t.screen()
        wait_for(prompt, timeout=20, interval=0.3)
        t.keys("echo again-$((1+1))", "Enter")
        wait_for(lambda: "again-2" in t.screen(), timeout=20)
        t.keys("exit 9", "Enter")
        wait_for(lambda: "EXITED=9" in t.screen(), timeout=20)
    c = engine.container("api-detach")
    assert c.status == "exited" and c.state["ExitCode"] == 9


def test_cli_exec_it_terminal_resize_and_exit_code(docker, engine):
    assert docker("run", "-d", "--name", "api-exec-tty", IMAGE, "sleep", "1000").returncode == 0
    with Tmux(f"{docker.cmd} exec -it api-exec-tty sh; echo EXITED=$?; sleep 60") as t:
        wait_for(lambda: "/ #" in t.screen(), timeout=30)
        t.keys("tty; stty size; echo sum=$((40+2))", "Enter")
        wait_for(lambda: "sum=42" in t.screen(), timeout=10)
        assert "/dev/pts/" in t.screen() and "20 90" in t.screen()
        t.resize(70, 15)  # the CLI's SIGWINCH: POST /exec/{id}/resize
        wait_for(lambda: (t.keys("clear; stty size", "Enter"), "15 70" in t.screen())[1], timeout=10, interval=0.3)
        t.keys("exit 4", "Enter")
        wait_for(lambda: "EXITED=4" in t.screen(), timeout=20)
    assert engine.container("api-exec-tty").status == "running"
    r = docker("exec", "-t", "api-exec-tty", "sh", "-c", "echo tty-$(tty | cut -c1-9)")
    assert (r.returncode, r.stdout) == (0, b"tty-/dev/pts/\r\n")  # a terminal: its newline is CR LF


def test_cli_stdin_without_a_tty(docker, engine):
    r = docker("run", "--rm", "-i", IMAGE, "sh", "-c", "cat; echo done; exit 6", input=b"hello\nworld\n")
    assert (r.returncode, r.stdout, r.stderr) == (6, b"hello\nworld\ndone\n", b"")
    assert docker("run", "-d", "--name", "api-exec-in", IMAGE, "sleep", "1000").returncode == 0
    r = docker("exec", "-i", "api-exec-in", "sh", "-c", "wc -l; exit 2", input=b"a\nb\nc\n")
    assert (r.returncode, r.stdout.strip()) == (2, b"3")
    r = docker("exec", "api-exec-in", "sh", "-c", "cat; echo eof")  # no -i: stdin is empty
    assert (r.returncode, r.stdout) == (0, b"eof\n")


def test_resize_endpoints(service, docker):
    cid = request(service, "POST", "/containers/create?name=api-resize",
                  {"Image": IMAGE, "Cmd": ["sleep", "1000"], "Tty": True, "OpenStdin": True})[1]["Id"]
    assert request(service, "POST", "/containers/api-resize/resize?h=10&w=20")[0] == 409  # not running
    assert request(service, "POST", f"/containers/{cid}/start")[0] == 204
    assert request(service, "POST", "/containers/api-resize/resize?h=33&w=44")[0] == 200
    st, body = request(service, "POST", "/containers/api-resize/resize?h=x&w=44")
    assert st == 400 and "invalid value for h" in body["message"]
    assert request(service, "POST", "/containers/nosuch/resize?h=1&w=1")[0] == 404
    st, x = request(service, "POST", f"/containers/{cid}/exec",
                    {"Cmd": ["stty", "size"], "Tty": True, "AttachStdout": True})
    assert st == 201
    assert request(service, "POST", f"/exec/{x['Id']}/resize?h=12&w=34")[0] == 200  # kept for its start
    assert request(service, "POST", "/exec/nosuch/resize?h=1&w=1")[0] == 404
    st, out = request(service, "POST", f"/exec/{x['Id']}/start", {"Detach": False, "Tty": True})
    assert (st, out) == (200, b"12 34\r\n")
    st, info = request(service, "GET", f"/exec/{x['Id']}/json")
    assert (info["ExitCode"], info["ProcessConfig"]["tty"]) == (0, True)
    # the container's own terminal took the resize
    r = docker("exec", "api-resize", "stty", "-F", "/dev/pts/0", "size")
    assert r.stdout.strip() == b"33 44", r.stderr


def test_a_resize_is_set_when_answered_while_the_terminal_is_busy(service, docker, engine):
    """The service's resize connects to the shim, sends one frame and hangs up.  A shim busy
    with output sent that output to the new client first, found it gone and dropped it: the
    frame was lost, or, when the client's end was seen in the same round, the shim died on
    the closed socket (docker run -it: no first prompt, or a terminal that kept its size).
    Here the output never stops; each 200 must mean the size is set, as dockerd's does."""
    cid = request(service, "POST", "/containers/create?name=api-resize-busy",
                  {"Image": IMAGE, "Cmd": ["yes", "busy"], "Tty": True, "OpenStdin": True,
                   "HostConfig": {"LogConfig": {"Type": "local", "Config": {"max-size": "1m", "max-file": "1"}}}}
                  )[1]["Id"]
    try:
        assert request(service, "POST", f"/containers/{cid}/start")[0] == 204
        for i in range(100):
            h, w = 10 + i % 20, 20 + i
            assert request(service, "POST", f"/containers/{cid}/resize?h={h}&w={w}")[0] == 200, f"resize {i}"
            if i % 25 == 24:
                r = docker("exec", "api-resize-busy", "stty", "-F", "/dev/pts/0", "size", timeout=30)
                assert (r.returncode, r.stdout.strip()) == (0, f"{h} {w}".encode()), r.stderr
        assert engine.container(cid).status == "running"
    finally:
        docker("rm", "-f", "api-resize-busy")


def test_sdk_run_returns_the_output(service):
    import docker as dockerpy
    client = dockerpy.DockerClient(base_url=f"unix://{service}", timeout=60)
    try:
        assert client.containers.run(IMAGE, ["sh", "-c", "echo hi; echo err >&2"], remove=True) == b"hi\n"
        out = client.containers.run(IMAGE, ["sh", "-c", "echo hi; echo err >&2"], stderr=True, remove=True)
        assert out == b"hi\nerr\n"
        with pytest.raises(dockerpy.errors.ContainerError) as e:
            client.containers.run(IMAGE, ["sh", "-c", "echo bad >&2; exit 3"], stderr=True, remove=True)
        assert e.value.exit_status == 3 and b"bad" in e.value.stderr
    finally:
        client.close()


def test_a_follow_ends_when_its_container_is_removed_before_it_is_read(service, engine):
    """docker-py's containers.run(remove=True) asks for the follow, waits, removes the
    container, and only then reads the follow: the log file is gone by the time the
    service reads to its end, and the follow must end there, not wait for a file that
    will never come back.  3 MB of output fill the socket, so the service is held in
    the middle of sending it until after the removal, every time."""
    import docker as dockerpy
    client = dockerpy.DockerClient(base_url=f"unix://{service}", timeout=60)
    c = client.containers.run(IMAGE, ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo end"],
                              detach=True)
    try:
        logs = c.logs(stream=True, follow=True)
        assert c.wait(timeout=30)["StatusCode"] == 0
        c.remove()
        got: list = []
        # docker-py reads a stream without a timeout: a follow that never ends hangs it
        reader = threading.Thread(target=lambda: got.append(b"".join(logs)), daemon=True)
        reader.start()
        reader.join(30)
        assert got, "the follow did not end"
        assert len(got[0]) == 3000005 and got[0].endswith(b"x\nend\n")
    finally:
        try:
            c.remove(force=True)
        except dockerpy.errors.NotFound:
            pass
        client.close()


def test_attach_detach_keys_through_the_service(service, docker, engine):
    """A client other than the docker CLI leaves the detaching to the service: its keys
    end the attach and are not typed, the container goes on; a bad key is 400."""
    import socket
    cid = request(service, "POST", "/containers/create?name=api-keys",
                  {"Image": IMAGE, "Cmd": ["sh"], "Tty": True, "OpenStdin": True})[1]["Id"]
    assert request(service, "POST", f"/containers/{cid}/start")[0] == 204
    st, body = request(service, "POST", f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-!")
    assert st == 400 and "Invalid detach keys" in body["message"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(service)
    s.sendall(f"POST /containers/{cid}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,q HTTP/1.1\r\n"
              "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    out = b""
    while b"\r\n\r\n" not in out:
        out += s.recv(4096)
    assert out.startswith(b"HTTP/1.1 101")
    s.sendall(b"echo got-$((20+1))\r")
    while b"got-21" not in out:
        out += s.recv(4096)
    s.sendall(b"\x18")  # the first key alone: held until the next says what it is
    s.sendall(b"qecho never\r")
    while chunk := s.recv(4096):  # the service ends the attach
        out += chunk
    s.close()
    assert b"never" not in out
    assert engine.container(cid).status == "running"
    r = docker("exec", "api-keys", "sh", "-c", "ps -o args | grep -c '^sh$'")
    assert r.stdout.strip() == b"1"  # the same sh, not ended by the keys
