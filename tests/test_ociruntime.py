"""dunnage-runtime (issue 25): runc's command line over dunnage's runtime, driven by its real
callers on this machine (podman, containerd's ctr, dockerd) and directly on a bundle, with
runc as the oracle for what a container sees inside."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import cli, wait_for
from peers import Dockerd, Podman, cgroup_roots

RUNTIME = str(Path(sys.executable).parent / "dunnage-runtime")
pytestmark = pytest.mark.timeout(180)


def rt(state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """dunnage-runtime with its output in files, not pipes: a created container's init keeps
    the caller's standard streams (as with runc), so a pipe would not end while it runs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run([RUNTIME, "--root", str(state), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


@pytest.fixture(scope="module")
def image_tar(session_root, tmp_path_factory):
    """The demo image as a docker archive every peer loads."""
    path = tmp_path_factory.mktemp("ociimg") / "busybox.tar"
    r = cli(session_root, "save", "-o", str(path), "local/busybox:latest")
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="module")
def podman(image_tar):
    p = Podman(runtime=RUNTIME)
    try:
        r = p("load", "-i", str(image_tar))
        assert r.returncode == 0, r.stderr
        yield p
    finally:
        p.close()


IMG = "localhost/local/busybox:latest"


def _status_lines(out: bytes) -> list[str]:
    return [ln for ln in out.decode().splitlines() if ln.startswith(("Cap", "Seccomp", "NoNewPrivs"))]


def test_podman_run_rm_as_with_runc(podman):
    """Output, exit code, capabilities, seccomp, limits and /dev inside are those runc gives the
    same podman command."""
    script = ("grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; echo --; "
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; echo --; "
              "ls -l /dev | awk '{print $1, $NF}'; echo --; mount | awk '{print $3, $5}' | sort; exit 3")
    cmd = ["run", "--rm", *Podman.RUN, "-m", "64m", "--pids-limit", "50", IMG, "sh", "-c", script]
    ours = podman(*cmd)
    theirs = podman.with_runtime("runc", *cmd)
    assert ours.returncode == theirs.returncode == 3, (ours.stderr, theirs.stderr)
    o, t = ours.stdout.decode().split("--\n"), theirs.stdout.decode().split("--\n")
    assert o[0] == t[0] and "Seccomp:\t2" in o[0]
    assert o[1].split() == t[1].split() == ["67108864", "50"]
    assert o[2] == t[2]
    assert o[3] == t[3]


def test_podman_non_root_user_as_with_runc(podman):
    """--user 1000 (the init opens its exec.fifo after the switch: it must be writable by
    that user) and --cap-add for it: the same ids, groups and capability sets as runc gives."""
    cmd = ["run", "--rm", *Podman.RUN, "--user", "1000:1000", "--group-add", "10", "--cap-add", "NET_RAW", IMG,
           "sh", "-c", "id; grep -E '^Cap' /proc/self/status"]
    ours, theirs = podman(*cmd), podman.with_runtime("runc", *cmd)
    assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout and ours.stdout.startswith(b"uid=1000("), (ours.stdout, theirs.stdout)
    e = podman("run", "-d", *Podman.RUN, IMG, "sleep", "300")
    cid = e.stdout.decode().strip()
    try:
        mine = podman("exec", "--user", "1000", cid, "sh", "-c", "id; grep -E '^Cap' /proc/self/status")
        assert mine.returncode == 0 and mine.stdout.startswith(b"uid=1000"), mine.stderr
    finally:
        podman("rm", "-f", cid)


def test_podman_detached_exec_pause_stop_rm(podman):
    r = podman("run", "-d", *Podman.RUN, IMG, "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    try:
        e = podman("exec", cid, "sh", "-c", "echo from-exec; exit 4")
        assert e.returncode == 4 and e.stdout == b"from-exec\n", e.stderr
        t = podman("exec", "-t", cid, "tty")
        assert t.returncode == 0 and t.stdout.decode().strip().startswith("/dev/pts/"), t.stderr
        assert podman("pause", cid).returncode == 0
        assert podman("inspect", "-f", "{{.State.Status}}", cid).stdout.decode().strip() == "paused"
        assert podman("unpause", cid).returncode == 0
        assert podman("inspect", "-f", "{{.State.Status}}", cid).stdout.decode().strip() == "running"
        k = podman("kill", cid)
        assert k.returncode == 0, k.stderr
        assert wait_for(lambda: podman("inspect", "-f", "{{.State.Status}}", cid).stdout.decode().strip() == "exited")
        assert podman("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.decode().strip() == "137"
    finally:
        podman("rm", "-f", cid)
    assert not os.path.exists(f"/run/dunnage-runtime/{cid}")  # the runtime's state went with it


def test_podman_limits_bite(podman):
    """A memory limit kills what goes over it, a pids limit stops forks, as under runc."""
    def killed(r):  # the OOM killer takes tail (most often) or, now and then, the container's shell
        return b"tail=137" in r.stdout or (r.returncode == 137 and b"survived" not in r.stdout)
    mem = ["run", "--rm", *Podman.RUN, "-m", "16m", "--memory-swap", "16m", IMG, "sh", "-c",
           "head -c 64m /dev/zero | tail > /dev/null; echo tail=$?; echo survived"]
    ours, theirs = podman(*mem), podman.with_runtime("runc", *mem)
    assert killed(ours) and killed(theirs), (ours.returncode, ours.stdout, theirs.returncode, theirs.stdout)
    pids = ["run", "--rm", *Podman.RUN, "--pids-limit", "4", IMG, "sh", "-c",
            "for i in 1 2 3 4 5 6; do sleep 30 & done; echo forks"]
    ours, theirs = podman(*pids), podman.with_runtime("runc", *pids)
    assert ours.stderr.count(b"can't fork") == theirs.stderr.count(b"can't fork") > 0, (ours.stderr, theirs.stderr)


def _on_a_terminal(cmd: list[str], cwd: Path, timeout: float = 90, typed: bytes = b"",
                   once: bytes = b"") -> tuple[int, bytes]:
    """CMD with a pty of ours as its terminal (podman -it needs one), TYPED at it once its
    output shows ONCE: its exit code and output."""
    import pty
    import select
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, start_new_session=True)
    os.close(slave)
    out = b""
    try:
        while True:
            r, _, _ = select.select([master], [], [], timeout)
            if not r:
                break
            try:
                more = os.read(master, 4096)
            except OSError:  # EIO: every process with the terminal open ended
                break
            if not more:
                break
            out += more
            if typed and once in out:
                os.write(master, typed)
                typed = b""
        return proc.wait(timeout=timeout), out.replace(b"\r", b"")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_podman_it_top_stop_rm(podman):
    """podman run -it (a terminal through --console-socket), top, stop (SIGTERM, then SIGKILL
    after -t) and rm, as with runc."""
    it = ["run", "-it", "--rm", *Podman.RUN, IMG, "sh", "-c", "tty; echo $((6*7)); exit 2"]
    ours = _on_a_terminal(podman.cmd + it, podman.dir)
    runc_cmd = podman.cmd[:podman.cmd.index("--runtime") + 1] + ["runc"]
    theirs = _on_a_terminal(runc_cmd + it, podman.dir)
    assert ours == theirs == (2, b"/dev/pts/0\n42\n"), (ours, theirs)
    r = podman("run", "-d", *Podman.RUN, IMG, "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    try:
        assert os.path.exists(f"/run/dunnage-runtime/{cid}/state.json")
        top = podman("top", cid)
        assert top.returncode == 0 and "sleep 300" in top.stdout.decode(), (top.stdout, top.stderr)
        stop = podman("stop", "-t", "1", cid)
        assert stop.returncode == 0, stop.stderr
        assert podman("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid).stdout.decode().split() == \
            ["exited", "137"]
        rm = podman("rm", cid)
        assert rm.returncode == 0, rm.stderr
        assert podman("ps", "-aq").stdout.strip() == b""
        assert not os.path.exists(f"/run/dunnage-runtime/{cid}")
    finally:
        podman("rm", "-f", cid)


def test_ctr_run_through_containerd(image_tar, tmp_path):
    """containerd's runc shim (the path of a Kubernetes node's CRI) runs a container through
    dunnage-runtime and reports its exit code."""
    d = Path(tempfile.mkdtemp(prefix="dctr-"))
    sock = d / "c.sock"
    (d / "config.toml").write_text(
        f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n[grpc]\n  address = "{sock}"\n'
        '[plugins."io.containerd.grpc.v1.cri"]\n  disable = true\n')
    log = open(d / "log", "wb")
    proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    ctr = ["ctr", "--address", str(sock), "-n", "dunnagetest"]
    parent = f"dunnage-ctr-{os.getpid()}"
    try:
        assert wait_for(lambda: subprocess.run(ctr + ["version"], capture_output=True, timeout=10).returncode == 0,
                        timeout=30)
        r = subprocess.run(ctr + ["images", "import", str(image_tar)], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(ctr + ["run", "--rm", "--runc-binary", RUNTIME, "--cgroup", f"/{parent}/c1",
                                  "docker.io/local/busybox:latest", "c1", "sh", "-c", "echo hi from ctr; exit 5"],
                           capture_output=True, timeout=60)
        assert r.returncode == 5 and r.stdout == b"hi from ctr\n", (r.returncode, r.stdout, r.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for p in os.listdir("/proc"):  # its shims
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        if str(d).encode() in f.read():
                            os.kill(int(p), 9)
                except OSError:
                    pass
        with open("/proc/self/mountinfo") as f:
            mounts = [ln.split()[4] for ln in f if str(d) in ln.split()[4]]
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
        for r_ in cgroup_roots():
            for sub in (f"{parent}/c1", parent):
                try:
                    os.rmdir(os.path.join(r_, sub))
                except OSError:
                    pass


def test_dockerd_add_runtime(image_tar):
    d = Dockerd(extra_args=("--add-runtime", f"dunnage={RUNTIME}"))
    try:
        d.ok("load", "-i", str(image_tar))
        r = d("run", "--rm", "--runtime", "dunnage", "--network", "none", "local/busybox:latest",
              "sh", "-c", "echo via dockerd; exit 6", timeout=120)
        assert r.returncode == 6 and r.stdout == b"via dockerd\n", (r.returncode, r.stdout, r.stderr)
    finally:
        d.close()


# ---------------------------------------------------------------- the command line on a bundle
@pytest.fixture
def bundle(session_root, engine, tmp_path):
    """A bundle: the demo image's files as its root, runc's default config.json (runc spec) with
    a command of the test's choosing."""
    b = tmp_path / "bundle"
    (b / "rootfs").mkdir(parents=True)
    r = cli(session_root, "create", "local/busybox:latest", "true")
    cid = r.stdout.decode().strip()
    exp = cli(session_root, "export", cid)
    assert exp.returncode == 0, exp.stderr
    subprocess.run(["tar", "-C", str(b / "rootfs"), "-xf", "-"], input=exp.stdout, check=True, timeout=60)
    subprocess.run(["runc", "spec"], cwd=b, check=True, timeout=10)
    state = tmp_path / "state"
    yield b, state
    for cid in rt(state, "list", "-q").stdout.decode().split():
        rt(state, "delete", "--force", cid)


def set_config(b: Path, **process) -> dict:
    c = json.loads((b / "config.json").read_text())
    c["process"]["terminal"] = False
    c["process"].update(process)
    (b / "config.json").write_text(json.dumps(c))
    return c


def test_create_start_state_kill_delete(bundle):
    b, state = bundle
    set_config(b, args=["sleep", "300"])
    r = rt(state, "create", "--bundle", str(b), "--pid-file", str(b / "pid"), "c1")
    assert r.returncode == 0, r.stderr
    st = json.loads(rt(state, "state", "c1").stdout)
    assert st["status"] == "created" and st["pid"] == int((b / "pid").read_text())
    assert rt(state, "start", "c1").returncode == 0
    assert json.loads(rt(state, "state", "c1").stdout)["status"] == "running"
    assert open(f"/proc/{st['pid']}/cmdline", "rb").read() == b"sleep\x00300\x00"
    again = rt(state, "start", "c1")
    assert again.returncode == 1 and b"running" in again.stderr
    busy = rt(state, "delete", "c1")
    assert busy.returncode == 1 and b"not stopped" in busy.stderr
    assert rt(state, "kill", "c1", "KILL").returncode == 0
    assert wait_for(lambda: json.loads(rt(state, "state", "c1").stdout)["status"] == "stopped")
    assert rt(state, "delete", "c1").returncode == 0
    gone = rt(state, "state", "c1")
    assert gone.returncode == 1 and gone.stderr.decode().strip() == "dunnage-runtime: container c1 does not exist"
    assert not any(os.path.exists(os.path.join(r_, "dunnage-runtime", "c1")) for r_ in cgroup_roots())


def _server(state: Path) -> int | None:
    """The pid of the runtime's server of root STATE (ociruntime/server.py), if one is up."""
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
                with open(f"/proc/{p}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if comm == "dunnage-rtsrv" and f"DUNNAGE_RUNTIME_SERVER={state}".encode() in env:
                return int(p)
    return None


def test_verbs_after_create_run_in_the_warm_server(bundle, tmp_path):
    """create starts its root's server (out of the caller's cgroups); state, start, kill and delete
    then run in a child of it, answering as they do when run here; it leaves once its root is gone."""
    b, state = bundle
    out = tmp_path / "hook-ppid"
    c = set_config(b, args=["sleep", "300"])
    c["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cut -d' ' -f4 /proc/$PPID/stat > {out}"]}]}
    (b / "config.json").write_text(json.dumps(c))
    assert rt(state, "create", "--bundle", str(b), "c1").returncode == 0
    assert wait_for(lambda: _server(state) is not None, timeout=20)
    srv = _server(state)
    with open(f"/proc/{srv}/cgroup") as f:
        assert all(line.endswith(":/") for line in f.read().split()), "the server left its starter's cgroups"
    served = rt(state, "state", "c1")
    here = subprocess.run([RUNTIME, "--root", str(state), "state", "c1"], capture_output=True, timeout=60,
                          env={**os.environ, "DUNNAGE_RUNTIME_SERVE": "0"})
    assert served.returncode == here.returncode == 0 and json.loads(served.stdout) == json.loads(here.stdout)
    assert rt(state, "start", "c1").returncode == 0
    assert rt(state, "kill", "c1", "KILL").returncode == 0
    assert wait_for(lambda: json.loads(rt(state, "state", "c1").stdout)["status"] == "stopped")
    assert rt(state, "delete", "c1").returncode == 0
    assert int(out.read_text()) == srv  # the poststop hook's parent (delete) was the server's child
    missing = rt(state, "state", "c1")
    assert missing.returncode == 1 and missing.stderr.decode().strip() == "dunnage-runtime: container c1 does not exist"
    shutil.rmtree(state)
    assert wait_for(lambda: _server(state) is None, timeout=20)


def test_run_exit_code_and_hooks(bundle, tmp_path):
    b, state = bundle
    out = tmp_path / "hook.json"
    c = set_config(b, args=["sh", "-c", "exit 7"])
    c["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}"]}]}
    (b / "config.json").write_text(json.dumps(c))
    r = rt(state, "run", "--bundle", str(b), "r1")
    assert r.returncode == 7, r.stderr
    assert json.loads(out.read_text())["id"] == "r1"
    assert rt(state, "list", "-q").stdout == b""


def _create_bad(b, state, change, message) -> None:
    """create of the bundle as CHANGE spoils it: one line naming MESSAGE, exit 1, no container, no cgroup."""
    c = set_config(b, args=["true"])
    change(c)
    (b / "config.json").write_text(json.dumps(c))
    r = rt(state, "create", "--bundle", str(b), "bad")
    err = r.stderr.decode().strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1 and message in err, err
    assert rt(state, "list", "-q").stdout == b""
    assert not any(os.path.exists(os.path.join(r_, "dunnage-runtime", "bad")) for r_ in cgroup_roots())


@pytest.mark.parametrize("change, message", [
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}]),
     "user namespace mappings specified, but user namespace isn't enabled"),
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c["root"].update(path="nowhere"), "no such directory"),
    (lambda c: c.update(ociVersion="2.0.0"), "ociVersion"),
    (lambda c: c["process"].update(args=["no-such-program"]), "executable file not found"),
    (lambda c: c.update(hooks={"createRuntime": [{"path": "/bin/false"}]}), "createRuntime hook /bin/false"),
])
def test_bad_bundles_are_one_line_and_leave_nothing(bundle, change, message):
    b, state = bundle
    _create_bad(b, state, change, message)


def test_duplicate_id_and_unknown_container(bundle):
    b, state = bundle
    set_config(b, args=["sleep", "300"])
    assert rt(state, "create", "--bundle", str(b), "d1").returncode == 0
    dup = rt(state, "create", "--bundle", str(b), "d1")
    assert dup.returncode == 1 and b"container with id exists: d1" in dup.stderr
    assert rt(state, "delete", "--force", "d1").returncode == 0
    assert rt(state, "delete", "--force", "never-made").returncode == 0
    k = rt(state, "kill", "never-made")
    assert k.returncode == 1 and b"does not exist" in k.stderr


def test_json_log_for_containerd(bundle, tmp_path):
    """containerd's shim reads the last error from --log in --log-format json."""
    b, state = bundle
    log = tmp_path / "log.json"
    r = subprocess.run([RUNTIME, "--root", str(state), "--log", str(log), "--log-format", "json", "start", "nope"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "nope does not exist" in entry["msg"]


def test_version_and_features():
    v = subprocess.run([RUNTIME, "--version"], capture_output=True, timeout=30)
    assert v.returncode == 0 and b"spec: 1.1.0" in v.stdout
    f = json.loads(subprocess.run([RUNTIME, "features"], capture_output=True, timeout=30).stdout)
    assert f["ociVersionMax"] == "1.1.0" and "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
    assert "user" in f["linux"]["namespaces"] and "time" not in f["linux"]["namespaces"]


def test_update_and_events_stats(bundle):
    b, state = bundle
    set_config(b, args=["sleep", "300"])
    assert rt(state, "run", "-d", "--bundle", str(b), "u1").returncode == 0
    cg = next(os.path.join(r_, "dunnage-runtime", "u1") for r_ in cgroup_roots() if r_.endswith("/memory"))
    r = rt(state, "update", "--memory", "48m", "--pids-limit", "9", "u1")
    assert r.returncode == 0, r.stderr
    assert open(os.path.join(cg, "memory.limit_in_bytes")).read().strip() == str(48 << 20)
    pids = next(os.path.join(r_, "dunnage-runtime", "u1") for r_ in cgroup_roots() if r_.endswith("/pids"))
    assert open(os.path.join(pids, "pids.max")).read().strip() == "9"
    res = b.parent / "res.json"
    res.write_text(json.dumps({"pids": {"limit": 12}}))
    assert rt(state, "update", "--resources", str(res), "u1").returncode == 0
    assert open(os.path.join(pids, "pids.max")).read().strip() == "12"
    bad = rt(state, "update", "--memory", "lots", "u1")
    assert bad.returncode == 1 and b"invalid value for --memory: lots" in bad.stderr
    ev = json.loads(rt(state, "events", "--stats", "u1").stdout)
    assert ev["type"] == "stats" and ev["data"]["pids"] == {"current": 1, "limit": 12}
    assert ev["data"]["memory"]["usage"]["limit"] == 48 << 20
    assert rt(state, "delete", "--force", "u1").returncode == 0


SUBREAPER_CREATE = """
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as conmon and containerd's shim
runtime, state, bundle, pid_file, out = sys.argv[1:]
with open(out, "wb") as f:
    r = subprocess.run([runtime, "--root", state, "create", "--bundle", bundle, "--pid-file", pid_file, "c2"],
                       stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=60)
pid = int(open(pid_file).read())
with open(f"/proc/{pid}/stat") as f:
    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
print(json.dumps({"rc": r.returncode, "ppid": ppid, "me": os.getpid()}))
"""


def _served_root(bundle) -> tuple[Path, Path, int]:
    """A bundle whose root's server is up (a first create started it): the creates that
    follow are served (prepared in the server, the init forked by the launcher)."""
    b, state = bundle
    set_config(b, args=["sleep", "300"])
    assert rt(state, "create", "--bundle", str(b), "c1").returncode == 0
    assert wait_for(lambda: _server(state) is not None, timeout=20)
    assert rt(state, "delete", "--force", "c1").returncode == 0
    return b, state, _server(state)


def test_served_create_prepares_in_the_server_and_forks_the_init_in_the_caller(bundle, tmp_path):
    """create with the server up: the bundle read, the cgroup made and the hooks run in the
    server's child, the init forked by the caller's process (it descends from the caller, a
    subreaper as conmon is), joined to every hierarchy's group, in a network namespace of
    its own with the loopback up, with the bundle's seccomp filter (compiled in the server)
    loaded."""
    b, state, srv = _served_root(bundle)
    hook_out = tmp_path / "hook-grandparent"
    c = set_config(b, args=["sh", "-c", "mkdir /made 2>/err.txt; cat /sys/class/net/lo/flags > /lo.txt; "
                                        "ls /sys/class/net > /links.txt; sleep 300"])
    c["root"]["readonly"] = False
    c["hooks"] = {"createRuntime": [{"path": "/bin/sh",
                                     "args": ["sh", "-c", f"cut -d' ' -f4 /proc/$PPID/stat > {hook_out}"]}]}
    c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                             "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                           "errnoRet": 1}]}
    (b / "config.json").write_text(json.dumps(c))
    pid_file = tmp_path / "pid"
    p = subprocess.run([sys.executable, "-c", SUBREAPER_CREATE, RUNTIME, str(state), str(b), str(pid_file),
                        str(tmp_path / "out")], capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["rc"] == 0, (tmp_path / "out").read_bytes()
    assert res["ppid"] == res["me"], "the init does not descend from the caller"
    assert int(hook_out.read_text()) == srv, "create's hooks did not run in the server's child"
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cgroup") as f:
        groups = [line.split(":", 2) for line in f.read().split()]
    v1 = [g for g in groups if g[1] and not g[1].startswith("name=")]
    assert v1 and all(g[2] == "/dunnage-runtime/c2" for g in v1), groups
    assert rt(state, "start", "c2").returncode == 0
    assert wait_for(lambda: (b / "rootfs" / "err.txt").exists() and (b / "rootfs" / "err.txt").read_bytes())
    assert b"Operation not permitted" in (b / "rootfs" / "err.txt").read_bytes()
    assert not (b / "rootfs" / "made").exists()
    # its own network namespace (made by the server), with the loopback up and nothing else
    assert os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    assert wait_for(lambda: (b / "rootfs" / "links.txt").exists() and (b / "rootfs" / "links.txt").read_bytes())
    assert (b / "rootfs" / "lo.txt").read_text().strip() == "0x9"  # IFF_UP | IFF_LOOPBACK
    assert (b / "rootfs" / "links.txt").read_text().split() == ["lo"]
    with open(f"/proc/{pid}/status") as f:
        assert "Seccomp:\t2" in f.read()
    assert rt(state, "delete", "--force", "c2").returncode == 0


@pytest.mark.parametrize("change, message", [
    (lambda c: c["process"].update(args=["no-such-program"]), "executable file not found"),  # the init fails
    (lambda c: c["root"].update(path="nowhere"), "no such directory"),  # the server's prepare fails
    (lambda c: c.update(hooks={"createContainer": [{"path": "/bin/false"}]}), "createContainer hook /bin/false"),
])
def test_served_create_that_fails_is_one_line_and_leaves_nothing(bundle, change, message):
    b, state, _ = _served_root(bundle)
    _create_bad(b, state, change, message)
    assert not (state / "bad").exists()


def test_served_create_with_a_terminal(bundle, tmp_path):
    """A served create with process.terminal: the init's pty master goes to --console-socket
    (as conmon's), and after start the program runs on that terminal (nothing the init needs
    after pivot_root is left to import)."""
    import socket
    b, state, _ = _served_root(bundle)
    c = set_config(b, args=["sh", "-c", "tty; echo $((6*7))"])
    c["process"]["terminal"] = True
    (b / "config.json").write_text(json.dumps(c))
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(60)
        r = rt(state, "create", "--bundle", str(b), "--console-socket", path, "t1")
        assert r.returncode == 0, r.stderr
        conn, _ = listener.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    master = fds[0]
    try:
        assert msg == b"/dev/pts/0"
        assert rt(state, "start", "t1").returncode == 0
        out = b""
        while b"42" not in out:
            try:
                more = os.read(master, 4096)
            except OSError:  # EIO: the program ended and closed the terminal
                break
            if not more:
                break
            out += more
        assert out.replace(b"\r", b"") == b"/dev/pts/0\n42\n", out
    finally:
        os.close(master)
        assert rt(state, "delete", "--force", "t1").returncode == 0


# ---------------------------------------------------------------- issue 25's audit: the bundle as runc reads it
PROBE = ("id; umask; pwd; echo FOO=$FOO; hostname; cat /proc/sys/kernel/domainname; "
         "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; "
         "echo --; mount | awk '{print $3, $5, $6}' | sort; "
         "awk '$5 == \"/data\" || $5 == \"/scratch\" {print $5, $7}' /proc/self/mountinfo | sed 's/:[0-9]*//'; "
         "echo --; ls -ln /dev | awk '{print $1, $3, $4, $5, $6, $NF}'; "
         "echo --; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; "
         "echo x > /dev/probe-null && echo device-ok; wc -c < /proc/kcore; cat /data/file; "
         "touch /data/new 2>&1 | grep -o 'Read-only file system'; mkdir /scratch/x 2>&1 | grep -o 'not permitted'; "
         "echo --; awk '{print $6, $7, $8, $9}' /proc/keys; exit 9")


def _probe_config(b: Path, data: Path) -> dict:
    """runc's default config.json, then most of what the issue names of a bundle: a user
    with additional groups and umask, the five capability sets (a non-root user keeps the
    ambient ones), rlimits, no_new_privs, oom_score_adj, hostname, sysctl, a tmpfs with
    options and a read-only bind, a device node, masked paths, memory and pids limits,
    device rules and a seccomp profile."""
    c = set_config(b, args=["sh", "-c", PROBE], cwd="/tmp", env=["PATH=/bin:/usr/bin", "FOO=bar"],
                   user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o027},
                   capabilities={"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
                                              "CAP_SYS_CHROOT"],
                                 "effective": ["CAP_NET_BIND_SERVICE"],
                                 "permitted": ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_NET_RAW"],
                                 "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                                 "ambient": ["CAP_NET_BIND_SERVICE", "CAP_KILL"]},
                   rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}], oomScoreAdj=123)
    c["hostname"] = "probe"
    c["mounts"] += [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "nodev", "size=1m", "mode=1770"]},
                    {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "ro", "rshared"]}]
    lx = c["linux"]
    lx["sysctl"] = {"kernel.domainname": "probe.example"}
    lx["rootfsPropagation"] = "rprivate"
    lx["maskedPaths"].remove("/proc/keys")  # (to see the session keyring)
    lx["devices"] = [{"path": "/dev/probe-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666,
                      "uid": 0, "gid": 0}]
    lx["resources"] = {"devices": [{"allow": False, "access": "rwm"},
                                   {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
                       "memory": {"limit": 64 << 20}, "pids": {"limit": 40}}
    lx["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                     "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    (b / "config.json").write_text(json.dumps(c))
    return c


def test_a_bundle_runs_as_runc_runs_it(bundle, tmp_path):
    """The same bundle run by runc and by dunnage-runtime: what the program sees inside (user,
    groups, umask, capability sets, limits, mounts, /dev, cgroup limits, masked and read-only
    paths, seccomp, a session keyring of its own) is the same, and so is the exit code."""
    b, state = bundle
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("from the host\n")
    _probe_config(b, data)
    cid = f"dprobe-{os.getpid()}"  # (the same for both: it names the session keyring)
    ours = rt(state, "run", "--bundle", str(b), cid)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run", "--bundle", str(b), cid],
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60)
        out.seek(0)
        err.seek(0)
        theirs = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
    subprocess.run(["runc", "--root", str(tmp_path / "runc"), "delete", "--force", cid], capture_output=True,
                   timeout=30)
    assert theirs.returncode == 9, theirs.stderr
    assert ours.returncode == 9, ours.stderr
    o, t = ours.stdout.decode().split("--\n"), theirs.stdout.decode().split("--\n")
    assert "CapAmb:\t0000000000000400" in t[0]  # (the oracle's: NET_BIND_SERVICE, the one ambient it can raise)
    assert f"_ses.{cid}:" in t[4]
    for i, what in enumerate(("process", "mounts", "/dev", "cgroup, devices, paths, seccomp", "keys")):
        assert o[i] == t[i], (what, o[i], t[i])


def test_hooks_run_where_and_when_the_spec_says(bundle, tmp_path):
    """prestart and createRuntime run in the runtime's namespaces and createContainer in the
    container's (its mount namespace, the host's root still its root: a mount it makes under
    the bundle's rootfs is the container's), all before pivot_root; startContainer in the
    container's namespaces (its path looked up in the container's root) before the program;
    poststart after it, poststop at delete.  A startContainer hook that fails fails start
    and the container stops."""
    b, state = bundle
    name = f"dunnage-hook-{os.getpid()}"
    c = set_config(b, args=["sh", "-c", f"cat /tmp/{name}; readlink /proc/self/ns/mnt; grep -c ' /mnt tmpfs' /proc/mounts"])
    c["root"]["readonly"] = False
    c["hostname"] = "inside"
    c["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"hostname > /tmp/{name}"]}]}
    for hook in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        c["hooks"][hook] = [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {tmp_path}/{hook}.json; "
                                                                   f"readlink /proc/self/ns/mnt > {tmp_path}/{hook}.mnt"]}]
    c["hooks"]["createContainer"][0]["args"][2] += f"; mkdir -p {b}/rootfs/mnt; mount -t tmpfs -o size=1m hooked {b}/rootfs/mnt"
    (b / "config.json").write_text(json.dumps(c))
    try:
        r = rt(state, "run", "--bundle", str(b), "h1")
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        inside, mnt, mounted = r.stdout.decode().split()
        assert inside == "inside" and mounted == "1", r.stdout
        assert not os.path.exists(f"/tmp/{name}")
        seen = {h: json.loads((tmp_path / f"{h}.json").read_text()) for h in
                ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
        assert {h: (s["id"], s["status"]) for h, s in seen.items()} == {
            "prestart": ("h1", "created"), "createRuntime": ("h1", "created"), "createContainer": ("h1", "created"),
            "poststart": ("h1", "running"), "poststop": ("h1", "stopped")}
        host = os.readlink("/proc/self/ns/mnt")
        assert {h: (tmp_path / f"{h}.mnt").read_text().strip() for h in seen} == {
            "prestart": host, "createRuntime": host, "createContainer": mnt, "poststart": host, "poststop": host}
        assert not os.path.ismount(b / "rootfs" / "mnt")  # (made in the container's namespace alone)
        c["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo refused >&2; exit 3"]}]}
        c["process"]["args"] = ["sleep", "300"]
        (b / "config.json").write_text(json.dumps(c))
        assert rt(state, "create", "--bundle", str(b), "h2").returncode == 0
        s = rt(state, "start", "h2")
        err = s.stderr.decode().strip()
        assert s.returncode == 1 and len(err.splitlines()) == 1 and "startContainer hook" in err and "refused" in err
        assert wait_for(lambda: json.loads(rt(state, "state", "h2").stdout)["status"] == "stopped")
    finally:
        if os.path.exists(f"/tmp/{name}"):
            os.unlink(f"/tmp/{name}")


def test_exec_flags_over_the_containers_process(bundle):
    """exec ARGS starts from the container's process (runc's): --cwd, --env, --user,
    --additional-gids and --cap over it; a non-root user keeps the ambient capabilities."""
    b, state = bundle
    c = set_config(b, args=["sleep", "300"], env=["PATH=/bin", "BASE=1"])
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    c["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    (b / "config.json").write_text(json.dumps(c))
    assert rt(state, "run", "-d", "--bundle", str(b), "e1").returncode == 0
    r = rt(state, "exec", "--cwd", "/tmp", "--env", "EXTRA=2", "--user", "1000:1000", "--additional-gids", "5",
           "--cap", "CAP_NET_RAW", "e1", "sh", "-c", "pwd; echo $BASE$EXTRA; id; grep -E '^Cap(Eff|Amb)' /proc/self/status; exit 4")
    assert r.returncode == 4, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[:3] == ["/tmp", "12", "uid=1000 gid=1000 groups=5"], lines  # (additionalGids alone, as runc)
    # KILL and NET_BIND_SERVICE ambient; NET_RAW is not inheritable, so not ambient (as runc)
    assert lines[3:] == ["CapEff:\t0000000000000420", "CapAmb:\t0000000000000420"], lines
    pid_file = b / "exec.pid"
    d = rt(state, "exec", "--detach", "--pid-file", str(pid_file), "e1", "sleep", "123")
    assert d.returncode == 0, d.stderr
    pid = int(pid_file.read_text())
    assert open(f"/proc/{pid}/cmdline", "rb").read() == b"sleep\x00123\x00"
    assert pid in json.loads(rt(state, "ps", "--format", "json", "e1").stdout)
    bad = rt(state, "exec", "--user", "nobody", "e1", "true")
    assert bad.returncode == 1 and bad.stderr.decode().strip() == "dunnage-runtime: invalid --user 'nobody': uid[:gid] as numbers"
    assert rt(state, "delete", "--force", "e1").returncode == 0


def test_kill_all_ps_list_pause_and_streamed_events(bundle):
    b, state = bundle
    set_config(b, args=["sh", "-c", "sleep 300 & sleep 301 & wait"])
    assert rt(state, "run", "-d", "--bundle", str(b), "k1").returncode == 0
    pid = json.loads(rt(state, "state", "k1").stdout)["pid"]
    pids = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(json.loads(rt(state, "ps", "--format", "json", "k1").stdout)))
    assert pid in pids
    table = rt(state, "ps", "k1").stdout.decode().splitlines()
    assert "PID" in table[0].split() and len(table) == 4 and sum(ln.endswith(("sleep 300", "sleep 301"))
                                                                 for ln in table) == 2, table
    rows = json.loads(rt(state, "list", "--format", "json").stdout)
    assert [(r["id"], r["status"], r["pid"]) for r in rows] == [("k1", "running", pid)]
    listed = rt(state, "list").stdout.decode().splitlines()
    assert listed[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] and listed[1].split()[:3] == ["k1", str(pid), "running"]
    assert rt(state, "pause", "k1").returncode == 0
    assert json.loads(rt(state, "state", "k1").stdout)["status"] == "paused"
    assert rt(state, "resume", "k1").returncode == 0
    assert json.loads(rt(state, "state", "k1").stdout)["status"] == "running"
    events = subprocess.Popen([RUNTIME, "--root", str(state), "events", "--interval", "100ms", "k1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first, second = json.loads(events.stdout.readline()), json.loads(events.stdout.readline())
        assert first["type"] == second["type"] == "stats" and second["data"]["pids"]["current"] == 3
        assert rt(state, "kill", "--all", "k1", "KILL").returncode == 0  # every process of its cgroup, not the init alone
        assert events.wait(timeout=30) == 0  # the stream ends with the container
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()
    assert wait_for(lambda: json.loads(rt(state, "ps", "--format", "json", "k1").stdout) == [])
    assert json.loads(rt(state, "state", "k1").stdout)["status"] == "stopped"
    assert rt(state, "delete", "k1").returncode == 0


def test_systemd_cgroup_refused_and_text_log(bundle, tmp_path):
    b, state = bundle
    set_config(b, args=["true"])
    log = tmp_path / "log.txt"
    r = subprocess.run([RUNTIME, "--root", str(state), "--log", str(log), "--systemd-cgroup", "create", "--bundle",
                        str(b), "s1"], capture_output=True, timeout=30)
    err = r.stderr.decode().strip()
    assert r.returncode == 1 and err == "dunnage-runtime: --systemd-cgroup is not supported: dunnage-runtime manages cgroupfs paths"
    assert rt(state, "list", "-q").stdout == b"" and not (state / "s1").exists()
    line = log.read_text().splitlines()[-1]
    assert line.startswith('time="') and 'level=error msg="--systemd-cgroup is not supported' in line


@pytest.mark.parametrize("change, message", [
    (lambda c: c["linux"].update(intelRdt={"closID": "x"}), "Intel RDT"),
    (lambda c: c["linux"]["namespaces"].append({"type": "user"}), "user namespaces enabled, but no uid mappings"),
    (lambda c: c["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"}),
     "joining a user namespace by path is not supported"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "user"}),  # overlapping ranges: the kernel's EINVAL
                c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 100000, "size": 10},
                                               {"containerID": 5, "hostID": 200000, "size": 10}],
                                  gidMappings=MAP)), "writing the user namespace's uid_map: Invalid argument"),
    (lambda c: c["process"]["capabilities"].update(ambient=["CAP_NOPE"]), "unknown capability"),
    (lambda c: c["linux"].update(cgroupsPath="system.slice:dunnage:x"), "systemd"),
])
def test_more_bad_bundles_are_one_line_and_leave_nothing(bundle, change, message):
    b, state = bundle
    _create_bad(b, state, change, message)


def test_unsupported_labels_and_resources_are_warned_about(bundle):
    """apparmorProfile, selinuxLabel, mountLabel and resources dunnage's cgroups do not set
    (hugepageLimits on this host, which has no hugetlb controller) are accepted and reported."""
    b, state = bundle
    c = set_config(b, args=["true"], apparmorProfile="docker-default", selinuxLabel="system_u:system_r:x")
    c["linux"]["mountLabel"] = "system_u:object_r:x"
    c["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 2 << 20}]
    c["linux"]["resources"]["memory"] = {"limit": 64 << 20, "swappiness": 10}
    (b / "config.json").write_text(json.dumps(c))
    r = rt(state, "run", "--bundle", str(b), "w1")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    for what in ("process.apparmorProfile", "process.selinuxLabel", "linux.mountLabel",
                 "linux.resources.hugepageLimits", "linux.resources.memory.swappiness"):
        assert what in err, (what, err)
    assert "linux.resources.memory.limit" not in err


def test_namespaces_joined_by_path(bundle):
    """linux.namespaces with paths: a second container joins the first's network, uts and
    pid namespaces (it sees the first's processes) and makes its own mount namespace."""
    b, state = bundle
    c = set_config(b, args=["sleep", "300"])
    c["hostname"] = "first"
    (b / "config.json").write_text(json.dumps(c))
    assert rt(state, "run", "-d", "--bundle", str(b), "n1").returncode == 0
    first = json.loads(rt(state, "state", "n1").stdout)["pid"]
    for ns in c["linux"]["namespaces"]:
        if ns["type"] in ("network", "uts", "pid"):
            ns["path"] = f"/proc/{first}/ns/{'net' if ns['type'] == 'network' else ns['type']}"
    c["hostname"] = ""
    c["process"]["args"] = ["sh", "-c", "hostname; ps -o comm | grep -c sleep"]
    (b / "config.json").write_text(json.dumps(c))
    assert rt(state, "create", "--bundle", str(b), "n2").returncode == 0
    second = json.loads(rt(state, "state", "n2").stdout)["pid"]
    for ns in ("net", "uts", "pid"):
        assert os.stat(f"/proc/{second}/ns/{ns}").st_ino == os.stat(f"/proc/{first}/ns/{ns}").st_ino, ns
    assert os.stat(f"/proc/{second}/ns/mnt").st_ino != os.stat(f"/proc/{first}/ns/mnt").st_ino
    assert rt(state, "delete", "--force", "n2").returncode == 0
    r = rt(state, "run", "--bundle", str(b), "n3")
    assert r.returncode == 0 and r.stdout == b"first\n1\n", (r.stdout, r.stderr)
    assert rt(state, "delete", "--force", "n1").returncode == 0


def test_session_keyring_per_container_unless_no_new_keyring(bundle):
    """Each container's processes get a session keyring of their own, _ses.<id>, which an exec
    joins too (runc's); with create --no-new-keyring they keep the caller's."""
    b, state = bundle
    c = set_config(b, args=["sleep", "300"])
    c["linux"]["maskedPaths"].remove("/proc/keys")
    (b / "config.json").write_text(json.dumps(c))

    def keyrings(*args: str) -> set[str]:
        r = rt(state, *args)
        assert r.returncode == 0, r.stderr
        return {ln.split()[8].rstrip(":") for ln in r.stdout.decode().splitlines() if ln.split()[7] == "keyring"}
    assert rt(state, "run", "-d", "--bundle", str(b), "k1").returncode == 0
    assert rt(state, "run", "-d", "--bundle", str(b), "--no-new-keyring", "k2").returncode == 0
    # (as a user other than root, /proc/keys lists the keys it possesses: its session keyring's)
    assert "_ses.k1" in keyrings("exec", "--user", "1000", "k1", "cat", "/proc/keys")
    assert not {"_ses.k1", "_ses.k2"} & keyrings("exec", "--user", "1000", "k2", "cat", "/proc/keys")
    for cid in ("k1", "k2"):
        assert rt(state, "delete", "--force", cid).returncode == 0


def test_events_reports_an_oom_kill(bundle):
    """events' stream (runc's): an "oom" event once the OOM killer has killed in the
    container's cgroup, without waiting for the next --interval."""
    b, state = bundle
    c = set_config(b, args=["sh", "-c", "sleep 1; head -c 64m /dev/zero | tail; sleep 300"])
    c["linux"]["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    (b / "config.json").write_text(json.dumps(c))
    assert rt(state, "run", "-d", "--bundle", str(b), "o1").returncode == 0
    events = subprocess.Popen([RUNTIME, "--root", str(state), "events", "--interval", "60s", "o1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert json.loads(events.stdout.readline())["type"] == "stats"
        assert json.loads(events.stdout.readline()) == {"type": "oom", "id": "o1"}
    finally:
        events.kill()
        events.wait()
        assert rt(state, "delete", "--force", "o1").returncode == 0


def test_exec_tty_without_console_socket_relays_the_terminal(bundle):
    """exec -t with no --console-socket (a person at a terminal, as runc allows): the
    process's terminal is relayed to ours, input and output, and its exit code is ours."""
    b, state = bundle
    set_config(b, args=["sleep", "300"])
    assert rt(state, "run", "-d", "--bundle", str(b), "t2").returncode == 0
    try:
        code, out = _on_a_terminal([RUNTIME, "--root", str(state), "exec", "-t", "t2", "sh", "-c",
                                    "tty; read line; echo got $line; exit 3"], b, timeout=30, typed=b"hello\n",
                                   once=b"/dev/pts/0")
        assert code == 3 and out.endswith(b"/dev/pts/0\nhello\ngot hello\n"), out
    finally:
        assert rt(state, "delete", "--force", "t2").returncode == 0


def test_run_with_a_terminal_and_no_console_socket_relays_it(bundle):
    """run of a bundle with process.terminal and no --console-socket, in the foreground (as
    runc allows): the container's terminal is relayed to ours."""
    b, state = bundle
    c = set_config(b, args=["sh", "-c", "tty; read line; echo got $line; exit 4"])
    c["process"]["terminal"] = True
    (b / "config.json").write_text(json.dumps(c))
    code, out = _on_a_terminal([RUNTIME, "--root", str(state), "run", "--bundle", str(b), "r2"], b, timeout=30,
                               typed=b"there\n", once=b"/dev/pts/0")
    assert code == 4 and out.endswith(b"/dev/pts/0\nthere\ngot there\n"), out
    assert rt(state, "list", "-q").stdout == b""


# ---------------------------------------------------------------- user namespaces (linux.uidMappings)
USERNS_PROBE = ("cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id; "
                "grep -E '^Cap' /proc/self/status; echo --; rm -f /data/f; touch /scratch/f /data/f; "
                "ls -ln /scratch/f /data/f | awk '{print $3, $4, $NF}'; stat -c '%u %g %n' / /bin/sh; "
                "ls -ln /dev /dev/mqueue | awk '{print $1, $3, $4, $NF}'; mount | awk '{print $3, $5, $6}' | sort; "
                "head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; mount | grep -c ' on /proc '; "
                "exit 7")
MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.fixture
def userns_bundle(bundle):
    """The bundle with a user namespace mapping 0 to host uid and gid 100000 (65536 of them), as
    runc's own tests make it, and a tmpfs and a bind of a directory the container's root owns.
    Its root is the container's root's (chowned, as podman does), in a directory of its own
    under /tmp, open to all as runc's tests make theirs: the container's root, host uid 100000,
    must walk to it (pytest's directories are 0700)."""
    b, state = bundle
    top = Path(tempfile.mkdtemp(prefix="dunnage-userns-"))
    try:
        top.chmod(0o755)
        ub = top / "bundle"
        shutil.copytree(b, ub, symlinks=True)
        subprocess.run(["chown", "-R", "-h", "100000:100000", str(ub / "rootfs")], check=True, timeout=60)
        data = top / "data"
        data.mkdir()
        os.chown(data, 100000, 100000)
        c = json.loads((ub / "config.json").read_text())
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = MAP
        c["linux"]["gidMappings"] = MAP
        c["mounts"] += [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                         "options": ["nosuid", "size=1m"]},
                        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "rw"]}]
        (ub / "config.json").write_text(json.dumps(c))
        yield ub, state, data
    finally:
        for cid in rt(state, "list", "-q").stdout.decode().split():
            rt(state, "delete", "--force", cid)
        shutil.rmtree(top)


def test_user_namespace_runs_as_runc_runs_it(userns_bundle, tmp_path):
    """A bundle with a user namespace (0 -> 100000, 65536) run by runc and by dunnage-runtime:
    the same uid_map, gid_map and setgroups, `id`, capability sets, owners of files made in a
    tmpfs and a bind (host uid 100000 on the host), the host's device nodes bound in (no mknod
    in a user namespace), /dev/mqueue the host root's group (runc makes the namespaces before
    its gid is 0), the mounts and the exit code.  It was refused with one line."""
    b, state, data = userns_bundle
    set_config(b, args=["sh", "-c", USERNS_PROBE])
    ours = rt(state, "run", "--bundle", str(b), "u0")
    assert ours.returncode == 7, ours.stderr
    ours_owner = os.stat(data / "f")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run", "--bundle", str(b), "u0"],
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60)
        out.seek(0)
        err.seek(0)
        theirs = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
    subprocess.run(["runc", "--root", str(tmp_path / "runc"), "delete", "--force", "u0"], capture_output=True,
                   timeout=30)
    assert theirs.returncode == 7, theirs.stderr
    t = theirs.stdout.decode()
    assert t.split()[:6] == ["0", "100000", "65536", "0", "100000", "65536"] and "uid=0(root) gid=0(root)" in t
    assert ours.stdout.decode() == t
    assert (ours_owner.st_uid, ours_owner.st_gid) == (100000, 100000)
    theirs_owner = os.stat(data / "f")
    assert (theirs_owner.st_uid, theirs_owner.st_gid) == (100000, 100000)
    assert rt(state, "list", "-q").stdout == b""
    assert not any(os.path.exists(os.path.join(r_, "dunnage-runtime", "u0")) for r_ in cgroup_roots())


def test_user_namespace_served_create_exec_kill_delete(userns_bundle):
    """create (the first directly, the second served: prepared in the warm server, the init
    forked by the launcher) leaves the init in its own user namespace with the bundle's
    mappings, where the createContainer hook runs too; exec lands in that namespace as its
    root; kill and delete leave no process, state or cgroup."""
    b, state, data = userns_bundle
    c = set_config(b, args=["sleep", "300"])
    c["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"cut -d' ' -f4 /proc/$PPID/stat >> "
                                                                            f"{data}/runtime-ppid"]}],
                  "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "readlink /proc/self/ns/user >> "
                                                                              f"{data}/container-ns"]}]}
    (b / "config.json").write_text(json.dumps(c))
    own = os.readlink("/proc/self/ns/user")
    assert rt(state, "create", "--bundle", str(b), "u1").returncode == 0
    assert wait_for(lambda: _server(state) is not None, timeout=20)
    served = rt(state, "create", "--bundle", str(b), "u2")
    assert served.returncode == 0, served.stderr
    assert int((data / "runtime-ppid").read_text().split()[1]) == _server(state), "u2's create was not served"
    hooks_ns = (data / "container-ns").read_text().split()
    for cid, hook_ns in zip(("u1", "u2"), hooks_ns, strict=True):
        pid = json.loads(rt(state, "state", cid).stdout)["pid"]
        ns = os.readlink(f"/proc/{pid}/ns/user")
        assert ns != own and hook_ns == ns  # (createContainer's hook runs in it too)
        with open(f"/proc/{pid}/uid_map") as f:
            assert f.read().split() == ["0", "100000", "65536"]
        with open(f"/proc/{pid}/status") as f:
            assert "Uid:\t100000\t100000\t100000\t100000" in f.read()  # root inside, 100000 outside
        assert rt(state, "start", cid).returncode == 0
        e = rt(state, "exec", cid, "sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map")
        assert e.returncode == 0, e.stderr
        assert e.stdout.decode().split() == [ns, "0", "0", "100000", "65536"]
        assert rt(state, "kill", cid, "KILL").returncode == 0
        assert wait_for(lambda: json.loads(rt(state, "state", cid).stdout)["status"] == "stopped")
        assert rt(state, "delete", cid).returncode == 0
        assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
        assert not any(os.path.exists(os.path.join(r_, "dunnage-runtime", cid)) for r_ in cgroup_roots())
    assert rt(state, "list", "-q").stdout == b""


def test_podman_uidmap_as_with_runc(podman):
    """podman run --uidmap/--gidmap (a user namespace in the bundle podman writes, its root
    chowned by podman): the same maps, ids, capability sets and file owners as runc gives;
    exec lands in the namespace."""
    script = ("cat /proc/self/uid_map /proc/self/gid_map; id; grep -E '^Cap' /proc/self/status; "
              "touch /tmp/f; ls -ln /tmp/f /bin/busybox | awk '{print $3, $4, $NF}'; "
              "ls -ln /dev/null | awk '{print $1, $3, $4}'; exit 4")
    maps = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"]
    cmd = ["run", "--rm", *Podman.RUN, *maps, IMG, "sh", "-c", script]
    ours = podman(*cmd)
    theirs = podman.with_runtime("runc", *cmd)
    assert theirs.returncode == 4, theirs.stderr
    assert ours.returncode == 4, ours.stderr
    assert ours.stdout == theirs.stdout and b"uid=0(root) gid=0(root)" in ours.stdout
    r = podman("run", "-d", "--name", "uns", *Podman.RUN, *maps, IMG, "sleep", "300")
    assert r.returncode == 0, r.stderr
    try:
        pid = int(podman("inspect", "-f", "{{.State.Pid}}", "uns").stdout)
        e = podman("exec", "uns", "sh", "-c", "readlink /proc/self/ns/user; id -u")
        assert e.returncode == 0, e.stderr
        assert e.stdout.decode().split() == [os.readlink(f"/proc/{pid}/ns/user"), "0"]
    finally:
        assert podman("rm", "-f", "-t", "0", "uns").returncode == 0
