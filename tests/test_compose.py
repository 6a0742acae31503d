"""dunnage compose on real containers: the projects in tests/compose/ (a web server with a
volume, an app waiting for a healthy dependency, replicas, an internal network, profiles)
brought up, checked and taken down through the command line, as Docker Compose v2 names
and labels them.  Every test takes its projects down in a finalizer, then removes what
is left of them by their labels."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import cli, wait_for
from dunnage.core.errors import DunnageError

HERE = Path(__file__).parent / "compose"
L = "com.docker.compose."


@pytest.fixture
def compose(session_root, engine, tmp_path):
    """compose(PROJECT_DIR_OR_FILE, *ARGS): `dunnage compose -f FILE ARGS` against the session's root."""
    used: dict[str, list[str]] = {}

    def run(where, *args, timeout=90, input=None):
        where = Path(where)
        f = where / "compose.yaml" if where.is_dir() else where
        head = ["compose", "-f", str(f)]
        used.setdefault(str(f), head)
        return cli(session_root, *head, *args, timeout=timeout, input=input)
    run.tmp = tmp_path
    yield run
    for f, head in used.items():
        cli(session_root, *head, "down", "-v", "--remove-orphans", "-t", "1", timeout=60)
    for c in engine.containers(all_=True):
        if (c.config["Config"].get("Labels") or {}).get(L + "project"):
            engine.remove(c.id, force=True)
    for n in engine.networks():
        if (n.get("Labels") or {}).get(L + "project"):
            try:
                engine.network_remove(n["Name"])
            except DunnageError:
                pass
    for v in engine.volumes():
        if (v.get("Labels") or {}).get(L + "project"):
            try:
                engine.volume_remove(v["Name"])
            except DunnageError:
                pass


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout.decode(), r.stderr.decode())
    return r.stdout.decode()


def labels(engine, name):
    return engine.container(name).config["Config"]["Labels"]


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst / "compose.yaml"


def test_web_server_with_a_volume(compose, engine, session_root):
    r = compose(HERE / "web", "up", "-d")
    ok(r)
    # the seed ran to completion before web started; web serves what it wrote
    assert engine.container("web-seed-1").status == "exited"
    assert engine.container("web-web-1").status == "running"
    out = ok(compose(HERE / "web", "run", "--rm", "-T", "--no-deps", "seed", "wget", "-qO-", "http://web/"))
    assert out == "hello from the volume\n"
    out = ok(compose(HERE / "web", "run", "--rm", "-T", "--no-deps", "seed", "wget", "-qO-",
                     "http://www.example/"))
    assert out == "hello from the volume\n"
    # docker compose v2's names and labels
    lab = labels(engine, "web-web-1")
    assert {k: lab[k] for k in (L + "project", L + "service", L + "container-number", L + "oneoff")} == {
        L + "project": "web", L + "service": "web", L + "container-number": "1", L + "oneoff": "False"}
    assert lab[L + "project.working_dir"] == str(HERE / "web")
    assert lab[L + "project.config_files"] == str(HERE / "web" / "compose.yaml")
    assert len(lab[L + "config-hash"]) == 64 and lab[L + "version"]
    net = engine.network_inspect("web_default")
    assert net["Labels"][L + "network"] == "default" and net["Labels"][L + "project"] == "web"
    vol = engine.volume_inspect("web_site")
    assert vol["Labels"] == {"purpose": "www", L + "volume": "site", L + "project": "web",
                             L + "version": lab[L + "version"]}
    # ps and ls
    ps = ok(compose(HERE / "web", "ps", "--format", "json"))
    rows = [json.loads(line) for line in ps.splitlines()]
    assert [(x["Name"], x["Service"], x["State"]) for x in rows] == [("web-web-1", "web", "running")]
    assert ok(compose(HERE / "web", "ps", "-a", "--services")).split() == ["seed", "web"]
    # without -a compose v2's ls counts the containers the list gives, the running ones
    # (this asserted "web exited(1), running(1)" until compose v2's code was read)
    ls = ok(cli(session_root, "compose", "ls", "--format", "{{.Name}} {{.Status}}"))
    assert "web running(1)" in ls.splitlines()
    ls = ok(cli(session_root, "compose", "ls", "-a", "--format", "{{.Name}} {{.Status}}"))
    assert "web exited(1), running(1)" in ls.splitlines()
    # down removes what up made, the volume only with -v
    r = compose(HERE / "web", "down", "-t", "1")
    ok(r)
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("web-")]
    assert "web_default" not in {n["Name"] for n in engine.networks()}
    assert "web_site" in {v["Name"] for v in engine.volumes()}
    ok(compose(HERE / "web", "down", "-v"))
    assert "web_site" not in {v["Name"] for v in engine.volumes()}


def test_interpolation_from_the_environment_file(compose, engine):
    f = copy_project(HERE / "web", compose.tmp / "site")
    (f.parent / ".env").write_text("GREETING=greetings from .env\n")
    ok(compose(f, "up", "-d"))
    out = ok(compose(f, "run", "--rm", "-T", "--no-deps", "seed", "wget", "-qO-", "http://web/"))
    assert out == "greetings from .env\n"


def test_waits_for_a_healthy_dependency(compose, engine):
    r = compose(HERE / "healthy", "up", "-d")
    ok(r)
    assert "Container healthy-db-1  Healthy" in r.stderr.decode()
    assert engine.inspect("healthy-db-1")["State"]["Health"]["Status"] == "healthy"
    wait_for(lambda: ok(compose(HERE / "healthy", "logs", "app")), timeout=10)
    assert ok(compose(HERE / "healthy", "logs", "--no-color", "app")) == "app-1  | db was ready\n"


def test_an_unhealthy_dependency_stops_up(compose, engine):
    f = copy_project(HERE / "healthy", compose.tmp / "sick")
    f.write_text(f.read_text().replace("test: [CMD, test, -f, /shared/ready]", "test: [CMD, 'false']")
                 .replace("retries: 30", "retries: 2"))
    r = compose(f, "up", "-d")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "dependency failed to start: container sick-db-1 is unhealthy" in err
    assert "Traceback" not in err
    assert engine.container("sick-app-1").status == "created"


def test_second_up_recreates_only_what_changed(compose, engine):
    f = copy_project(HERE / "replicas", compose.tmp / "again")
    ok(compose(f, "up", "-d"))
    before = {c.name: c.id for c in engine.containers(all_=True)}
    r = compose(f, "up", "-d")
    ok(r)
    assert {c.name: c.id for c in engine.containers(all_=True)} == before
    assert "Recreate" not in r.stderr.decode()
    f.write_text(f.read_text().replace("  client:\n    image: local/busybox:latest\n    command: sleep 300",
                                       "  client:\n    image: local/busybox:latest\n    command: sleep 301"))
    r = compose(f, "up", "-d")
    ok(r)
    after = {c.name: c.id for c in engine.containers(all_=True)}
    assert after["again-client-1"] != before["again-client-1"]
    assert {n: after[n] for n in after if "worker" in n} == {n: before[n] for n in before if "worker" in n}
    assert "Container again-client-1  Recreated" in r.stderr.decode()
    r = compose(f, "up", "-d", "--force-recreate", "worker")
    ok(r)
    assert all(engine.container(f"again-worker-{i}").id != before[f"again-worker-{i}"] for i in (1, 2, 3))


def test_replicas_resolve_by_service_name_and_scale(compose, engine):
    ok(compose(HERE / "replicas", "up", "-d"))
    workers = sorted(c.name for c in engine.containers() if "-worker-" in c.name)
    assert workers == ["replicas-worker-1", "replicas-worker-2", "replicas-worker-3"]
    out = ok(compose(HERE / "replicas", "exec", "-T", "client", "nslookup", "worker", "127.0.0.11"))
    ips = {engine.inspect(w)["NetworkSettings"]["Networks"]["replicas_default"]["IPAddress"] for w in workers}
    # the service's name answers with every replica's address, as docker's resolver does
    assert len(ips) == 3 and all(f"Address: {ip}" in out for ip in ips)
    ok(compose(HERE / "replicas", "up", "-d", "--scale", "worker=1"))
    assert sorted(c.name for c in engine.containers(all_=True) if "-worker-" in c.name) == ["replicas-worker-1"]


def test_internal_network(compose, engine):
    ok(compose(HERE / "internal", "up", "-d"))
    assert engine.network_inspect("internal_inside")["Internal"] is True
    assert engine.network_inspect("internal_outside")["Internal"] is False
    # front is on both networks and reaches back by its service name and its alias
    assert set(engine.inspect("internal-front-1")["NetworkSettings"]["Networks"]) == {"internal_outside",
                                                                                      "internal_inside"}
    ok(compose(HERE / "internal", "exec", "-T", "front", "ping", "-c1", "-W2", "back"))
    ok(compose(HERE / "internal", "exec", "-T", "front", "ping", "-c1", "-W2", "database"))
    # back has no way out: no default route on an internal network
    routes = ok(compose(HERE / "internal", "exec", "-T", "back", "ip", "route"))
    assert "default" not in routes
    assert "default" in ok(compose(HERE / "internal", "exec", "-T", "front", "ip", "route"))


def test_profiles(compose, engine, session_root):
    import subprocess
    from conftest import DUNNAGE
    ok(compose(HERE / "profiles", "up", "-d"))
    assert sorted(c.name for c in engine.containers() if c.name.startswith("profiles-")) == ["profiles-app-1"]
    ok(compose(HERE / "profiles", "--profile", "debug", "up", "-d"))
    assert sorted(c.name for c in engine.containers() if c.name.startswith("profiles-")) == [
        "profiles-app-1", "profiles-debugger-1"]
    assert ok(compose(HERE / "profiles", "config", "--services")).split() == ["app"]
    # down without the profile leaves the profile's containers, and the network they are on,
    # as compose v2 does: its down walks the services the profiles have on, and one they leave
    # off is not an orphan either, --remove-orphans or not (docker/compose#11793, #13027).
    # (This test asserted the opposite until compose v2's code was read.)
    r = compose(HERE / "profiles", "down", "--remove-orphans", "-t", "0")
    ok(r)
    assert sorted(c.name for c in engine.containers(all_=True) if c.name.startswith("profiles-")) == [
        "profiles-debugger-1"]
    assert engine.container("profiles-debugger-1").status == "running"
    assert "Network profiles_default  Resource is still in use" in r.stderr.decode()
    assert "orphan" not in r.stderr.decode()
    # with the profile, down takes them
    ok(compose(HERE / "profiles", "--profile", "debug", "down", "-t", "0"))
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("profiles-")]
    assert "profiles_default" not in {n["Name"] for n in engine.networks()}
    # and by the project's name alone (no -f), whatever the compose file here says, as v2's
    # projectOrName takes the project from its containers' labels then
    ok(compose(HERE / "profiles", "--profile", "debug", "up", "-d"))
    r = subprocess.run([DUNNAGE, "--root", str(session_root), "compose", "-p", "profiles", "down", "-t", "0"],
                       cwd=HERE / "profiles", capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("profiles-")]
    assert "profiles_default" not in {n["Name"] for n in engine.networks()}


def test_orphans_are_reported_and_removed(compose, engine):
    f = copy_project(HERE / "replicas", compose.tmp / "orph")
    ok(compose(f, "up", "-d", "--scale", "worker=1"))
    f.write_text(f.read_text().split("  client:")[0])
    r = compose(f, "up", "-d")
    ok(r)
    assert "Found orphan containers ([orph-client-1])" in r.stderr.decode()
    assert engine.container("orph-client-1").status == "running"
    # down without --remove-orphans leaves the orphan running and its network, in use, with
    # a warning (compose v2's "Resource is still in use"), and succeeds; it does not warn of
    # the orphan as up does: v2's down has no such warning (this asserted one until v2's
    # code was read)
    r = compose(f, "down", "-t", "0")
    ok(r)
    err = r.stderr.decode()
    assert "orphan" not in err
    assert "Network orph_default  Resource is still in use" in err
    assert engine.container("orph-client-1").status == "running"
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("orph-worker-")]
    ok(compose(f, "up", "-d", "--remove-orphans"))
    assert not [c for c in engine.containers(all_=True) if c.name == "orph-client-1"]
    ok(compose(f, "down", "-t", "0"))
    f.write_text(f.read_text() + "  client:\n    image: local/busybox:latest\n    command: sleep 300\n"
                 "    stop_signal: SIGKILL\n")
    ok(compose(f, "up", "-d", "--scale", "worker=1"))
    f.write_text(f.read_text().split("  client:")[0])
    ok(compose(f, "down", "--remove-orphans", "-t", "0"))
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("orph-")]
    assert "orph_default" not in {n["Name"] for n in engine.networks()}


def test_logs_prefixes_and_abort_on_container_exit(compose, engine):
    f = compose.tmp / "abort" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("services:\n"
                 "  quick: {image: local/busybox:latest, command: sh -c 'echo quick; exit 7'}\n"
                 "  slow: {image: local/busybox:latest, command: sh -c 'echo slow; exec sleep 300',"
                 " stop_signal: SIGKILL}\n")
    r = compose(f, "up", "--abort-on-container-exit", timeout=60)
    assert r.returncode == 7, r.stderr.decode()
    out = r.stdout.decode()
    assert out.splitlines()[0] == "Attaching to quick-1, slow-1"  # as compose v2: without the project's name
    assert "quick-1  | quick" in out and "Aborting on container exit..." in out
    assert engine.container("abort-slow-1").status == "exited"
    logs = ok(compose(f, "logs", "--no-color"))
    assert sorted(logs.splitlines()) == ["quick-1  | quick", "slow-1   | slow"]
    assert ok(compose(f, "logs", "--no-color", "--tail", "1", "quick")) == "quick-1  | quick\n"


def test_exec_run_and_the_container_verbs(compose, engine):
    d = HERE / "profiles"
    ok(compose(d, "up", "-d"))
    r = compose(d, "exec", "-T", "app", "sh", "-c", "echo $HOSTNAME; exit 3")
    assert r.returncode == 3 and r.stdout.decode().strip() == engine.inspect("profiles-app-1")["Config"]["Hostname"]
    r = compose(d, "run", "--rm", "-T", "-e", "X=1", "app", "sh", "-c", "echo $X; exit 4")
    assert (r.returncode, r.stdout.decode()) == (4, "1\n")
    assert not [c for c in engine.containers(all_=True) if "-run-" in c.name]
    r = compose(d, "run", "-d", "app", "sleep", "300")
    ok(r)
    run_name = r.stdout.decode().strip()
    assert run_name.startswith("profiles-app-run-")
    assert labels(engine, run_name)[L + "oneoff"] == "True"
    ok(compose(d, "pause", "app"))
    assert engine.container("profiles-app-1").status == "paused"
    ok(compose(d, "unpause"))
    ok(compose(d, "stop", "-t", "0"))
    assert engine.container("profiles-app-1").status == "exited"
    ok(compose(d, "start"))
    assert engine.container("profiles-app-1").status == "running"
    ok(compose(d, "kill"))
    wait_for(lambda: engine.container("profiles-app-1").status == "exited")
    ok(compose(d, "rm", "-f"))
    assert not [c for c in engine.containers(all_=True) if c.name == "profiles-app-1"]
    # down leaves a one-off container (up made none), as compose v2's does: its network is
    # then still in use, said as a warning; --remove-orphans takes both
    r = compose(d, "down", "-t", "0")
    ok(r)
    assert engine.container(run_name).status == "running"
    assert "Network profiles_default  Resource is still in use" in r.stderr.decode()
    ok(compose(d, "down", "--remove-orphans", "-t", "0"))
    assert not [c for c in engine.containers(all_=True) if c.name == run_name]
    assert "profiles_default" not in {n["Name"] for n in engine.networks()}


@pytest.mark.parametrize("text, msg", [
    ("services:\n  web:\n    image: local/busybox:latest\n    ports: ['80']\n    comand: x\n",
     "services.web additional properties 'comand' not allowed"),
    ("services:\n  web: {image: local/busybox:latest, depends_on: [nope]}\n",
     'service "web" depends on undefined service "nope"'),
    ("services:\n  web: {image: '${NOPE:?NOPE must be set}'}\n", "required variable NOPE is missing a value"),
    ("services:\n  web: {build: ./nowhere, command: x}\n", "/bad/nowhere\" is not a directory"),
    ("services:\n  web:\n    image: local/busybox:latest\n    deploy: {resources: {reservations: {devices: "
     "[{driver: nvidia, count: 1, capabilities: [gpu]}]}}}\n",
     'could not select device driver "nvidia" with capabilities: [[gpu]]'),
    ("services:\n  web: {image: local/busybox:latest, secrets: [token]}\nsecrets: {token: {environment: NOPE_TOKEN}}\n",
     'environment variable "NOPE_TOKEN" required by secret "bad_token" is not set'),
    ("services:\n  web: {image: local/busybox:latest, read_only: true, configs: [c]}\nconfigs: {c: {content: x}}\n",
     'cannot create config "bad_c" in read-only service web: `file` is the sole supported option'),
    ("services:\n  web: {image: local/busybox:latest, mem_limit: 16m, mem_reservation: 32m}\n",
     "Minimum memory limit can not be less than memory reservation limit"),
    ("services:\n  web: {image: local/busybox:latest, deploy: {restart_policy: {condition: any, max_attempts: 2}}}\n",
     "invalid restart policy: always:2"),
])
def test_a_bad_file_is_one_line_and_creates_nothing(compose, engine, text, msg):
    f = compose.tmp / "bad" / "compose.yaml"
    f.parent.mkdir()
    f.write_text(text)
    before = ({c.id for c in engine.containers(all_=True)}, {n["Name"] for n in engine.networks()},
              {v["Name"] for v in engine.volumes()})
    r = compose(f, "up", "-d")
    err = r.stderr.decode()
    assert r.returncode == 1 and msg in err and "Traceback" not in err, err
    assert len([x for x in err.splitlines() if x.startswith("dunnage: Error")]) == 1
    assert ({c.id for c in engine.containers(all_=True)}, {n["Name"] for n in engine.networks()},
            {v["Name"] for v in engine.volumes()}) == before


def test_config_prints_the_resolved_model(compose):
    out = ok(compose(HERE / "web", "config"))
    import yaml
    doc = yaml.safe_load(out)
    assert doc["name"] == "web"
    assert doc["services"]["seed"]["environment"] == {"GREETING": "hello from the volume"}
    assert doc["services"]["seed"]["volumes"] == [{"type": "volume", "source": "site", "target": "/site"}]
    assert doc["networks"] == {"default": {"name": "web_default"}}
    assert doc["volumes"]["site"]["name"] == "web_site"
    assert ok(compose(HERE / "web", "config", "-q")) == ""
    r = compose(HERE / "web", "-p", "Bad", "config")
    assert r.returncode == 1 and 'invalid project name "Bad"' in r.stderr.decode()


def test_build_through_the_builder(compose, engine):
    d = compose.tmp / "built"
    (d / "app").mkdir(parents=True)
    (d / "app" / "Dockerfile").write_text('FROM local/busybox:latest\nARG GREETING=hi\n'
                                          'RUN echo "$GREETING" > /greeting\nCMD ["cat", "/greeting"]\n')
    (d / "compose.yaml").write_text("services:\n  app:\n    build:\n      context: app\n"
                                    "      args: {GREETING: built by compose}\n")
    r = compose(d, "up", "--abort-on-container-exit", timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert "app-1  | built by compose" in r.stdout.decode()
    assert engine.image("built-app").id == engine.container("built-app-1").config["Image"]
    ok(compose(d, "down", "--rmi", "local"))
    with pytest.raises(DunnageError):
        engine.image("built-app")


def test_wait_create_restart_port_images_top(compose, engine):
    f = compose.tmp / "misc" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("services:\n"
                 "  web:\n"
                 "    image: local/busybox:latest\n"
                 "    command: sh -c 'sleep 0.5; touch /tmp/up; exec httpd -f -p 80'\n"
                 "    init: true\n"
                 "    ports: ['127.0.0.1::80']\n"
                 "    sysctls: {net.core.somaxconn: 1024}\n"
                 "    healthcheck: {test: [CMD, test, -f, /tmp/up], interval: 100ms, retries: 100}\n")
    r = compose(f, "create")
    ok(r)
    assert engine.container("misc-web-1").status == "created"
    assert 'service "web": sysctls not supported by dunnage yet: left out' in r.stderr.decode()
    ok(compose(f, "up", "-d", "--wait"))
    assert engine.inspect("misc-web-1")["State"]["Health"]["Status"] == "healthy"
    port = ok(compose(f, "port", "web", "80")).strip()
    assert port.startswith("127.0.0.1:") and int(port.rsplit(":", 1)[1]) > 0
    assert port == f"127.0.0.1:{engine.ports('misc-web-1')[0][2]}"
    r = compose(f, "port", "web", "81")
    assert r.returncode == 1 and "no port 81/tcp for container misc-web-1" in r.stderr.decode()
    images = ok(compose(f, "images")).splitlines()
    assert images[0].split() == ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    assert images[1].split()[:3] == ["misc-web-1", "local/busybox", "latest"]
    top = ok(compose(f, "top"))
    assert top.splitlines()[0] == "misc-web-1" and "httpd -f -p 80" in top
    started = engine.inspect("misc-web-1")["State"]["StartedAt"]
    ok(compose(f, "restart", "-t", "1"))
    assert engine.inspect("misc-web-1")["State"]["StartedAt"] != started
    assert engine.container("misc-web-1").status == "running"


def test_logs_follow_and_ctrl_c_of_an_attached_up(compose, engine, session_root):
    import signal
    import subprocess
    from conftest import DUNNAGE
    f = compose.tmp / "follow" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("services:\n"
                 "  talk:\n"
                 "    image: local/busybox:latest\n"
                 "    command: sh -c 'trap exit TERM; echo one; sleep 0.3; echo two; sleep 300 & wait'\n"
                 "    scale: 2\n")
    compose(f, "ps")  # registers the project for the finalizer's down
    up = subprocess.Popen([DUNNAGE, "--root", str(session_root), "compose", "-f", str(f), "up"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    logs = None
    try:
        wait_for(lambda: len([c for c in engine.containers() if c.name.startswith("follow-talk-")]) == 2,
                 timeout=30)
        logs = subprocess.Popen([DUNNAGE, "--root", str(session_root), "compose", "-f", str(f), "logs", "-f",
                                 "--no-color"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen: list[str] = []
        wait_for(lambda: seen.append(logs.stdout.readline().decode()) or
                 sum("| two" in x for x in seen) == 2, timeout=30)
        assert {x for x in seen if x} >= {"talk-1  | one\n", "talk-2  | two\n"}
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
        out = up.stdout.read().decode()
        assert code == 130, up.stderr.read().decode()
        assert "Gracefully stopping..." in out and "talk-1  | one" in out
        assert {c.status for c in engine.containers(all_=True) if c.name.startswith("follow-talk-")} == {"exited"}
        assert logs.wait(timeout=30) == 0  # -f ends once the containers are gone
    finally:
        for p in (up, logs):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_a_project_by_name_alone(compose, engine, session_root):
    import subprocess
    from conftest import DUNNAGE
    ok(compose(HERE / "web", "up", "-d"))
    elsewhere = compose.tmp / "elsewhere"
    elsewhere.mkdir()

    def by_name(*args):
        return subprocess.run([DUNNAGE, "--root", str(session_root), "compose", "-p", "web", *args],
                              cwd=elsewhere, capture_output=True, timeout=60)
    assert [x.split()[0] for x in ok(by_name("ps", "-a")).splitlines()[1:]] == ["web-seed-1", "web-web-1"]
    r = subprocess.run([DUNNAGE, "--root", str(session_root), "compose", "ps"], cwd=elsewhere,
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and "no configuration file provided" in r.stderr.decode()
    ok(by_name("down", "-v", "-t", "1"))
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("web-")]
    assert "web_default" not in {n["Name"] for n in engine.networks()}
    assert "web_site" not in {v["Name"] for v in engine.volumes()}


def test_depends_on_restart(compose, engine):
    f = compose.tmp / "rs" / "compose.yaml"
    f.parent.mkdir()
    text = ("services:\n"
            "  db: {image: local/busybox:latest, command: sleep 300, stop_signal: SIGKILL, environment: [V=1]}\n"
            "  app:\n"
            "    image: local/busybox:latest\n"
            "    command: sleep 300\n"
            "    stop_signal: SIGKILL\n"
            "    depends_on: {db: {condition: service_started, restart: true}}\n"
            "  other:\n"
            "    image: local/busybox:latest\n"
            "    command: sleep 300\n"
            "    stop_signal: SIGKILL\n"
            "    depends_on: [db]\n")
    f.write_text(text)
    ok(compose(f, "up", "-d"))
    started = {n: engine.inspect(f"rs-{n}-1")["State"]["StartedAt"] for n in ("app", "other")}
    ids = {n: engine.container(f"rs-{n}-1").id for n in ("app", "other")}
    f.write_text(text.replace("V=1", "V=2"))
    r = compose(f, "up", "-d")
    ok(r)
    assert "Container rs-app-1  Restarting" in r.stderr.decode()
    assert {n: engine.container(f"rs-{n}-1").id for n in ("app", "other")} == ids
    assert engine.inspect("rs-app-1")["State"]["StartedAt"] != started["app"]
    assert engine.inspect("rs-other-1")["State"]["StartedAt"] == started["other"]


def test_secrets_and_configs_are_files_bound_read_only(compose, engine):
    d = compose.tmp / "sec"
    d.mkdir()
    (d / "token.txt").write_text("s3cret\n")
    (d / "app.conf").write_text("level=debug\n")
    (d / "compose.yaml").write_text("services:\n"
                                    "  app:\n"
                                    "    image: local/busybox:latest\n"
                                    "    secrets: [token]\n"
                                    "    configs: [{source: conf, target: /etc/app.conf}]\n"
                                    "secrets: {token: {file: ./token.txt}}\n"
                                    "configs: {conf: {file: app.conf}}\n")
    out = ok(compose(d, "run", "--rm", "-T", "app", "sh", "-c",
                     "cat /run/secrets/token /etc/app.conf; echo x > /run/secrets/token || echo read-only"))
    assert out.splitlines() == ["s3cret", "level=debug", "read-only"]
    assert (d / "token.txt").read_text() == "s3cret\n"


def test_secrets_and_configs_from_the_environment_and_content_are_copied_in(compose, engine):
    """compose v2's injectFileReferences: an `environment:` secret or config, or a config's
    `content:`, written into the container before each start, at /run/secrets/NAME (a
    relative target there) or the config's target, 0444 root's unless mode, uid, gid say."""
    d = compose.tmp / "envsec"
    d.mkdir()
    (d / ".env").write_text("TOKEN=s3cret\nLEVEL=debug\n")
    (d / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        "    image: local/busybox:latest\n"
        "    command: [sleep, '300']\n"
        "    secrets: [token, {source: token, target: again, uid: '1000', gid: '1001', mode: 0400}]\n"
        "    configs: [{source: conf, target: /etc/app/app.conf}, {source: fromenv, target: etc/plain, mode: '0640'}]\n"
        "secrets: {token: {environment: TOKEN}}\n"
        "configs:\n"
        "  conf: {content: 'level=${LEVEL}'}\n"
        "  fromenv: {environment: LEVEL}\n")
    ok(compose(d, "up", "-d"))
    show = ("for f in /run/secrets/token /run/secrets/again /etc/app/app.conf /etc/plain; do "
            "echo $(stat -c '%a %u %g' $f) $(cat $f); done; stat -c '%a %u' /run/secrets /etc/app")
    out = ok(compose(d, "exec", "-T", "app", "sh", "-c", show))
    assert out.splitlines() == ["444 0 0 s3cret", "400 1000 1001 s3cret", "444 0 0 level=debug", "640 0 0 debug",
                                "755 0", "755 0"]
    # written again before each start: a new value is there after stop and start
    (d / ".env").write_text("TOKEN=other\nLEVEL=info\n")
    ok(compose(d, "stop", "-t", "0"))
    ok(compose(d, "start"))
    assert ok(compose(d, "exec", "-T", "app", "cat", "/run/secrets/token", "/etc/plain")) == "otherinfo"
    out = ok(compose(d, "run", "--rm", "-T", "app", "cat", "/run/secrets/again", "/etc/app/app.conf"))
    assert out == "otherlevel=info"


def test_memory_reservations_reach_the_cgroup(compose, engine):
    """mem_reservation or deploy.resources.reservations.memory, as compose's getDeployResources
    maps them; reservations.cpus is swarm's and changes nothing."""
    import os
    from dunnage.core.cgroups import host_version, open_cgroup
    d = compose.tmp / "resv"
    d.mkdir()
    (d / "compose.yaml").write_text(
        "services:\n"
        "  plain: {image: local/busybox:latest, command: [sleep, '300'], mem_reservation: 20m}\n"
        "  deployed:\n"
        "    image: local/busybox:latest\n"
        "    command: [sleep, '300']\n"
        "    deploy: {resources: {limits: {memory: 64m}, reservations: {memory: 32m, cpus: '0.5'}}}\n")
    ok(compose(d, "up", "-d"))
    for name, want in (("resv-plain-1", 20 << 20), ("resv-deployed-1", 32 << 20)):
        c = engine.container(name)
        hc = engine.inspect(c.id)["HostConfig"]
        assert (hc["MemoryReservation"], hc["NanoCpus"]) == (want, 0)
        paths = open_cgroup(c.id).paths()
        f = os.path.join(paths["memory"], "memory.soft_limit_in_bytes") if host_version() == 1 else \
            os.path.join(paths["unified"], "memory.low")
        with open(f) as fh:
            assert int(fh.read()) == want
    assert engine.inspect("resv-deployed-1")["HostConfig"]["Memory"] == 64 << 20


def test_events_of_the_project(compose, engine, session_root):
    import subprocess
    import threading
    import time
    from conftest import DUNNAGE
    d = HERE / "profiles"
    ok(compose(d, "up", "--wait"))
    ev = subprocess.Popen([DUNNAGE, "--root", str(session_root), "compose", "-f", str(d / "compose.yaml"), "events",
                           "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[dict] = []
    reader = threading.Thread(target=lambda: [lines.append(json.loads(x)) for x in ev.stdout], daemon=True)
    reader.start()
    try:
        last = [0.0]

        def restarted() -> bool:
            # the events command starts following when it is up: restart until it has seen one
            if time.monotonic() - last[0] > 1:
                ok(cli(session_root, "run", "--rm", "local/busybox:latest", "true"))  # not the project's
                ok(compose(d, "restart", "-t", "0"))
                last[0] = time.monotonic()
            return any(x["action"] == "restart" for x in lines)
        wait_for(restarted, timeout=30)
        assert {x["service"] for x in lines} == {"app"}
        assert {x["id"] for x in lines} == {engine.container("profiles-app-1").id}
        assert "start" in [x["action"] for x in lines]
    finally:
        ev.kill()
        ev.wait()


def test_static_addresses(compose, engine):
    f = compose.tmp / "addr" / "compose.yaml"
    f.parent.mkdir()
    text = ("services:\n"
            "  s:\n"
            "    image: local/busybox:latest\n"
            "    command: sleep 300\n"
            "    stop_signal: SIGKILL\n"
            "    networks:\n"
            "      a: {}\n"
            "      b: {ipv4_address: ADDR}\n"
            "networks:\n"
            "  a: {}\n"
            "  b: {ipam: {config: [{subnet: 10.213.77.0/24}]}}\n")
    f.write_text(text.replace("ADDR", "10.213.77.77"))
    ok(compose(f, "up", "-d"))
    nets = engine.inspect("addr-s-1")["NetworkSettings"]["Networks"]
    assert nets["addr_b"]["IPAddress"] == "10.213.77.77" and "addr_a" in nets
    ok(compose(f, "down", "-t", "0"))
    f.write_text(text.replace("ADDR", "10.213.78.77"))  # outside b's subnet
    r = compose(f, "up", "-d")
    err = r.stderr.decode()
    assert r.returncode != 0 and "10.213.78.77" in err and "Traceback" not in err, err
    assert engine.container("addr-s-1").status != "running"  # as docker's: created, its start refused


def test_a_networks_driver_opts_and_ipv6_reach_it(compose, engine):
    """driver_opts as docker network create -o (the MTU here), enable_ipv6 with an IPv6
    ipam config beside the IPv4 one: the network and its containers have them."""
    f = compose.tmp / "netopts" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("""\
services:
  s:
    image: local/busybox:latest
    command: sleep 300
    stop_signal: SIGKILL
    networks: [n]
networks:
  n:
    driver_opts: {com.docker.network.driver.mtu: 1400, org.example.note: kept}
    enable_ipv6: true
    ipam: {config: [{subnet: 10.213.90.0/24}, {subnet: "fd00:dd:90::/64"}]}
""")
    ok(compose(f, "up", "-d"))
    info = engine.network_inspect("netopts_n")
    assert info["Options"] == {"com.docker.network.driver.mtu": "1400", "org.example.note": "kept"}
    assert info["EnableIPv6"] and [c["Subnet"] for c in info["IPAM"]["Config"]] == ["10.213.90.0/24", "fd00:dd:90::/64"]
    r = compose(f, "exec", "-T", "s", "sh", "-c", "cat /sys/class/net/eth0/mtu; ip -6 addr show dev eth0 scope global")
    out = r.stdout.decode()
    assert r.returncode == 0 and out.split()[0] == "1400" and "fd00:dd:90::" in out, out
    ok(compose(f, "down", "-t", "0"))


def test_service_keys_reach_the_container(compose, engine):
    f = compose.tmp / "keys" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("""\
services:
  s:
    image: local/busybox:latest
    command: [sleep, "300"]
    entrypoint: [/bin/sh, -c, 'exec "$0" "$@"']
    environment: {A: "1"}
    working_dir: /tmp
    user: "1000:1000"
    hostname: box
    labels: {team: infra}
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only: true
    tmpfs: [/scratch]
    extra_hosts: ["db.local:10.0.0.5"]
    dns: [10.0.0.53]
    restart: unless-stopped
    init: true
    stop_signal: SIGUSR1
    stop_grace_period: 3s
    mem_limit: 64m
    pids_limit: 50
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    deploy:
      resources:
        limits: {cpus: "0.5"}
    expose: ["8125/udp"]
""")
    ok(compose(f, "create"))
    d = engine.inspect("keys-s-1")
    cfg, hc = d["Config"], d["HostConfig"]
    assert (d["Path"], d["Args"]) == ("/bin/sh", ["-c", 'exec "$0" "$@"', "sleep", "300"])
    assert "A=1" in cfg["Env"] and cfg["WorkingDir"] == "/tmp" and cfg["User"] == "1000:1000"
    assert cfg["Hostname"] == "box" and cfg["Labels"]["team"] == "infra"
    assert cfg["StopSignal"] == "SIGUSR1" and cfg["StopTimeout"] == 3 and "8125/udp" in cfg["ExposedPorts"]
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["MKNOD"] and hc["ReadonlyRootfs"] is True
    assert "/scratch" in hc["Tmpfs"] and hc["ExtraHosts"] == ["db.local:10.0.0.5"] and hc["Dns"] == ["10.0.0.53"]
    assert hc["RestartPolicy"]["Name"] == "unless-stopped" and hc["Init"] is True
    assert hc["Memory"] == 64 * 1024 * 1024 and hc["PidsLimit"] == 50 and hc["NanoCpus"] == 500_000_000
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]


def test_external_resources_and_network_mode_of_a_service(compose, engine):
    f = compose.tmp / "ext" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("""\
services:
  main:
    image: local/busybox:latest
    command: sleep 300
    stop_signal: SIGKILL
    networks: [shared]
    volumes: [keep:/keep]
  side:
    image: local/busybox:latest
    command: sleep 300
    stop_signal: SIGKILL
    network_mode: service:main
    depends_on: [main]
networks:
  shared: {external: true, name: ext-shared-net}
volumes:
  keep: {external: true, name: ext-keep-vol}
""")
    r = compose(f, "up", "-d")
    assert r.returncode == 1 and "network ext-shared-net declared as external, but could not be found" in \
        r.stderr.decode()
    engine.network_create("ext-shared-net")
    engine.volume_create("ext-keep-vol")
    try:
        ok(compose(f, "up", "-d"))
        main = engine.inspect("ext-main-1")
        assert list(main["NetworkSettings"]["Networks"]) == ["ext-shared-net"]
        assert engine.inspect("ext-side-1")["HostConfig"]["NetworkMode"] == "container:ext-main-1"
        ip = ok(compose(f, "exec", "-T", "side", "ip", "-4", "addr", "show", "eth0"))
        assert main["NetworkSettings"]["Networks"]["ext-shared-net"]["IPAddress"] in ip
        ok(compose(f, "down", "-v", "-t", "0"))
        assert "ext-shared-net" in {n["Name"] for n in engine.networks()}
        assert "ext-keep-vol" in {v["Name"] for v in engine.volumes()}
    finally:
        for c in engine.containers(all_=True):
            if c.name.startswith("ext-"):
                engine.remove(c.id, force=True)
        engine.network_remove("ext-shared-net")
        engine.volume_remove("ext-keep-vol")


def test_up_recreates_a_service_whose_image_was_rebuilt(compose, engine):
    """compose v2 recreates a container whose image is no longer the one its reference names
    (mustRecreate: the config hash or the image), so `up --build` after a change runs the
    new image; without --build an image that is there is neither built nor changed, and
    --no-build with it gone is one line before anything is made."""
    d = compose.tmp / "rebuilt"
    (d / "app").mkdir(parents=True)
    dockerfile = d / "app" / "Dockerfile"
    dockerfile.write_text('FROM local/busybox:latest\nRUN echo one > /version\nCMD ["sleep", "300"]\n')
    (d / "compose.yaml").write_text("services:\n  app:\n    build: app\n    stop_signal: SIGKILL\n")
    ok(compose(d, "up", "-d", timeout=120))
    first = engine.container("rebuilt-app-1").id
    assert ok(compose(d, "exec", "-T", "app", "cat", "/version")) == "one\n"
    dockerfile.write_text(dockerfile.read_text().replace("one", "two"))
    r = compose(d, "up", "-d")
    ok(r)
    assert engine.container("rebuilt-app-1").id == first and "Building" not in r.stderr.decode()
    r = compose(d, "up", "-d", "--build", timeout=120)
    ok(r)
    assert "Container rebuilt-app-1  Recreated" in r.stderr.decode()
    assert engine.container("rebuilt-app-1").id != first
    assert engine.container("rebuilt-app-1").config["Image"] == engine.image("rebuilt-app").id
    assert ok(compose(d, "exec", "-T", "app", "cat", "/version")) == "two\n"
    ok(compose(d, "down", "--rmi", "local", "-t", "0"))
    r = compose(d, "up", "-d", "--no-build")
    err = r.stderr.decode()
    assert r.returncode == 1 and "its image rebuilt-app is missing and --no-build was given" in err, err
    assert not [c for c in engine.containers(all_=True) if c.name.startswith("rebuilt-")]
    assert "rebuilt_default" not in {n["Name"] for n in engine.networks()}


def test_deploy_restart_policy_as_compose_v2_maps_it(compose, engine):
    """deploy.restart_policy over restart (compose's getRestartPolicy), its conditions none,
    any and on-failure with max_attempts as the retry count."""
    f = compose.tmp / "rp" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("services:\n"
                 "  both:\n"
                 "    image: local/busybox:latest\n"
                 "    restart: always\n"
                 "    deploy: {restart_policy: {condition: on-failure, max_attempts: 3}}\n"
                 "  any: {image: local/busybox:latest, deploy: {restart_policy: {condition: any}}}\n"
                 "  none:\n"
                 "    image: local/busybox:latest\n"
                 "    restart: always\n"
                 "    deploy: {restart_policy: {condition: none}}\n"
                 "  plain: {image: local/busybox:latest, restart: unless-stopped}\n")
    ok(compose(f, "create"))
    got = {s: engine.inspect(f"rp-{s}-1")["HostConfig"]["RestartPolicy"] for s in ("both", "any", "none", "plain")}
    assert got == {"both": {"Name": "on-failure", "MaximumRetryCount": 3},
                   "any": {"Name": "always", "MaximumRetryCount": 0},
                   "none": {"Name": "no", "MaximumRetryCount": 0},
                   "plain": {"Name": "unless-stopped", "MaximumRetryCount": 0}}


FLAGS = """\
services:
  app:
    image: local/busybox:latest
    command: sh -c 'echo "$$GREETING"; exec sleep 300'
    environment: {GREETING: "${GREETING:-unset}"}
    stop_signal: SIGKILL
    volumes: [data:/data]
  side:
    image: local/busybox:latest
    command: sleep 300
    stop_signal: SIGKILL
    depends_on: [app]
volumes:
  data: {}
"""


def test_the_project_options_and_the_verbs_flags(compose, engine):
    """--env-file, --project-directory, config --volumes, up --no-deps and --no-recreate,
    ps -q, logs -t, run --entrypoint, as compose v2 takes them."""
    import re
    d = compose.tmp / "flags"
    d.mkdir()
    f = d / "compose.yaml"
    f.write_text(FLAGS)
    (d / "other.env").write_text("GREETING=from the env file\n")
    (compose.tmp / "elsewhere").mkdir()
    (compose.tmp / "elsewhere" / ".env").write_text("GREETING=from the project directory\n")
    doc = json.loads(ok(compose(f, "--env-file", str(d / "other.env"), "config", "--format", "json")))
    assert doc["services"]["app"]["environment"] == {"GREETING": "from the env file"}
    doc = json.loads(ok(compose(f, "--project-directory", str(compose.tmp / "elsewhere"), "config", "--format",
                                "json")))
    assert doc["name"] == "elsewhere"
    assert doc["services"]["app"]["environment"] == {"GREETING": "from the project directory"}
    assert ok(compose(f, "config", "--volumes")) == "data\n"
    ok(compose(f, "up", "-d", "--no-deps", "side"))
    assert [c.name for c in engine.containers(all_=True) if c.name.startswith("flags-")] == ["flags-side-1"]
    ok(compose(f, "up", "-d"))
    ids = [engine.container(f"flags-{s}-1").id for s in ("app", "side")]
    assert ok(compose(f, "ps", "-q")).split() == ids
    wait_for(lambda: ok(compose(f, "logs", "app")), timeout=10)
    line = ok(compose(f, "logs", "-t", "--no-color", "app"))
    assert re.fullmatch(r"app-1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z unset\n", line), line
    f.write_text(FLAGS.replace("command: sleep 300", "command: sleep 301"))
    ok(compose(f, "up", "-d", "--no-recreate"))
    assert engine.container("flags-side-1").id == ids[1]
    ok(compose(f, "up", "-d"))
    assert engine.container("flags-side-1").id != ids[1] and engine.container("flags-app-1").id == ids[0]
    assert ok(compose(f, "run", "--rm", "-T", "--entrypoint", "echo from the entrypoint", "app")) == \
        "from the entrypoint\n"
    assert ok(compose(f, "run", "--rm", "-T", "--entrypoint", "echo", "app", "and", "its", "args")) == \
        "and its args\n"


def test_logs_are_coloured_on_a_terminal(compose, engine, session_root):
    """compose logs on a terminal: each service's prefix in a colour of its own (none with
    --no-color)."""
    import os
    import pty
    import subprocess
    from conftest import DUNNAGE
    f = compose.tmp / "col" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("services:\n"
                 "  a: {image: local/busybox:latest, command: echo from a}\n"
                 "  b: {image: local/busybox:latest, command: echo from b}\n")
    ok(compose(f, "up", "-d"))
    wait_for(lambda: all(engine.container(f"col-{s}-1").status == "exited" for s in "ab"), timeout=20)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}

    def on_a_terminal(*args) -> str:
        master, slave = pty.openpty()
        try:
            r = subprocess.run([DUNNAGE, "--root", str(session_root), "compose", "-f", str(f), "logs", *args],
                               stdout=slave, stderr=subprocess.PIPE, env=env, timeout=60)
            assert r.returncode == 0, r.stderr.decode()
        finally:
            os.close(slave)
        out = b""
        try:
            while chunk := os.read(master, 65536):
                out += chunk
        except OSError:  # EIO: the terminal's other side is closed and all of it read
            pass
        finally:
            os.close(master)
        return out.decode()
    out = on_a_terminal()
    assert "\x1b[36ma-1  | \x1b[0mfrom a" in out and "\x1b[33mb-1  | \x1b[0mfrom b" in out, repr(out)
    out = on_a_terminal("--no-color")
    assert "\x1b[" not in out and "a-1  | from a" in out, repr(out)


def test_more_service_keys_reach_the_container(compose, engine):
    """container_name, privileged, security_opt, logging, cpus, env_file, a long port, bind
    mounts short and long, a tmpfs with a size, a read-only named volume, and top-level
    networks and volumes with a name and the bridge driver."""
    d = compose.tmp / "more"
    (d / "bound").mkdir(parents=True)
    (d / "bound" / "seen").write_text("from the host\n")
    (d / "vars.env").write_text("FROM_FILE=1\n")
    (d / "compose.yaml").write_text("""\
services:
  s:
    image: local/busybox:latest
    command: sh -c 'echo ready; exec sleep 300'
    stop_signal: SIGKILL
    container_name: dunnage-compose-more-named
    privileged: true
    security_opt: ["no-new-privileges:true"]
    logging: {driver: json-file, options: {max-size: 1m, max-file: "2"}}
    cpus: 0.25
    env_file: [vars.env]
    ports: [{target: 80, host_ip: 127.0.0.1, protocol: tcp}]
    volumes:
      - ./bound:/bound:ro
      - {type: bind, source: ./bound, target: /rw}
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1048576}}
      - {type: volume, source: data, target: /data, read_only: true}
    networks: [net]
networks:
  net: {driver: bridge, name: dunnage-compose-more-net}
volumes:
  data: {name: dunnage-compose-more-vol}
""")
    ok(compose(d, "up", "-d"))
    i = engine.inspect("dunnage-compose-more-named")
    hc = i["HostConfig"]
    assert i["Config"]["Labels"][L + "service"] == "s" and "FROM_FILE=1" in i["Config"]["Env"]
    assert hc["Privileged"] is True and hc["SecurityOpt"] == ["no-new-privileges:true"]
    assert hc["NanoCpus"] == 250_000_000
    assert hc["LogConfig"]["Config"] == {"max-size": "1m", "max-file": "2"}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert list(i["NetworkSettings"]["Networks"]) == ["dunnage-compose-more-net"]
    assert engine.network_inspect("dunnage-compose-more-net")["Labels"][L + "network"] == "net"
    assert engine.volume_inspect("dunnage-compose-more-vol")["Labels"][L + "volume"] == "data"
    script = ("cat /bound/seen; touch /bound/x 2>/dev/null || echo bound read-only; touch /rw/made; "
              "touch /data/x 2>/dev/null || echo volume read-only; grep ' /scratch ' /proc/mounts")
    out = ok(compose(d, "exec", "-T", "s", "sh", "-c", script)).splitlines()
    assert out[:3] == ["from the host", "bound read-only", "volume read-only"]
    assert out[3].split()[:3] == ["tmpfs", "/scratch", "tmpfs"] and "size=1024k" in out[3], out
    assert (d / "bound" / "made").exists()
    wait_for(lambda: ok(compose(d, "logs", "s")), timeout=10)
    assert ok(compose(d, "logs", "--no-color")) == "dunnage-compose-more-named  | ready\n"
    ok(compose(d, "down", "-v", "-t", "0"))
    assert "dunnage-compose-more-net" not in {n["Name"] for n in engine.networks()}
    assert "dunnage-compose-more-vol" not in {v["Name"] for v in engine.volumes()}


def test_down_rmi_all_removes_the_images_the_services_use(compose, engine):
    engine.tag_image("local/busybox:latest", "compose-rmi/busybox:all")
    try:
        f = compose.tmp / "rmi" / "compose.yaml"
        f.parent.mkdir()
        f.write_text("services:\n  a: {image: 'compose-rmi/busybox:all', command: 'true'}\n")
        ok(compose(f, "up", "-d"))
        r = compose(f, "down", "--rmi", "all")
        ok(r)
        assert " Image compose-rmi/busybox:all  Removed" in r.stderr.decode()
        with pytest.raises(DunnageError):
            engine.image("compose-rmi/busybox:all")
        engine.image("local/busybox:latest")  # only its tag went
    finally:
        try:
            engine.remove_image("compose-rmi/busybox:all")
        except DunnageError:
            pass


def test_build_push_and_pull_through_a_registry(compose, engine):
    """compose build (a dockerfile of another name, a target stage), push and pull, against a
    registry on 127.0.0.1."""
    from peers import Registry
    reg = Registry(compose.tmp / "registry")
    image = f"{reg.host}/compose/app:1"
    try:
        d = compose.tmp / "shipped"
        (d / "app").mkdir(parents=True)
        (d / "app" / "Dev.Dockerfile").write_text("FROM local/busybox:latest AS base\nRUN echo base > /stage\n"
                                                  "FROM base AS final\nRUN echo final > /stage\n")
        (d / "compose.yaml").write_text(f"services:\n  app:\n    image: {image}\n    build:\n      context: app\n"
                                        "      dockerfile: Dev.Dockerfile\n      target: base\n"
                                        "    command: [cat, /stage]\n")
        ok(compose(d, "build", timeout=120))
        assert ok(compose(d, "run", "--rm", "-T", "app")) == "base\n"
        built = engine.image(image).id
        r = compose(d, "push", timeout=120)
        ok(r)
        assert " app Pushed" in r.stderr.decode()
        engine.remove_image(image)
        ok(compose(d, "pull", timeout=120))
        assert engine.image(image).id == built
        assert ok(compose(d, "run", "--rm", "-T", "app")) == "base\n"
    finally:
        reg.close()
        try:
            engine.remove_image(image)
        except DunnageError:
            pass


def test_up_no_deps_does_not_wait_for_the_dependencies(compose, engine):
    """up --no-deps SERVICE leaves what it depends on out, its conditions too (compose v2
    disables the other services): a stopped healthy-checked dependency is not waited for."""
    f = copy_project(HERE / "healthy", compose.tmp / "nodeps")
    ok(compose(f, "up", "-d"))
    ok(compose(f, "stop", "-t", "0", "db", "app"))
    r = compose(f, "up", "-d", "--no-deps", "app")
    ok(r)
    assert engine.container("nodeps-app-1").status == "running"
    assert engine.container("nodeps-db-1").status == "exited" and "Waiting" not in r.stderr.decode()
    # start of app alone waits for db, which has exited: its last health ("healthy") is stale
    ok(compose(f, "stop", "-t", "0", "app"))
    r = compose(f, "start", "app")
    err = r.stderr.decode()
    assert r.returncode == 1 and "dependency failed to start: container nodeps-db-1 exited" in err, err
    assert engine.container("nodeps-app-1").status == "exited"
    r = compose(f, "up", "-d", "app")  # with its dependencies: db started and waited for
    ok(r)
    assert "Container nodeps-db-1  Healthy" in r.stderr.decode()


def test_ls_format_json_is_one_array(compose, engine, session_root):
    """compose v2's ls --format json prints its projects as one JSON array of {Name, Status,
    ConfigFiles} (formatter.Print), not an object a line as docker's listings do."""
    f = copy_project(HERE / "profiles", compose.tmp / "lsjson")
    ok(compose(f, "up", "-d"))
    out = ok(cli(session_root, "compose", "ls", "--format", "json"))
    assert out.endswith("\n") and "\n" not in out[:-1]
    doc = json.loads(out)
    assert isinstance(doc, list)
    mine = [p for p in doc if p["Name"] == "lsjson"]
    assert mine == [{"Name": "lsjson", "Status": "running(1)", "ConfigFiles": str(f)}]
    assert list(mine[0]) == ["Name", "Status", "ConfigFiles"]
    assert ok(cli(session_root, "compose", "ls", "--format", "JSON", "--filter", "name=no-such-project")) == "[]\n"


def test_ps_format_json_publishers_are_objects(compose, engine):
    """compose v2's ps --format json gives Publishers as a list of {URL, TargetPort,
    PublishedPort, Protocol} (its containerPublishers, an exposed port with no binding too),
    not the PORTS column's text."""
    d = compose.tmp / "pub"
    d.mkdir()
    f = d / "compose.yaml"
    f.write_text("services:\n  web:\n    image: local/busybox:latest\n    command: sleep 300\n"
                 "    stop_signal: SIGKILL\n    ports: ['127.0.0.1::80']\n    expose: ['81']\n"
                 "  bare:\n    image: local/busybox:latest\n    command: sleep 300\n    stop_signal: SIGKILL\n")
    ok(compose(f, "up", "-d"))
    rows = {x["Service"]: x for x in map(json.loads, ok(compose(f, "ps", "--format", "json")).splitlines())}
    host_port = int(engine.ports("pub-web-1")[0][2])
    assert rows["web"]["Publishers"] == [
        {"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": host_port, "Protocol": "tcp"},
        {"URL": "", "TargetPort": 81, "PublishedPort": 0, "Protocol": "tcp"}]
    assert list(rows["web"]["Publishers"][0]) == ["URL", "TargetPort", "PublishedPort", "Protocol"]
    assert rows["bare"]["Publishers"] == []
    assert rows["web"]["Ports"] == f"127.0.0.1:{host_port}->80/tcp, 81/tcp"


def test_stop_and_down_stop_dependents_first(compose, engine, session_root):
    """compose v2's stop and down walk the dependency graph in reverse (InReverseDependencyOrder):
    a service is stopped once what depends on it has stopped, here an app that takes a second
    to stop on SIGTERM before the db it depends on, which stops at once.  By the project's name
    alone the graph comes from the containers' depends_on labels."""
    import subprocess
    from conftest import DUNNAGE
    d = compose.tmp / "order"
    d.mkdir()
    f = d / "compose.yaml"
    f.write_text("services:\n  db:\n    image: local/busybox:latest\n    command: sleep 300\n"
                 "    stop_signal: SIGKILL\n"
                 "  app:\n    image: local/busybox:latest\n"
                 "    command: [sh, -c, \"trap 'sleep 1; exit 0' TERM; while :; do sleep 0.1; done\"]\n"
                 "    depends_on: [db]\n")

    def finished(name):
        import datetime
        return datetime.datetime.fromisoformat(engine.inspect(name)["State"]["FinishedAt"])

    def stopped_in_order():
        assert engine.container("order-app-1").status == "exited"
        assert engine.container("order-db-1").status == "exited"
        assert finished("order-db-1") >= finished("order-app-1"), (finished("order-db-1"), finished("order-app-1"))
    ok(compose(f, "up", "-d"))
    ok(compose(f, "stop"))
    stopped_in_order()
    ok(compose(f, "start"))
    elsewhere = compose.tmp / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([DUNNAGE, "--root", str(session_root), "compose", "-p", "order", "stop"], cwd=elsewhere,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    stopped_in_order()
    ok(compose(f, "start"))
    r = compose(f, "down")
    ok(r)
    err = r.stderr.decode()
    assert err.index("Container order-db-1  Stopping") > err.index("Container order-app-1  Removed"), err


def test_restart_in_dependency_order_with_its_restart_dependents(compose, engine):
    """compose v2's restart walks the graph of depends_on's `restart: true` relations alone
    (InDependencyOrder): a dependency is restarted before what depends on it so, and restart
    SERVICE takes those dependents with it (IncludeDependents); a plain depends_on does not."""
    import datetime
    d = compose.tmp / "rs"
    d.mkdir()
    f = d / "compose.yaml"
    f.write_text("services:\n  db:\n    image: local/busybox:latest\n"
                 "    command: [sh, -c, \"trap 'sleep 1; exit 0' TERM; while :; do sleep 0.1; done\"]\n"
                 "  app:\n    image: local/busybox:latest\n    command: sleep 300\n    stop_signal: SIGKILL\n"
                 "    depends_on: {db: {condition: service_started, restart: true}}\n"
                 "  side:\n    image: local/busybox:latest\n    command: sleep 300\n    stop_signal: SIGKILL\n"
                 "    depends_on: [db]\n")

    def started(name):
        return datetime.datetime.fromisoformat(engine.inspect(name)["State"]["StartedAt"])
    ok(compose(f, "up", "-d"))
    before = {s: started(f"rs-{s}-1") for s in ("db", "app", "side")}
    ok(compose(f, "restart"))
    assert started("rs-app-1") > started("rs-db-1") > before["db"], (started("rs-app-1"), started("rs-db-1"))
    before = {s: started(f"rs-{s}-1") for s in ("db", "app", "side")}
    r = compose(f, "restart", "db")
    ok(r)
    assert started("rs-db-1") > before["db"] and started("rs-app-1") > started("rs-db-1")
    assert started("rs-side-1") == before["side"], r.stderr.decode()
    assert all(engine.container(f"rs-{s}-1").status == "running" for s in ("db", "app", "side"))
