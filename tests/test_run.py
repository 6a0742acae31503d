"""Real containers, run through the command line and the engine."""
from __future__ import annotations

import json
import os

import pytest

from dunnage.core import EngineError
from dunnage.core.cgroups import open_cgroup
from dunnage.core.runtime.linux import is_mountpoint

from conftest import DUNNAGE, wait_for

pytestmark = pytest.mark.timeout(120)


def test_foreground_run_prints_output_and_exits_with_its_code(run_cli, image):
    r = run_cli("run", "--rm", image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_container_is_pid_1_with_its_own_hostname(run_cli, image):
    r = run_cli("run", "--rm", "--hostname", "boxy", image, "sh", "-c", "echo $$; hostname; cat /etc/hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["1", "boxy", "boxy"]


def test_default_hostname_is_the_short_id(engine, image):
    c = engine.run(image, ["hostname"], detach=True)
    engine.wait(c.id, 30)
    out = b"".join(d for _, _, d in engine.logs(c.id)).decode().strip()
    assert out == c.id[:12]


def test_container_cannot_see_host_processes(run_cli, image):
    r = run_cli("run", "--rm", image, "sh", "-c", "ls /proc | grep -E '^[0-9]+$'")
    assert r.returncode == 0, r.stderr
    pids = [int(x) for x in r.stdout.split()]
    assert 1 in pids
    # the host has hundreds of processes, among them this test's own pid
    assert os.getpid() not in pids or len(pids) < 5
    assert len(pids) < 5


def test_new_namespaces_and_read_only_sys(run_cli, image):
    r = run_cli("run", "--rm", image, "sh", "-c",
                "cat /proc/net/dev | tail -n +3 | cut -d: -f1; touch /sys/x 2>&1; ls /dev")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    ifaces = sorted(line.strip() for line in out.splitlines()[:2])
    assert ifaces == ["eth0", "lo"]  # a network namespace of its own: loopback and its veth on the default bridge
    assert "Read-only file system" in out
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
        assert dev in out.split()
    # the namespaces differ from ours
    r2 = run_cli("run", "--rm", image, "sh", "-c",
                 "for n in uts net ipc mnt cgroup; do readlink /proc/self/ns/$n; done")
    theirs = r2.stdout.decode().split()
    ours = [os.readlink(f"/proc/self/ns/{n}") for n in ("uts", "net", "ipc", "mnt", "cgroup")]
    assert len(theirs) == 5
    assert all(a != b for a, b in zip(theirs, ours))


def test_env_and_workdir(run_cli, image):
    r = run_cli("run", "--rm", "-e", "FOO=bar", "-e", "EMPTY=", "-w", "/tmp/work", image,
                "sh", "-c", 'echo "$FOO|$EMPTY|$HOSTNAME|$PATH"; pwd')
    assert r.returncode == 0, r.stderr
    line, cwd = r.stdout.decode().splitlines()
    foo, empty, hn, path = line.split("|")
    assert (foo, empty) == ("bar", "")
    assert hn and "/bin" in path
    assert cwd == "/tmp/work"


def test_limits_are_in_the_cgroup_files(engine, image):
    c = engine.run(image, ["sleep", "60"], detach=True, memory="64m", cpus="0.5", pids_limit=20)
    cg = open_cgroup(c.id)
    if cg.version == 1:
        d = cg.paths()
        assert open(os.path.join(d["memory"], "memory.limit_in_bytes")).read().strip() == str(64 << 20)
        assert open(os.path.join(d["cpu"], "cpu.cfs_quota_us")).read().strip() == "50000"
        assert open(os.path.join(d["cpu"], "cpu.cfs_period_us")).read().strip() == "100000"
        assert open(os.path.join(d["pids"], "pids.max")).read().strip() == "20"
        procs = open(os.path.join(d["memory"], "cgroup.procs")).read().split()
    else:
        d = cg.paths()["unified"]
        assert open(os.path.join(d, "memory.max")).read().strip() == str(64 << 20)
        assert open(os.path.join(d, "cpu.max")).read().strip() == "50000 100000"
        assert open(os.path.join(d, "pids.max")).read().strip() == "20"
        procs = open(os.path.join(d, "cgroup.procs")).read().split()
    assert str(c.state["Pid"]) in procs
    # inside, the cgroup namespace makes the container's cgroup its root
    r = engine.inspect(c.id)
    assert r["HostConfig"]["Memory"] == 64 << 20
    assert r["HostConfig"]["NanoCpus"] == 500_000_000
    assert r["HostConfig"]["PidsLimit"] == 20
    with open(f"/proc/{c.state['Pid']}/cgroup") as f:
        assert f"dunnage/{c.id}" in f.read()


def test_pids_limit_holds(run_cli, image):
    r = run_cli("run", "--rm", "--pids-limit", "5", image, "sh", "-c",
                "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait")
    assert b"can't fork" in r.stdout or b"Resource temporarily unavailable" in r.stdout + r.stderr


def test_memory_hog_is_oom_killed_and_inspect_says_so(run_cli, image, engine):
    r = run_cli("run", "--name", "hog", "--memory", "16m", image, "sh", "-c",
                "x=$(head -c 100000000 /dev/zero | tr '\\0' a)")
    assert r.returncode == 137
    info = json.loads(run_cli("inspect", "hog").stdout)[0]
    assert info["State"]["OOMKilled"] is True
    assert info["State"]["ExitCode"] == 137


def test_stats_reports_cpu_of_a_busy_container(run_cli, engine, image):
    engine.run(image, ["sh", "-c", "while :; do :; done"], name="busy", detach=True, cpus="0.5")
    engine.run(image, ["sleep", "60"], name="idle", detach=True, memory="32m")
    r = run_cli("stats", "--no-stream", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {j["Name"]: j for j in map(json.loads, r.stdout.splitlines())}
    assert set(rows) >= {"busy", "idle"}
    for k in ("BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"):
        assert k in rows["busy"]
    busy = float(rows["busy"]["CPUPerc"].rstrip("%"))
    assert 5.0 < busy < 80.0  # about half a core under --cpus 0.5
    assert rows["idle"]["MemUsage"].endswith("/ 32MiB")
    assert rows["idle"]["PIDs"] == "1"
    table = run_cli("stats", "--no-stream", "busy")
    assert table.stdout.decode().splitlines()[0].split()[:3] == ["CONTAINER", "ID", "NAME"]


def test_writes_land_in_upper_and_leave_the_image_untouched(engine, image):
    img = engine.image(image)
    lower = engine.images.layer_paths(img)[0]
    before = os.stat(os.path.join(lower, "etc/passwd"))
    passwd = open(os.path.join(lower, "etc/passwd"), "rb").read()
    c = engine.run(image, ["sh", "-c", "echo hacker:x:0:0::/:/bin/sh >> /etc/passwd; echo new > /newfile; rm /etc/group"],
                   detach=True)
    assert engine.wait(c.id, 30) == 0
    assert open(os.path.join(lower, "etc/passwd"), "rb").read() == passwd
    assert os.stat(os.path.join(lower, "etc/passwd")).st_mtime_ns == before.st_mtime_ns
    assert os.path.exists(os.path.join(lower, "etc/group"))
    assert open(c.upper / "etc/passwd", "rb").read().endswith(b"hacker:x:0:0::/:/bin/sh\n")
    assert (c.upper / "newfile").read_text() == "new\n"
    assert (c.upper / "etc/.wh.group").exists()
    # a second container from the same image sees the pristine image
    c2 = engine.run(image, ["cat", "/etc/passwd"], detach=True)
    engine.wait(c2.id, 30)
    assert b"".join(d for _, _, d in engine.logs(c2.id)) == passwd


def test_rm_removes_mount_cgroup_and_state(engine, image):
    c = engine.run(image, ["sleep", "60"], detach=True)
    cg = open_cgroup(c.id)
    assert is_mountpoint(str(c.merged))
    assert cg.exists()
    with pytest.raises(EngineError) as ei:
        engine.remove(c.id)
    assert "cannot remove a running container" in str(ei.value)
    engine.remove(c.id, force=True)
    assert not is_mountpoint(str(c.merged))
    assert not cg.exists()
    assert not c.dir.exists()
    assert not engine.store.run_dir(c.id).exists()
    assert all(x.id != c.id for x in engine.containers(all_=True))


def test_exit_cleans_mount_and_cgroup(engine, image):
    c = engine.run(image, ["true"], detach=True)
    assert engine.wait(c.id, 30) == 0
    wait_for(lambda: not c.reload().shim_alive())
    assert not is_mountpoint(str(c.merged))
    assert not open_cgroup(c.id).exists()


def test_stop_kill_start_lifecycle(run_cli, engine, image):
    r = run_cli("run", "-d", "--name", "life", image, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    assert len(cid) == 64
    ps = [json.loads(x) for x in run_cli("ps", "--format", "json").stdout.splitlines()]
    mine = [p for p in ps if p["Names"] == "life"]
    assert mine and mine[0]["State"] == "running" and mine[0]["ID"] == cid[:12]
    assert run_cli("stop", "-t", "5", "life").stdout == b"life\n"
    info = json.loads(run_cli("inspect", "life").stdout)[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert run_cli("ps", "-q").stdout.decode().split().count(cid[:12]) == 0
    assert cid[:12] in run_cli("ps", "-a", "-q").stdout.decode().split()
    # start again: same container, same upper layer
    assert run_cli("start", "life").returncode == 0
    assert engine.container("life").status == "running"
    r = run_cli("kill", "-s", "KILL", "life")
    assert r.returncode == 0
    assert engine.wait("life", 30) == 137
    r = run_cli("kill", "life")
    assert r.returncode == 1 and b"is not running" in r.stderr
    assert run_cli("rm", "life").returncode == 0
    assert run_cli("inspect", "life").returncode == 1


def test_stop_escalates_to_sigkill(run_cli, engine, image):
    # sh as PID 1 ignores SIGTERM: stop must kill it after the timeout
    engine.run(image, ["sleep", "60"], name="stubborn", detach=True)
    r = run_cli("stop", "-t", "1", "stubborn")
    assert r.returncode == 0
    assert engine.container("stubborn").state["ExitCode"] == 137


def test_logs_and_follow(run_cli, engine, image):
    engine.run(image, ["sh", "-c", "echo one; echo two >&2; sleep 1; echo three"], name="chatty", detach=True)
    r = run_cli("logs", "-f", "chatty")
    assert r.returncode == 0
    assert r.stdout == b"one\nthree\n"
    assert r.stderr == b"two\n"
    r = run_cli("logs", "-t", "chatty")
    assert r.stdout.decode().splitlines()[0].endswith("Z one")


def test_inspect_has_dockers_field_names(run_cli, engine, image):
    engine.run(image, ["sleep", "60"], name="insp", detach=True, memory="32m")
    info = json.loads(run_cli("inspect", "insp").stdout)
    assert isinstance(info, list) and len(info) == 1
    i = info[0]
    for k in ("Id", "Name", "State", "Config", "HostConfig", "Image", "Created", "Path", "Args", "GraphDriver"):
        assert k in i
    assert i["Name"] == "/insp"
    assert i["State"]["Status"] == "running" and i["State"]["Running"] is True
    assert i["State"]["Pid"] > 0 and i["State"]["OOMKilled"] is False
    assert i["Config"]["Cmd"] == ["sleep", "60"]
    assert i["HostConfig"]["Memory"] == 32 << 20
    f = run_cli("inspect", "-f", "{{.State.Status}} {{.Name}}", "insp")
    assert f.stdout == b"running /insp\n"


def test_rm_flag_removes_after_exit(run_cli, engine, image):
    r = run_cli("run", "--rm", "--name", "gone", image, "true")
    assert r.returncode == 0
    assert run_cli("inspect", "gone").returncode == 1
    r = run_cli("run", "-d", "--rm", "--name", "gone2", image, "true")
    assert r.returncode == 0
    wait_for(lambda: run_cli("inspect", "gone2").returncode == 1, timeout=20)


@pytest.mark.parametrize("args,code,msg", [
    (["run", "local/busybox", "nosuchcmd"], 127, b'exec: "nosuchcmd": executable file not found in $PATH'),
    (["run", "local/busybox", "/etc/passwd"], 126, b"permission denied"),
    (["run", "local/busybox", "/no/such"], 127, b"no such file or directory"),
    (["run", "--pull", "never", "no/such-image"], 125, b"No such image: no/such-image"),  # (no traffic off the host)
    (["run", "--memory", "lots", "no/such-image"], 125, b"invalid size: 'lots'"),  # (bad flags before any pull)
    (["run", "--memory", "lots", "local/busybox", "true"], 125, b"invalid size: 'lots'"),
    (["run", "--memory", "1k", "local/busybox", "true"], 125, b"Minimum memory limit"),
    (["run", "--cpus", "x", "local/busybox", "true"], 125, b'invalid argument "x" for "--cpus"'),
    (["run", "--cpus", "999", "local/busybox", "true"], 125, b"range of CPUs"),
    (["run", "--bogus-flag", "local/busybox"], 125, b"unrecognized arguments: --bogus-flag"),
    (["run", "--name", "bad name!", "local/busybox"], 125, b"Invalid container name"),
    (["stop", "nosuch"], 1, b"No such container: nosuch"),
    (["rm", "nosuch"], 1, b"No such container: nosuch"),
    (["logs", "nosuch"], 1, b"No such container: nosuch"),
])
def test_bad_input_one_line_and_exit_code(run_cli, engine, args, code, msg):
    before = {c.id for c in engine.containers(all_=True)}
    r = run_cli(*args)
    assert r.returncode == code, r.stderr
    assert msg in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    after = {c.id: c for c in engine.containers(all_=True)}
    for cid in set(after) - before:
        # docker keeps a container whose command failed to exec; nothing of it runs
        c = after[cid]
        assert c.status != "running"
        assert not is_mountpoint(str(c.merged))
        assert not open_cgroup(cid).exists()
    if code == 125:
        assert set(after) == before  # refused before anything was created


def test_name_already_taken(run_cli, engine, image):
    engine.run(image, ["sleep", "60"], name="taken", detach=True)
    before = len(engine.containers(all_=True))
    r = run_cli("run", "--name", "taken", image, "true")
    assert r.returncode == 125
    assert b'The container name "/taken" is already in use' in r.stderr
    assert len(engine.containers(all_=True)) == before


def test_running_without_root_is_refused(session_root, image):
    from conftest import cli
    r = cli(session_root, "ps", user=65534)
    assert r.returncode == 125
    assert r.stderr.strip().splitlines() == [b"dunnage: Error: dunnage needs root (namespaces, cgroups and FUSE mounts): run it with sudo"]


def test_shim_outlives_the_front(run_cli, engine, image):
    r = run_cli("run", "-d", "--name", "lasting", image, "sleep", "60")
    assert r.returncode == 0
    c = engine.container("lasting")
    assert c.running() and c.shim_alive()
    ppid = int(open(f"/proc/{c.state['ShimPid']}/stat").read().rpartition(")")[2].split()[1])
    assert ppid != os.getpid()


def test_shim_killed_container_is_repaired(engine, image):
    import signal
    c = engine.run(image, ["sleep", "60"], detach=True)
    shim = c.state["ShimPid"]
    os.kill(c.state["Pid"], signal.SIGKILL)
    os.kill(shim, signal.SIGKILL)
    wait_for(lambda: engine.container(c.id).status == "exited", timeout=20)
    c = engine.container(c.id)
    assert not is_mountpoint(str(c.merged))
    assert not open_cgroup(c.id).exists()


def test_a_killed_shim_ends_its_container(engine, image):
    """kill -9 of the shim alone (it served the container's root): the next look marks
    the container exited with the reason, and nothing of it is left running."""
    import signal
    c = engine.run(image, ["sleep", "60"], detach=True, network="none")
    pid = c.state["Pid"]
    os.kill(c.state["ShimPid"], signal.SIGKILL)
    c = wait_for(lambda: (lambda x: x if x.status == "exited" else None)(engine.container(c.id)), timeout=20)
    assert "shim died" in c.state["Error"]
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().rpartition(")")[2][:3]
    assert not is_mountpoint(str(c.merged))
    assert not open_cgroup(c.id).exists()


def test_events_are_logged_and_followed(session_root, engine, image):
    import subprocess
    c = engine.run(image, ["true"], name="evented", detach=True)
    engine.wait(c.id, 30)
    p = subprocess.Popen([DUNNAGE, "--root", str(session_root),
                          "events", "--since", "1m", "--format", "json"], stdout=subprocess.PIPE)
    try:
        seen = []
        while not {"create", "start", "die"} <= set(seen):
            line = p.stdout.readline()
            assert line, "events stopped early"
            ev = json.loads(line)
            if ev["Actor"]["ID"] == c.id:
                seen.append(ev["Action"])
                assert ev["Actor"]["Attributes"]["name"] == "evented"
        assert seen.index("create") < seen.index("start") < seen.index("die")
    finally:
        p.kill()
        p.wait()


def test_system_events_is_events(run_cli):
    assert run_cli("run", "--rm", "--network", "none", "local/busybox", "true").returncode == 0
    args = ("--since", "10m", "--until", "0s", "-f", "type=container", "--format", "{{.Action}} {{.Actor.ID}}")
    a, b = run_cli("events", *args), run_cli("system", "events", *args)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and a.stdout, (a.stderr, b.stderr)


def test_events_refuses_a_bad_query_in_one_line(run_cli):
    """(docker's codes: 125 for the flag's form, 1 for what the daemon or the CLI's time parser refuses;
    dockerd 20.10 takes any filter key and type, tests/test_parity.py holds that to it)"""
    for args, msg, code in ((("--filter", "nokey"), b"bad format of filter", 125),
                            (("--since", "1m", "--until", "2m"), b"`since` time (", 1),
                            (("--until", "yesterday"), b'failed to parse value as time or duration: "yesterday"', 1)):
        r = run_cli("events", *args)
        assert r.returncode == code and msg in r.stderr and len(r.stderr.splitlines()) == 1, (args, r.stderr)
        assert r.stdout == b""


def test_read_only_ulimits_env_file_labels_stop_signal(run_cli, engine, image, tmp_path):
    envf = tmp_path / "env"
    envf.write_text("A=1\n# a comment\nB=two words\n")
    r = run_cli("run", "--rm", "--read-only", "--ulimit", "nofile=512:1000", "--env-file", str(envf), "-e", "A=3",
                image, "sh", "-c", 'ulimit -n; ulimit -Hn; echo "$A|$B"; touch /x 2>&1; echo ok > /dev/shm/z && cat /dev/shm/z')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[:3] == ["512", "1000", "3|two words"]
    assert "Read-only file system" in lines[3] and lines[4] == "ok"  # the root is read-only, /dev/shm is not
    # above the host's hard limit: refused before anything starts
    r = run_cli("run", "--rm", "--ulimit", "nofile=10:999999999", image, "true")
    assert r.returncode == 125 and b"above this host's" in r.stderr
    r = run_cli("run", "--rm", "--ulimit", "nofiles=1", image, "true")
    assert r.returncode == 125 and b"invalid ulimit argument" in r.stderr
    # labels and the stop signal reach inspect; stop uses the signal
    engine.run(image, ["sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.1; done"], name="sig", detach=True,
               labels=["tier=web"], stop_signal="SIGUSR1", stop_timeout=5)
    cfg = json.loads(run_cli("inspect", "sig").stdout)[0]["Config"]
    assert cfg["Labels"] == {"tier": "web"} and cfg["StopSignal"] == "SIGUSR1" and cfg["StopTimeout"] == 5
    assert run_cli("stop", "sig").returncode == 0
    assert engine.container("sig").state["ExitCode"] == 42


def test_log_rotation_keeps_max_file_and_followers_see_everything(run_cli, engine, image):
    script = "i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); usleep 5000; done"
    r = run_cli("run", "--name", "rotated", "--log-opt", "max-size=300", "--log-opt", "max-file=3", image,
                "sh", "-c", script)
    assert r.returncode == 0
    # the foreground run followed the log across every rotation
    assert r.stdout.decode().split() == [f"line-{i}" for i in range(60)]
    c = engine.container("rotated")
    files = sorted(p.name for p in c.dir.iterdir() if p.name.startswith("log"))
    assert files == ["log", "log.1", "log.2"]
    assert all((c.dir / f).stat().st_size <= 300 for f in files)
    kept = run_cli("logs", "rotated").stdout.decode().split()
    assert 0 < len(kept) < 60 and kept[-1] == "line-59"
    assert kept == [f"line-{i}" for i in range(60 - len(kept), 60)]  # the newest, in order
    assert json.loads(run_cli("inspect", "rotated").stdout)[0]["HostConfig"]["LogConfig"]["Config"] == \
        {"max-file": "3", "max-size": "300"}  # docker's form: the options as given
    r = run_cli("run", "--rm", "--log-opt", "max-size=lots", image, "true")
    assert r.returncode == 125 and b"invalid --log-opt" in r.stderr


def test_more_limits_are_applied_and_visible_read_only_inside(run_cli, engine, image):
    vda = next(p for p in ("/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda") if os.path.exists(p))
    st = os.stat(vda)
    dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    r = run_cli("run", "--rm", "--network", "none", "-m", "64m", "--memory-swap", "96m", "--cpu-shares", "512",
                "--cpuset-cpus", "0", "--blkio-weight", "300", "--device-read-bps", f"{vda}:1mb",
                "--device-write-bps", f"{vda}:2mb", image, "sh", "-c",
                "cd /sys/fs/cgroup; cat memory/memory.memsw.limit_in_bytes cpu/cpu.shares cpuset/cpuset.cpus "
                "blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_bps_device; "
                "grep Cpus_allowed_list /proc/self/status; echo 1 > cpu/cpu.shares || echo read-only")
    assert r.returncode == 0, r.stderr
    # the weight needs an I/O scheduler with weights (BFQ); without one dockerd discards it with this warning
    weights = any(os.path.exists(f"/sys/fs/cgroup/blkio/{f}") for f in ("blkio.weight", "blkio.bfq.weight"))
    warning = (b"WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. "
               b"Weight discarded.\n")
    assert r.stderr.startswith(warning) != weights, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[:5] == [str(96 << 20), "512", "0", f"{dev} 1048576", f"{dev} 2097152"]
    assert lines[5].split() == ["Cpus_allowed_list:", "0"]
    assert lines[6] == "read-only"
    # the flags are kept in HostConfig as docker names them
    c = engine.create(image, ["true"], memory="64m", memory_swap="-1", cpu_shares=100)
    hc = engine.inspect(c.id)["HostConfig"]
    assert (hc["MemorySwap"], hc["CpuShares"]) == (-1, 100)


def test_memory_alone_gets_as_much_swap_as_docker_gives(run_cli, engine, image):
    """docker: --memory without --memory-swap allows as much swap again (memory+swap = twice)."""
    r = run_cli("run", "--rm", "--network", "none", "-m", "32m", image, "cat",
                "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [str(32 << 20), str(64 << 20)]
    c = engine.create(image, ["true"], memory="32m")
    assert engine.inspect(c.id)["HostConfig"]["MemorySwap"] == 64 << 20
    c = engine.create(image, ["true"])
    assert engine.inspect(c.id)["HostConfig"]["MemorySwap"] == 0


def test_devices_cgroup_allows_only_dockers_devices(run_cli, image):
    r = run_cli("run", "--rm", "--network", "none", image, "sh", "-c",
                "mknod /dev/blk b 7 0 && echo made; head -c 1 /dev/blk 2>&1; head -c 3 /dev/urandom | wc -c")
    out = r.stdout.decode()
    assert out.splitlines()[0] == "made" and "Operation not permitted" in out and out.splitlines()[-1] == "3"
    r = run_cli("run", "--rm", "--privileged", image, "cat", "/sys/fs/cgroup/devices/devices.list")
    assert r.stdout.decode().strip() == "a *:* rwm"


@pytest.mark.parametrize("args, message", [
    (["--memory-swap", "32m", "-m", "64m"], "larger than memory limit"),
    (["--memory-swap", "64m"], "always set the Memory limit"),
    (["--cpu-shares", "1"], "between 2 and 262144"),
    (["--cpuset-cpus", "0-999"], "Requested CPUs are not available"),
    (["--cpuset-cpus", "one"], "invalid --cpuset-cpus"),
    (["--blkio-weight", "5"], "between 10 and 1000"),
    (["--device-read-bps", "/etc/passwd:1mb"], "not a block device"),
    (["--device-write-bps", "/dev/vda"], "DEVICE:RATE"),
])
def test_bad_limits_are_one_line_errors(run_cli, image, args, message):
    r = run_cli("run", "--rm", *args, image, "true")
    assert r.returncode == 125
    err = r.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_fork_bomb_stops_at_the_pids_limit_and_the_host_keeps_working(run_cli, engine, image):
    import subprocess
    c = engine.run(image, ["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 30"], detach=True,
                   pids_limit=64, network="none")
    try:
        from dunnage.core.cgroups import open_cgroup
        cg = open_cgroup(c.id)
        # the kernel's count of forks the limit refused (pids.events "max", v1 and v2): a bomb's
        # processes come and go, so a sampled pids.current can miss its peaks on a loaded host
        events = next(os.path.join(d, "pids.events") for d in cg.paths().values()
                      if os.path.exists(os.path.join(d, "pids.events")))
        wait_for(lambda: int(open(events).read().split()[1]) > 0, timeout=30)
        # while the bomb presses against its limit, the host starts processes as usual
        for _ in range(20):
            assert subprocess.run(["true"], timeout=10).returncode == 0
        assert cg.stats().pids_current <= 64
        assert run_cli("ps", "-q").returncode == 0
    finally:
        engine.remove(c.id, force=True)


def test_a_dead_fuse_server_fails_the_container_and_leaves_no_mount(run_cli, engine, image):
    """Faults: if the union filesystem's server ends (here its kernel connection is
    aborted, by umount -f, as when a server fails), the container sees errors (not a hang), the
    engine marks it failed with the reason, and the mount is cleaned up."""
    from dunnage.core.runtime.linux import umount2
    c = engine.run(image, ["sh", "-c", "echo keep > /kept; sync; touch /synced; "
                                       "while :; do cat /etc/passwd > /dev/null; sleep 0.05; done"],
                   detach=True, network="none", restart="always")
    wait_for(lambda: (c.upper / "synced").exists())
    shim = c.state["ShimPid"]
    assert "dunnage-fuse" in {open(f"/proc/{shim}/task/{t}/comm").read().strip()
                              for t in os.listdir(f"/proc/{shim}/task")}  # the shim's thread serves the root
    try:
        umount2(str(c.merged), 1)  # MNT_FORCE: FUSE aborts the connection (then: busy)
    except OSError:
        pass
    c = wait_for(lambda: (lambda x: x if x.status == "exited" else None)(engine.container(c.id)), timeout=30)
    assert "dunnage-fuse" in c.state["Error"] and "died" in c.state["Error"]
    assert not is_mountpoint(str(c.merged))
    assert not c.shim_alive()  # and no restart, whatever the policy: the root is gone
    assert "died" in json.loads(run_cli("inspect", c.id).stdout)[0]["State"]["Error"]
    assert (c.upper / "kept").read_text() == "keep\n"  # what was synced is in the upper layer
