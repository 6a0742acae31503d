"""The Docker Engine API service (`dunnage system service`, dunnage.api), driven by real
clients: Debian's docker CLI (/usr/bin/docker) and the Docker SDK for Python, against
the real service on a temporary root's socket.  Every container a test makes is
removed after it, and the service is stopped, pass or fail."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import stat
import subprocess
import time
import urllib.parse

import pytest

from conftest import DUNNAGE, cli, wait_for

DOCKER = "/usr/bin/docker"  # Debian's docker.io client (not /usr/local/bin/docker)
IMAGE = "local/busybox"


def _start_service(root, sock: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([DUNNAGE, "--root", str(root), "system", "service", *extra, f"unix://{sock}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop_service(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    for f in (p.stdout, p.stderr):
        f.close()


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def _ping(sock: str) -> bool:
    try:
        c = UnixHTTP(sock)
        c.request("GET", "/_ping")
        ok = c.getresponse().read() == b"OK"
        c.close()
        return ok
    except OSError:
        return False


@contextlib.contextmanager
def running_service(root, name: str):
    """`dunnage system service` on ROOT's socket NAME until the block ends; yields the socket's path."""
    sock = str(root / name)
    p = _start_service(root, sock, "--time", "0")
    try:
        wait_for(lambda: p.poll() is not None or _ping(sock), timeout=20)
        assert p.poll() is None, p.stderr.read().decode()
        yield sock
    finally:
        _stop_service(p)


@pytest.fixture(scope="module")
def service(session_root):
    with running_service(session_root, "docker.sock") as sock:
        yield sock


@pytest.fixture
def api(service, engine):
    """The socket; the containers, networks and volumes a test makes go after it."""
    nets = {n["Name"] for n in engine.networks()}
    vols = {v["Name"] for v in engine.volumes()}
    yield service
    for n in engine.networks():
        if n["Name"] not in nets:
            try:
                engine.network_remove(n["Name"])
            except Exception:  # noqa: BLE001
                pass
    for v in engine.volumes():
        if v["Name"] not in vols:
            try:
                engine.volume_remove(v["Name"])
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture
def docker(api, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))

    def run(*args, timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, "-H", f"unix://{api}", *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
    run.uri, run.env = f"unix://{api}", env
    return run


def request(sock: str, method: str, path: str, body=None) -> tuple[int, dict | bytes | None]:
    c = UnixHTTP(sock)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    raw = r.read()
    c.close()
    if r.getheader("Content-Type", "").startswith("application/json") and raw:
        return r.status, json.loads(raw)
    return r.status, raw


# ------------------------------------------------------------------ the docker CLI

def test_cli_version_and_info(docker, session_root):
    r = docker("version")
    assert r.returncode == 0, r.stderr
    assert "API version:      1.41 (minimum version 1.12)" in r.stdout
    # `dunnage version` lays out its engine as docker's CLI does the service's
    ours = cli(session_root, "version")
    assert ours.returncode == 0, ours.stderr
    server = r.stdout[r.stdout.index("Server: dunnage"):]
    assert [line.rstrip() for line in server.splitlines()] == \
        [line.rstrip() for line in ours.stdout.decode()[ours.stdout.decode().index("Server: dunnage"):].splitlines()]
    assert cli(session_root, "version", "-f", "{{.Client.ApiVersion}} {{.Server.ApiVersion}}").stdout == b"1.41 1.41\n"
    r = docker("info")
    assert r.returncode == 0, r.stderr
    assert "Storage Driver: dunnage-fuse" in r.stdout


def test_cli_history_through_the_service_is_the_command_lines(docker, session_root):
    fmt = "{{.ID}}|{{.CreatedAt}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}"  # (not "N seconds ago": a second may pass)
    r = docker("history", "--no-trunc", "--format", fmt, IMAGE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == \
        cli(session_root, "history", "--no-trunc", "--format", fmt, IMAGE).stdout.decode().splitlines()
    r = docker("history", "nothere")
    assert r.returncode != 0 and "No such image: nothere" in r.stderr


def test_cli_sizes_and_restart_update_through_the_service(docker, session_root, engine):
    """docker ps -s and inspect -s (size=1) and update --restart (RestartPolicy) through the
    service say and do what the command line does."""
    r = docker("run", "-d", "--name", "api-sized", IMAGE, "sh", "-c", "head -c 5003 /dev/zero > /f; sleep 120")
    assert r.returncode == 0, r.stderr
    try:
        wait_for(lambda: cli(session_root, "inspect", "-s", "-f", "{{.SizeRw}}", "api-sized").stdout == b"5003\n",
                 timeout=20)
        assert docker("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "api-sized").stdout == \
            cli(session_root, "inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "api-sized").stdout.decode()
        fmt = "{{.Names}} {{.Size}}"
        ours = cli(session_root, "ps", "-s", "--format", fmt).stdout.decode().splitlines()
        theirs = docker("ps", "-s", "--format", fmt).stdout.splitlines()
        assert [x for x in theirs if x.startswith("api-sized ")] == [x for x in ours if x.startswith("api-sized ")]
        assert any(x.startswith("api-sized 5kB (virtual ") for x in theirs), theirs
        r = docker("update", "--restart", "on-failure:2", "api-sized")
        assert r.returncode == 0, r.stderr
        assert engine.inspect("api-sized")["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                                               "MaximumRetryCount": 2}
        assert docker("update", "--memory", "64m", "api-sized").returncode == 0  # (RestartPolicy {"Name": ""})
        assert engine.inspect("api-sized")["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    finally:
        docker("rm", "-f", "api-sized")


def test_cli_run_attached_prints_output_and_exit_code(docker, engine):
    before = {c.id for c in engine.containers(all_=True)}
    r = docker("run", "--rm", IMAGE, "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "hi\n"
    assert r.stderr == "oops\n"
    assert {c.id for c in engine.containers(all_=True)} == before  # --rm: gone
    r = docker("run", "--rm", IMAGE, "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n")


def test_cli_detached_container_verbs(docker):
    r = docker("run", "-d", "--name", "api-cli", IMAGE, "sh", "-c", "echo out; echo err >&2; sleep 100")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    r = docker("ps", "--format", "{{.ID}} {{.Names}} {{.Image}}")
    assert f"{cid[:12]} api-cli {IMAGE}" in r.stdout.splitlines()
    wait_for(lambda: docker("logs", "api-cli").stdout == "out\n")
    assert docker("logs", "api-cli").stderr == "err\n"
    assert docker("inspect", "--format", "{{.State.Running}} {{.Name}}", "api-cli").stdout == "true /api-cli\n"
    r = docker("exec", "api-cli", "sh", "-c", "echo ex; echo ey >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, "ex\n", "ey\n")
    wait_for(lambda: "sleep 100" in docker("top", "api-cli").stdout)  # sh runs sleep after its echoes
    assert docker("stop", "-t", "1", "api-cli").returncode == 0
    assert docker("ps", "-a", "--filter", "name=api-cli", "--format", "{{.State}}").stdout == "exited\n"
    assert docker("rm", "api-cli").returncode == 0
    r = docker("rm", "api-cli")
    assert r.returncode == 1 and "No such container: api-cli" in r.stderr


def test_cli_attach_exec_detached_and_listing(docker):
    r = docker("run", "-d", "--name", "api-attach", IMAGE, "sh", "-c", "while :; do echo tick; sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([DOCKER, "-H", docker.uri, "attach", "--no-stdin", "api-attach"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=docker.env)
    try:
        import select
        assert select.select([p.stdout], [], [], 20)[0], "no output through attach"
        assert p.stdout.readline() == b"tick\n"
        assert docker("kill", "api-attach").returncode == 0
        assert p.wait(timeout=30) == 137
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()
    assert docker("start", "api-attach").returncode == 0
    assert docker("exec", "-d", "api-attach", "sh", "-c", "echo done > /flag").returncode == 0
    wait_for(lambda: docker("exec", "api-attach", "cat", "/flag").stdout == "done\n")
    docker("run", "-d", "--name", "api-second", IMAGE, "true")
    assert docker("ps", "-a", "-n", "1", "--format", "{{.Names}}").stdout == "api-second\n"
    assert docker("ps", "--filter", "status=running", "--format", "{{.Names}}").stdout == "api-attach\n"
    assert docker("rm", "-f", "api-attach", "api-second").returncode == 0


def test_cli_network_create_ipv6(docker, engine):
    """docker network create --ipv6 with a subnet of each family (the client sends
    EnableIPv6 and two IPAM Configs) makes a dual-stack network, as dockerd does: the
    service refused two Configs and dropped EnableIPv6 (--ipv6 alone gave an IPv4-only
    network); run --ip6 and network connect --ip6 get their addresses."""
    import secrets
    n = 1 + secrets.randbelow(250)
    v4, v6 = f"10.213.{n}.0/24", f"fd00:5d:{n:x}::/64"
    r = docker("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, "--gateway", f"fd00:5d:{n:x}::fe",
               "api-net6")
    assert r.returncode == 0, r.stderr
    r = docker("network", "inspect", "-f", "{{.EnableIPv6}} {{json .IPAM.Config}}", "api-net6")
    assert r.returncode == 0, r.stderr
    enabled, configs = r.stdout.split(" ", 1)
    assert enabled == "true" and json.loads(configs) == [
        {"Subnet": v4, "Gateway": f"10.213.{n}.1"}, {"Subnet": v6, "Gateway": f"fd00:5d:{n:x}::fe"}]
    r = docker("run", "-d", "--name", "api-six", "--network", "api-net6", "--ip6", f"fd00:5d:{n:x}::42",
               IMAGE, "sleep", "300")
    assert r.returncode == 0, r.stderr
    nets = engine.inspect("api-six")["NetworkSettings"]["Networks"]
    assert nets["api-net6"]["GlobalIPv6Address"] == f"fd00:5d:{n:x}::42"
    assert docker("create", "--name", "api-six2", IMAGE, "sleep", "300").returncode == 0
    r = docker("network", "connect", "--ip6", f"fd00:5d:{n:x}::43", "api-net6", "api-six2")
    assert r.returncode == 0, r.stderr
    assert docker("start", "api-six2").returncode == 0
    r = docker("exec", "api-six2", "ip", "-6", "addr", "show", "eth1")
    assert f"inet6 fd00:5d:{n:x}::43/64 scope global" in r.stdout, r.stdout + r.stderr
    r = docker("network", "create", "--ipv6", "api-net6b")
    assert r.returncode == 0, r.stderr
    assert docker("network", "inspect", "-f", "{{.EnableIPv6}}", "api-net6b").stdout.strip() == "true"
    assert docker("rm", "-f", "api-six", "api-six2").returncode == 0


def test_cli_networks_and_volumes(docker):
    r = docker("network", "create", "api-net")
    assert r.returncode == 0, r.stderr
    assert "api-net" in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert docker("network", "rm", "api-net").returncode == 0
    assert "api-net" not in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert docker("volume", "create", "api-vol").stdout == "api-vol\n"
    assert "api-vol" in docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert docker("volume", "rm", "api-vol").returncode == 0
    r = docker("volume", "inspect", "api-vol")
    assert r.returncode == 1 and "No such volume" in r.stderr


def test_cli_bad_requests(docker):
    r = docker("inspect", "--type", "container", "nosuch")
    assert r.returncode == 1 and "No such container: nosuch" in r.stderr
    r = docker("run", "--rm", "--pull", "never", "local/nosuchimage")  # (no pull: no traffic off the host)
    assert r.returncode == 125 and "No such image: local/nosuchimage" in r.stderr
    r = docker("stop", "nosuch")
    assert r.returncode == 1 and "No such container: nosuch" in r.stderr


# --------------------------------------------------------- status codes, raw HTTP

def test_status_codes(api, engine):
    assert request(api, "HEAD", "/_ping")[0] == 200
    st, v = request(api, "GET", "/v1.41/version")
    assert st == 200 and (v["ApiVersion"], v["MinAPIVersion"]) == ("1.41", "1.12")
    st, body = request(api, "GET", "/v1.11/version")
    assert st == 400 and "too old" in body["message"]
    st, body = request(api, "GET", "/containers/nosuch/json")
    assert (st, body) == (404, {"message": "No such container: nosuch"})
    st, body = request(api, "POST", "/containers/create", b"{not json")
    assert st == 400 and body["message"].startswith("invalid JSON")
    st, body = request(api, "POST", "/containers/create", {"Image": IMAGE, "HostConfig": {"Memory": "lots"}})
    assert st == 400, body
    st, body = request(api, "POST", "/build")  # no context tar
    assert st == 400 and "build context" in body["message"]
    st, body = request(api, "GET", "/no/such/path")
    assert st == 404

    st, body = request(api, "POST", "/containers/create?name=api-codes", {"Image": IMAGE, "Cmd": ["sleep", "100"]})
    assert st == 201 and set(body) == {"Id", "Warnings"}
    cid = body["Id"]
    st, body = request(api, "POST", "/containers/create?name=api-codes", {"Image": IMAGE})
    assert st == 409 and "already in use" in body["message"]
    st, _ = request(api, "POST", "/containers/api-codes/stop")
    assert st == 304
    assert request(api, "POST", "/containers/api-codes/start")[0] == 204
    assert request(api, "POST", "/containers/api-codes/start")[0] == 304
    st, body = request(api, "DELETE", "/containers/api-codes")
    assert st == 409 and "cannot remove a running container" in body["message"]
    assert request(api, "DELETE", "/containers/api-codes?force=1")[0] == 204
    assert cid not in {c.id for c in engine.containers(all_=True)}


# --------------------------------------------------------------- the Python SDK

@pytest.fixture
def sdk(api):
    import docker  # the test extra installs it
    client = docker.DockerClient(base_url=f"unix://{api}", timeout=60)
    yield client
    client.close()


def test_sdk_containers(sdk):
    import docker
    c = sdk.containers.run(IMAGE, ["sh", "-c", "echo hello; echo oops >&2; sleep 100"], detach=True,
                           labels={"suite": "api"}, name="api-sdk")
    wait_for(lambda: c.logs() == b"hello\noops\n")
    assert c.logs(stderr=False) == b"hello\n"
    assert c.logs(tail=1) == b"oops\n"
    assert c.logs(since=int(time.time()) + 60) == b""
    stamped = c.logs(timestamps=True).splitlines()
    assert [line.split(b" ", 1)[1] for line in stamped] == [b"hello", b"oops"]
    assert all(line[:4].isdigit() and line.split(b" ", 1)[0].endswith(b"Z") for line in stamped)
    assert [x.name for x in sdk.containers.list(filters={"label": "suite=api"})] == ["api-sdk"]
    assert [x.name for x in sdk.containers.list(filters={"name": "api-sdk", "status": "running"})] == ["api-sdk"]
    assert sdk.containers.list(filters={"label": "suite=other"}) == []
    r = c.exec_run(["sh", "-c", "echo x; echo y >&2; exit 2"], demux=True)
    assert (r.exit_code, r.output) == (2, (b"x\n", b"y\n"))
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.rename("api-sdk2")
    c.reload()
    assert c.name == "api-sdk2"
    c.stop(timeout=1)
    c.reload()
    assert c.status == "exited"
    assert c.wait()["StatusCode"] == c.attrs["State"]["ExitCode"]
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        sdk.containers.get("api-sdk2")


def test_sdk_logs_follow(sdk):
    c = sdk.containers.run(IMAGE, ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"], detach=True)
    try:
        assert b"".join(c.logs(stream=True, follow=True)) == b"1\n2\n3\n"
        assert c.wait(timeout=30)["StatusCode"] == 0
    finally:
        c.remove(force=True)


def _demux(raw: bytes) -> bytes:
    out, i = [], 0
    while i < len(raw):
        n = int.from_bytes(raw[i + 4:i + 8], "big")
        out.append(raw[i + 8:i + 8 + n])
        i += 8 + n
    return b"".join(out)


def test_logs_tail_and_timestamps_count_lines(docker, engine):
    """docker logs --tail N gives the last N lines and -t stamps every line, as dockerd's: the
    service counted and stamped the shim's records, each what one read of the pipe gave, so
    ten lines written at once came out whole for --tail 3 and under one stamp."""
    r = docker("run", "-d", "--name", "api-tail", IMAGE, "sh", "-c",
               "printf '1\\n2\\n3\\n4\\n5\\n6\\n7\\n8\\n9\\n10\\n'; printf 'e1\\ne2\\n' >&2")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: engine.container("api-tail").status == "exited", timeout=30)
    r = docker("logs", "--tail", "3", "api-tail")
    assert (r.returncode, r.stdout, r.stderr) == (0, "10\n", "e1\ne2\n"), (r.stdout, r.stderr)
    r = docker("logs", "--tail", "0", "api-tail")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = docker("logs", "-f", "--tail", "2", "api-tail", timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "e1\ne2\n"), (r.stdout, r.stderr)
    r = docker("logs", "-t", "api-tail")
    lines = r.stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [str(i) for i in range(1, 11)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", line.split(" ", 1)[0]) for line in lines)
    assert docker("rm", "api-tail").returncode == 0


def test_logs_stream_of_a_container_removed_meanwhile_ends_cleanly(api, engine):
    """A follow with a tail whose container is removed while the tail is still going out
    (the client not reading yet) ends with the chunked stream's last chunk, as dockerd's
    does: the follow looked the container up again after the tail, got NotFound and cut the
    connection (http.client: IncompleteRead, the CLI: unexpected EOF).  A logs request for
    the removed container is a 404 before any headers."""
    st, body = request(api, "POST", "/containers/create?name=api-logs-rm", {
        "Image": IMAGE, "Cmd": ["sh", "-c", "yes abcdefghijklmnopqrstuvwxyz | head -c 4000000; sleep 300"]})
    assert st == 201, body
    assert request(api, "POST", "/containers/api-logs-rm/start")[0] == 204
    log = engine.container("api-logs-rm").log_path
    wait_for(lambda: os.path.getsize(log) > 4000000, timeout=30)  # all of it, more than the socket holds
    c = UnixHTTP(api)
    try:
        c.request("GET", "/containers/api-logs-rm/logs?stdout=1&follow=1&tail=100000000")
        r = c.getresponse()
        assert r.status == 200
        assert request(api, "DELETE", "/containers/api-logs-rm?force=1")[0] == 204
        data = r.read()  # http.client.IncompleteRead on a cut-off stream
    finally:
        c.close()
    assert _demux(data) == (b"abcdefghijklmnopqrstuvwxyz\n" * 150000)[:4000000]
    st, body = request(api, "GET", "/containers/api-logs-rm/logs?stdout=1&follow=1")
    assert st == 404 and body["message"] == "No such container: api-logs-rm", body


def test_ps_lists_exposed_ports_that_are_not_published(docker, api):
    """dockerd's /containers/json lists a running container's exposed, unpublished ports
    with no host side, so docker ps shows them (7000/tcp) beside the published ones."""
    r = docker("run", "-d", "--name", "api-expose", "--expose", "7000", "--expose", "7001/udp",
               "-p", "127.0.0.1::80", IMAGE, "sleep", "300")
    assert r.returncode == 0, r.stderr
    host = docker("port", "api-expose", "80").stdout.strip()
    assert host.startswith("127.0.0.1:"), host
    st, listed = request(api, "GET", "/containers/json?filters=" + urllib.parse.quote('{"name":["api-expose"]}'))
    assert st == 200 and len(listed) == 1
    assert sorted(listed[0]["Ports"], key=lambda p: p["PrivatePort"]) == [
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": int(host.split(":")[1]), "Type": "tcp"},
        {"PrivatePort": 7000, "Type": "tcp"}, {"PrivatePort": 7001, "Type": "udp"}]
    r = docker("ps", "--filter", "name=api-expose", "--format", "{{.Ports}}")
    assert r.stdout.strip() == f"7000/tcp, 7001/udp, {host}->80/tcp", r.stdout
    assert docker("rm", "-f", "api-expose").returncode == 0


def test_published_ports_on_the_host_network_warn(docker):
    """dockerd's create answers -p with --network host with a warning (the container has the
    host's ports), which the CLI prints; the service said nothing."""
    r = docker("create", "--name", "api-hostports", "--network", "host", "-p", "127.0.0.1:9:80", IMAGE, "true")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "WARNING: Published ports are discarded when using host network mode", r.stderr
    r = docker("create", "--name", "api-hostports2", "--network", "host", IMAGE, "true")
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert docker("rm", "api-hostports", "api-hostports2").returncode == 0


def test_memory_reservation_refusals_read_as_dockerds(api, engine):
    """Create's and update's 400s for a reservation above the limit or under 6MB carry
    dockerd 20.10's words exactly (its limit message ends without a full stop)."""
    over = "Minimum memory limit can not be less than memory reservation limit, see usage"
    small = "Minimum memory reservation allowed is 6MB"
    st, body = request(api, "POST", "/containers/create",
                       {"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"Memory": 32 << 20, "MemoryReservation": 64 << 20}})
    assert (st, body) == (400, {"message": over})
    st, body = request(api, "POST", "/containers/create",
                       {"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"MemoryReservation": 1000}})
    assert (st, body) == (400, {"message": small})
    st, body = request(api, "POST", "/containers/create?name=api-resv", {"Image": IMAGE, "Cmd": ["true"]})
    assert st == 201, body
    st, body = request(api, "POST", "/containers/api-resv/update", {"Memory": 32 << 20, "MemoryReservation": 64 << 20})
    assert (st, body) == (400, {"message": over})
    st, body = request(api, "POST", "/containers/api-resv/update", {"MemoryReservation": 1000})
    assert (st, body) == (400, {"message": small})
    hc = engine.inspect("api-resv")["HostConfig"]
    assert (hc["Memory"], hc["MemoryReservation"]) == (0, 0)


def test_sdk_images_networks_volumes(sdk):
    assert any(f"{IMAGE}:latest" in i.tags for i in sdk.images.list())
    img = sdk.images.get(IMAGE)
    img.tag("api/tagged", "v1")
    assert "api/tagged:v1" in sdk.images.get(IMAGE).tags
    sdk.images.remove("api/tagged:v1")
    assert "api/tagged:v1" not in sdk.images.get(IMAGE).tags
    n = sdk.networks.create("api-sdk-net", labels={"a": "b"})
    assert n.name in [x.name for x in sdk.networks.list()]
    c = sdk.containers.run(IMAGE, ["sleep", "100"], detach=True)
    n.connect(c)
    n.reload()
    assert c.id in n.attrs["Containers"]
    n.disconnect(c)
    c.remove(force=True)
    n.remove()
    v = sdk.volumes.create("api-sdk-vol", labels={"a": "b"})
    assert "api-sdk-vol" in [x.name for x in sdk.volumes.list()]
    v.remove()


def test_many_clients_at_once(docker, engine):
    """Eight `docker run` at once through one service: each sees its own output."""
    import concurrent.futures as cf
    before = {c.id for c in engine.containers(all_=True)}
    with cf.ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda i: docker("run", "--rm", IMAGE, "echo", f"run-{i}"), range(8)))
    assert [(r.returncode, r.stdout) for r in runs] == [(0, f"run-{i}\n") for i in range(8)]
    assert {c.id for c in engine.containers(all_=True)} == before


def test_sdk_kill_restart_wait(sdk):
    c = sdk.containers.run(IMAGE, ["sh", "-c", "trap 'exit 143' TERM; sleep 100 & wait"], detach=True)
    try:
        wait_for(lambda: "sleep 100" in str(c.top()["Processes"]))  # the trap is set once sleep runs
        c.kill(signal="TERM")
        assert c.wait(timeout=30)["StatusCode"] == 143
        c.start()
        c.reload()
        started = c.attrs["State"]["StartedAt"]
        c.restart(timeout=0)
        c.reload()
        assert c.status == "running" and c.attrs["State"]["StartedAt"] != started
        wait_for(lambda: "sleep 100" in str(c.top()["Processes"]))  # the restarted sh starts it in its time
        c.kill()
        assert c.wait(timeout=30, condition="not-running")["StatusCode"] == 137
    finally:
        c.remove(force=True)


def test_wait_next_exit_before_start_and_removed(api, engine):
    """docker run's order: wait (next-exit, or removed for --rm) before the start."""
    import threading
    st, body = request(api, "POST", "/containers/create",
                       {"Image": IMAGE, "Cmd": ["sh", "-c", "exit 7"], "HostConfig": {"AutoRemove": True}})
    assert st == 201
    cid = body["Id"]
    got = {}
    waiter = threading.Thread(target=lambda: got.update(r=request(api, "POST", f"/containers/{cid}/wait?condition=removed")))
    waiter.start()
    assert request(api, "POST", f"/containers/{cid}/start")[0] == 204
    waiter.join(timeout=30)
    assert got["r"] == (200, {"StatusCode": 7, "Error": None})
    assert cid not in {c.id for c in engine.containers(all_=True)}


def test_bad_bodies_and_hangups_leave_the_service_serving(api, engine):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(api)
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n{")
    answer = b""
    while chunk := s.recv(4096):  # the service answers and closes: the body was not read
        answer += chunk
    s.close()
    assert answer.startswith(b"HTTP/1.1 413") and b'"message": "http: request body too large"' in answer
    st, body = request(api, "POST", "/containers/create", [1, 2])
    assert st == 400
    st, body = request(api, "POST", "/containers/create", {"Image": IMAGE, "Cmd": "not a list of strings"})
    assert st in (201, 400)  # docker takes a string Cmd as one word; either way one line, no traceback
    if st == 201:
        request(api, "DELETE", f"/containers/{body['Id']}?force=1")
    st, body = request(api, "POST", "/containers/create?name=api-follow", {"Image": IMAGE, "Cmd": ["sleep", "100"]})
    assert request(api, "POST", "/containers/api-follow/start")[0] == 204
    # a follow whose client goes: the service carries on
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(api)
    s.sendall(b"GET /containers/api-follow/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.close()
    assert _ping(api)
    assert request(api, "DELETE", "/containers/api-follow?force=1")[0] == 204


# ----------------------------------------------------------------- the service

def test_service_socket_and_idle_exit(session_root):
    sock = str(session_root / "idle.sock")
    p = _start_service(session_root, sock, "--time", "1")
    try:
        wait_for(lambda: p.poll() is not None or _ping(sock), timeout=20)
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660 and st.st_uid == 0
        t0 = time.monotonic()
        assert p.wait(timeout=15) == 0
        assert time.monotonic() - t0 >= 0.9
        assert not os.path.exists(sock)
    finally:
        _stop_service(p)


def test_service_default_socket(session_root):
    """Without URI: docker.sock in the root's run directory (<root>/run for a root of its own)."""
    sock = session_root / "run" / "docker.sock"
    p = subprocess.Popen([DUNNAGE, "--root", str(session_root), "system", "service", "--time", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _ping(str(sock)), timeout=20)
        assert p.wait(timeout=15) == 0
        assert not sock.exists()
    finally:
        _stop_service(p)


def test_service_bad_flags(session_root):
    r = cli(session_root, "system", "service", "--time", "-1", f"unix://{session_root}/bad.sock", timeout=30)
    assert r.returncode == 125 and len(r.stderr.splitlines()) == 1, r.stderr
    r = cli(session_root, "system", "service", "--time", "1", "tcp://127.0.0.1:2375", timeout=30)
    assert r.returncode == 125 and b"only unix://" in r.stderr and b"Traceback" not in r.stderr


# ------------------------------------------------------- pull through the service

@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from peers import Registry, build_layout, skopeo
    layout = build_layout(tmp_path_factory.mktemp("image"))
    r = Registry(tmp_path_factory.mktemp("registry"))
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{r.host}/api/img:1")
        yield r
    finally:
        r.close()


def test_cli_pull_streams_progress_and_errors(docker, registry, engine):
    ref = f"{registry.host}/api/img:1"
    try:
        r = docker("pull", ref, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"Status: Downloaded newer image for {ref}" in r.stdout
        assert ref in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert docker("run", "--rm", ref, "cat", "/layer1").returncode == 0
        r = docker("rmi", ref)
        assert r.returncode == 0 and f"Untagged: {ref}" in r.stdout
        r = docker("pull", f"{registry.host}/api/img:nosuchtag", timeout=120)
        assert r.returncode == 1 and "not found" in r.stderr
    finally:
        try:
            engine.remove_image(ref, force=True)
        except Exception:  # noqa: BLE001
            pass
