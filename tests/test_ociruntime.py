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
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}]), "user namespaces"),
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c["root"].update(path="nowhere"), "no such directory"),
    (lambda c: c.update(ociVersion="2.0.0"), "ociVersion"),
    (lambda c: c["process"].update(args=["no-such-program"]), "executable file not found"),
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
    assert "user" not in f["linux"]["namespaces"]


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
