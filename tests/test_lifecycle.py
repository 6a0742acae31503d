"""pause/unpause, restart, rename, update, top, diff, logs --tail/--since, container prune."""
from __future__ import annotations

import json
import os
import time

import pytest

from dunnage.core.cgroups import open_cgroup

from conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def test_pause_freezes_every_process(run_cli, engine, image):
    c = engine.run(image, ["sh", "-c", "while :; do :; done"], name="frozen", detach=True, cpus="0.5")
    cg = open_cgroup(c.id)
    assert run_cli("pause", "frozen").returncode == 0
    assert engine.container("frozen").status == "paused"
    ps = [json.loads(x) for x in run_cli("ps", "--format", "json").stdout.splitlines()]
    assert [p["Status"] for p in ps if p["Names"] == "frozen"][0].endswith("(Paused)")
    a = cg.stats().cpu_usage_ns
    time.sleep(0.5)
    assert cg.stats().cpu_usage_ns == a  # not one nanosecond of CPU while frozen
    r = run_cli("pause", "frozen")
    assert r.returncode == 1 and b"already paused" in r.stderr
    r = run_cli("exec", "frozen", "true")
    assert r.returncode == 1 and b"is paused" in r.stderr
    assert run_cli("unpause", "frozen").returncode == 0
    wait_for(lambda: cg.stats().cpu_usage_ns > a)
    # stop works on a paused container too
    assert run_cli("pause", "frozen").returncode == 0
    assert run_cli("stop", "-t", "1", "frozen").returncode == 0
    assert engine.container("frozen").status == "exited"


def test_restart_and_rename(run_cli, engine, image):
    c = engine.run(image, ["sleep", "300"], name="before", detach=True)
    pid = c.state["Pid"]
    engine.run(image, ["sleep", "300"], name="taken2", detach=True)
    r = run_cli("rename", "before", "taken2")
    assert r.returncode == 1 and b"already in use" in r.stderr
    assert run_cli("rename", "before", "after").returncode == 0
    assert run_cli("inspect", "-f", "{{.Name}}", c.id[:12]).stdout == b"/after\n"
    assert run_cli("inspect", "before").returncode == 1
    assert run_cli("restart", "-t", "1", "after").returncode == 0
    c2 = engine.container("after")
    assert c2.status == "running" and c2.state["Pid"] != pid and c2.id == c.id


def test_update_changes_limits_live(run_cli, engine, image):
    c = engine.run(image, ["sleep", "300"], name="upd", detach=True, memory="64m")
    assert run_cli("update", "--memory", "128m", "--cpus", "0.25", "--pids-limit", "30", "upd").returncode == 0
    s = open_cgroup(c.id).stats()
    assert s.mem_limit == 128 << 20 and s.pids_limit == 30
    hc = json.loads(run_cli("inspect", "upd").stdout)[0]["HostConfig"]
    assert hc["Memory"] == 128 << 20 and hc["NanoCpus"] == 250_000_000 and hc["PidsLimit"] == 30
    r = run_cli("update", "--memory", "1k", "upd")
    assert r.returncode == 1 and b"Minimum memory limit" in r.stderr
    # memory+swap was docker's default, twice the first --memory (128m): more memory needs more of it too
    r = run_cli("update", "--memory", "256m", "upd")
    assert r.returncode == 1 and b"update the memoryswap at the same time" in r.stderr
    assert run_cli("update", "--memory", "256m", "--memory-swap", "512m", "upd").returncode == 0
    memsw = os.path.join(open_cgroup(c.id).paths()["memory"], "memory.memsw.limit_in_bytes")
    assert open_cgroup(c.id).stats().mem_limit == 256 << 20 and open(memsw).read().strip() == str(512 << 20)
    hc = json.loads(run_cli("inspect", "upd").stdout)[0]["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"]) == (256 << 20, 512 << 20)


def test_top_and_diff(run_cli, engine, image):
    engine.run(image, ["sh", "-c", "echo x > /added; echo y >> /etc/passwd; rm /etc/group; sleep 300"],
               name="changes", detach=True)
    wait_for(lambda: b"sleep 300" in run_cli("top", "changes").stdout)  # the changes are made before the sleep
    top = run_cli("top", "changes").stdout.decode().splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"]
    assert any("sleep 300" in line for line in top[1:])
    diff = run_cli("diff", "changes").stdout.decode().splitlines()
    assert diff == ["A /added", "C /etc", "D /etc/group", "C /etc/passwd"]


def test_logs_tail_since_until(run_cli, engine, image):
    engine.run(image, ["sh", "-c", "for i in 1 2 3 4 5 6; do echo l$i; done"], name="tailed", detach=True)
    engine.wait("tailed", 30)
    assert run_cli("logs", "--tail", "2", "tailed").stdout == b"l5\nl6\n"
    assert run_cli("logs", "-n", "all", "tailed").stdout.count(b"\n") == 6
    assert run_cli("logs", "--since", "1h", "tailed").stdout.count(b"\n") == 6
    assert run_cli("logs", "--until", "1h", "tailed").stdout == b""
    r = run_cli("logs", "--tail", "x", "tailed")
    assert r.returncode == 1 and b"invalid value for --tail" in r.stderr


def test_logs_lines_written_in_pieces_stay_whole(run_cli, engine, image):
    """The shim logs what each read gave: a line written in two goes is two records, but
    `logs -t` and `--tail` see one line (a last piece without its newline comes as it is)."""
    engine.run(image, ["sh", "-c", "printf 'one '; sleep 0.3; echo line; printf 'two '; sleep 0.3; echo more; "
                       "printf prompt"], name="pieces", detach=True, network="none")
    engine.wait("pieces", 30)
    assert len(list(engine.logs("pieces"))) >= 3  # really written in pieces
    assert run_cli("logs", "pieces").stdout == b"one line\ntwo more\nprompt"
    stamped = run_cli("logs", "-t", "pieces").stdout.decode().split("\n")
    assert [x.split(" ", 1)[1] for x in stamped] == ["one line", "two more", "prompt"]
    assert all(x.split(" ", 1)[0].endswith("Z") for x in stamped)
    assert run_cli("logs", "--tail", "2", "pieces").stdout == b"two more\nprompt"


def test_container_prune_removes_only_stopped(run_cli, engine, image):
    keep = engine.run(image, ["sleep", "300"], name="keepme", detach=True)
    done = engine.run(image, ["true"], name="doneme", detach=True)
    engine.wait(done.id, 30)
    out = run_cli("container", "prune", "-f").stdout.decode()
    assert done.id in out and keep.id not in out
    names = [c.name for c in engine.containers(all_=True)]
    assert "keepme" in names and "doneme" not in names
    assert run_cli("container", "ls", "-q").stdout.decode().split() == [keep.id[:12]]


def test_commit_makes_a_layer_podman_understands(run_cli, engine, image, tmp_path):
    engine.run(image, ["sh", "-c", "echo data > /newfile; rm /etc/group; mkdir /d; echo x > /d/x; sleep 300"],
               name="tocommit", detach=True)
    wait_for(lambda: b"sleep 300" in run_cli("top", "tocommit").stdout)  # the files are written before the sleep
    r = run_cli("commit", "-c", 'CMD ["cat", "/newfile"]', "-c", "ENV FOO=bar", "-c", "LABEL team=infra",
                "-m", "made by a test", "-a", "A. Tester", "tocommit", "example/committed:1")
    assert r.returncode == 0, r.stderr
    assert engine.container("tocommit").status == "running"  # paused only while committing
    assert run_cli("run", "--rm", "example/committed:1").stdout == b"data\n"
    r = run_cli("run", "--rm", "example/committed:1", "sh", "-c", "ls /etc/group 2>&1; cat /d/x; echo $FOO; echo $PATH")
    out = r.stdout.decode().splitlines()
    assert "No such file" in out[0] and out[1:3] == ["x", "bar"] and "/bin" in out[3]
    info = json.loads(run_cli("inspect", "--type", "image", "example/committed:1").stdout)[0]
    assert len(info["RootFS"]["Layers"]) == 2
    # docker's fields, podman's Labels and History
    assert {"Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author", "Config",
            "Architecture", "Os", "Size", "GraphDriver", "RootFS", "Metadata"} <= set(info)
    assert (info["Comment"], info["Author"], info["Labels"]) == ("made by a test", "A. Tester", {"team": "infra"})
    assert info["History"][-1]["comment"] == "made by a test"
    assert "made by a test" in run_cli("image", "history", "example/committed:1").stdout.decode()
    r = run_cli("commit", "-c", "CMD [broken", "tocommit", "x/y")
    assert r.returncode == 125 and b"invalid JSON" in r.stderr
    # the committed layer (OCI whiteouts) is read the same way by podman
    arc = tmp_path / "committed.tar"
    engine_img = "example/committed:1"
    r = run_cli("save", "-o", str(arc), engine_img)
    assert r.returncode == 0, r.stderr
    from peers import Podman
    podman = Podman()
    try:
        assert podman("load", "-i", str(arc)).returncode == 0
        r = podman.run(engine_img, "sh", "-c", "cat /newfile /d/x; ls /etc/group 2>&1")
        assert r.stdout.decode().splitlines()[:2] == ["data", "x"]
        assert "No such file" in r.stdout.decode()
    finally:
        podman.close()


def test_export_and_cp_both_ways(run_cli, engine, image, tmp_path):
    import io
    import tarfile
    c = engine.run(image, ["sh", "-c", "echo hi > /hello; rm /etc/group; ln -s /hello /etc/link"], name="files",
                   detach=True)
    engine.wait(c.id, 30)
    # export: the merged view, whiteouts applied, of a stopped container (mounted for the occasion)
    r = run_cli("export", "files")
    assert r.returncode == 0, r.stderr
    names = tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames()
    assert "hello" in names and "bin/busybox" in names and "etc/passwd" in names and "etc/group" not in names
    out = tmp_path / "files.tar"
    assert run_cli("export", "-o", str(out), "files").returncode == 0 and out.stat().st_size > 0
    # cp out: a file, through a symlink resolved inside the container, and a tar on stdout
    assert run_cli("cp", "files:/hello", str(tmp_path / "h")).returncode == 0
    assert (tmp_path / "h").read_text() == "hi\n"
    assert run_cli("cp", "files:/etc/link", str(tmp_path / "l")).returncode == 0
    assert os.readlink(tmp_path / "l") == "/hello"  # the link itself, as docker cp copies it
    r = run_cli("cp", "files:/etc", "-")
    assert "etc/passwd" in tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames()
    r = run_cli("cp", "files:/nope", str(tmp_path / "x"))
    assert r.returncode == 1 and b"Could not find the file /nope" in r.stderr
    # cp in: lands in the container's upper layer, the image stays untouched
    src = tmp_path / "in.txt"
    src.write_text("new\n")
    assert run_cli("cp", str(src), "files:/etc/").returncode == 0
    assert (c.upper / "etc" / "in.txt").read_text() == "new\n"
    assert run_cli("run", "--rm", image, "ls", "/etc/in.txt").returncode != 0
    # and into a running container, through its live mount
    engine.run(image, ["sleep", "300"], name="livecp", detach=True)
    assert run_cli("cp", str(src), "livecp:/tmp/in.txt").returncode == 0
    assert run_cli("exec", "livecp", "cat", "/tmp/in.txt").stdout == b"new\n"
    r = run_cli("cp", str(src), str(tmp_path / "y"))
    assert r.returncode == 1 and b"one side must be CONTAINER:PATH" in r.stderr


def test_restart_policies(run_cli, engine, image):
    from conftest import wait_for
    # on-failure:N gives up after N restarts; the log keeps every run
    engine.run(image, ["sh", "-c", "echo run; exit 2"], name="flaky", detach=True, restart="on-failure:3")
    wait_for(lambda: engine.container("flaky").status == "exited", timeout=30)
    c = engine.container("flaky")
    assert c.state["RestartCount"] == 3 and c.state["ExitCode"] == 2
    assert run_cli("logs", "flaky").stdout == b"run\n" * 4
    # on-failure leaves a clean exit alone
    engine.run(image, ["true"], name="clean", detach=True, restart="on-failure")
    assert engine.wait("clean", 30) == 0
    wait_for(lambda: not engine.container("clean").shim_alive(), timeout=20)  # the shim decided: no restart
    assert engine.container("clean").status == "exited" and engine.container("clean").state["RestartCount"] == 0
    # always: comes back until stopped by hand, and stop wins over the policy
    engine.run(image, ["sh", "-c", "sleep 0.2; exit 1"], name="phoenix", detach=True, restart="always")
    wait_for(lambda: (engine.container("phoenix").state.get("RestartCount") or 0) >= 2, timeout=30)
    assert run_cli("stop", "-t", "1", "phoenix").returncode == 0
    time.sleep(1)
    assert engine.container("phoenix").status == "exited"
    assert json.loads(run_cli("inspect", "phoenix").stdout)[0]["HostConfig"]["RestartPolicy"] == \
        {"Name": "always", "MaximumRetryCount": 0}
    r = run_cli("run", "--restart", "sometimes", image, "true")
    assert r.returncode == 125 and b"invalid restart policy" in r.stderr
    r = run_cli("run", "--rm", "--restart", "always", image, "true")
    assert r.returncode == 125 and b"cannot specify both --restart and --rm" in r.stderr


def test_health_checks(run_cli, engine, image):
    from conftest import wait_for

    def status(name):
        return (engine.container(name).state.get("Health") or {}).get("Status")
    engine.run(image, ["sleep", "300"], name="checked", detach=True,
               health={"cmd": "test -f /tmp/ok", "interval": "200ms", "retries": 2})
    assert status("checked") in (None, "starting")
    wait_for(lambda: status("checked") == "unhealthy", timeout=20)
    ps = [json.loads(x) for x in run_cli("ps", "--format", "json").stdout.splitlines()]
    assert [p["Status"] for p in ps if p["Names"] == "checked"][0].endswith("(unhealthy)")
    assert run_cli("exec", "checked", "touch", "/tmp/ok").returncode == 0
    wait_for(lambda: status("checked") == "healthy", timeout=20)
    h = json.loads(run_cli("inspect", "checked").stdout)[0]["State"]["Health"]
    assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0 and len(h["Log"]) <= 5
    from dunnage.core import events as ev
    cid = engine.container("checked").id
    actions = [r["Action"] for r in ev.read(engine.store)[0] if r["id"] == cid]
    assert actions.index("health_status: unhealthy") < actions.index("health_status: healthy")
    # a check that takes longer than its timeout fails; the start period forgives failures
    engine.run(image, ["sleep", "300"], name="slowcheck", detach=True,
               health={"cmd": "sleep 5", "interval": "200ms", "timeout": "300ms", "retries": 1})
    wait_for(lambda: status("slowcheck") == "unhealthy", timeout=20)
    out = engine.container("slowcheck").state["Health"]["Log"][-1]["Output"]
    assert "exceeded timeout" in out
    engine.run(image, ["sleep", "300"], name="patient", detach=True,
               health={"cmd": "false", "interval": "200ms", "retries": 1, "start_period": "30s"})
    time.sleep(1.5)
    assert status("patient") == "starting"
    r = run_cli("run", "--health-cmd", "true", "--health-interval", "soon", image, "true")
    assert r.returncode == 125 and b"invalid duration" in r.stderr


def test_health_checks_start_no_interpreter(engine, image):
    """A check runs through the runtime's exec in a child of the shim (about 20 ms here),
    not through a new `python -m dunnage.tui.cli exec` (about 115 ms before its command
    ran): one with a 60 ms timeout passes."""
    from conftest import wait_for

    def status():
        return (engine.container("quick").state.get("Health") or {}).get("Status")
    engine.run(image, ["sleep", "300"], name="quick", detach=True, network="none",
               health={"cmd": "test -f /etc/hostname", "interval": "100ms", "timeout": "60ms", "retries": 1})
    wait_for(lambda: status() == "healthy", timeout=20)
    log = engine.container("quick").state["Health"]["Log"]
    assert log[-1]["ExitCode"] == 0 and "exceeded timeout" not in log[-1]["Output"]


def test_init_forwards_signals_and_reaps_zombies(run_cli, engine, image):
    import time as _time
    # sleep as PID 1 ignores SIGTERM (no handler): stop waits for its timeout
    c = engine.run(image, ["sleep", "100"], detach=True, init=True, network="none")
    r = run_cli("exec", c.id, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.stdout.decode().startswith("/sbin/docker-init -- sleep 100")
    t = _time.monotonic()
    engine.stop(c.id, timeout=10)
    assert _time.monotonic() - t < 5  # tini passed SIGTERM on to sleep
    assert engine.container(c.id).state["ExitCode"] == 143
    # an orphan's zombie is reaped by tini
    c = engine.run(image, ["sh", "-c", "(sleep 0.2 &) ; sleep 1.5; ps -o stat,comm | grep -c '^Z' || true"],
                   detach=True, init=True, network="none")
    engine.wait(c.id, 30)
    assert run_cli("logs", c.id).stdout.decode().strip() == "0"
    assert engine.diff(c.id) == []  # the init binary's mount point is in the init layer, not the container's
    assert engine.inspect(c.id)["HostConfig"]["Init"] is True


def test_always_containers_come_back_when_their_shim_died(run_cli, engine, image):
    """What a reboot does to a container (its shim and processes gone): the next
    look at it starts an always or unless-stopped container again, as dockerd does."""
    import signal
    c = engine.run(image, ["sleep", "300"], detach=True, restart="always", network="none", name="phoenix")
    plain = engine.run(image, ["sleep", "300"], detach=True, network="none", name="stays-down")
    for x in (c, plain):
        os.kill(x.state["ShimPid"], signal.SIGKILL)
        os.kill(x.state["Pid"], signal.SIGKILL)
    wait_for(lambda: not engine.container(plain.id).running() and engine.container(plain.id).status == "exited", 20)
    back = wait_for(lambda: (lambda y: y if y.running() and y.state["Pid"] != c.state["Pid"] else None)(
        engine.container(c.id)), 20)
    assert back.shim_alive()
    assert "phoenix" in run_cli("ps", "--format", "{{.Names}}").stdout.decode().split()
    assert engine.container(plain.id).state["Error"] == "the container's shim died"


@pytest.mark.timeout(120)
def test_rm_force_of_an_autoremoved_container_races_its_shim_cleanly(run_cli, engine, image):
    """rm -f kills a --rm container whose shim then removes it too: whichever is first, rm
    succeeds with the id and no traceback (it read the vanished record before)."""
    for _ in range(4):
        r = run_cli("run", "-d", "--rm", image, "sleep", "100")
        assert r.returncode == 0, r.stderr
        cid = r.stdout.decode().strip()
        r = run_cli("rm", "-f", cid)
        assert r.returncode == 0 and r.stdout.decode().strip() == cid and r.stderr == b"", r.stderr
        assert wait_for(lambda: run_cli("inspect", cid).returncode == 1)
