"""dunnage compose against Debian's docker-compose (Compose v1, /usr/bin/docker-compose) on a
dockerd of the test's own (tests/peers.py): the projects of tests/compose brought up by
both make the same services, networks and volumes with the same com.docker.compose.*
labels, and their services reach each other the same way.  v1 joins names with `_`
(web_web_1) where v2, which dunnage follows, uses `-` (web-web-1): the names are compared
with that one difference."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import cli
from peers import Dockerd

HERE = Path(__file__).parent / "compose"
IMAGE = "local/busybox:latest"
COMPOSE_V1 = "/usr/bin/docker-compose"
L = "com.docker.compose."
SAME = ("project", "service", "container-number", "oneoff", "project.working_dir", "project.config_files")


@pytest.fixture(scope="module")
def dockerd(session_root, tmp_path_factory):
    if not os.access(COMPOSE_V1, os.X_OK):
        raise RuntimeError(f"{COMPOSE_V1} is missing: install Debian's docker-compose (scripts/dev.sh)")
    d = Dockerd()
    try:
        tar = tmp_path_factory.mktemp("compose-peer") / "busybox.tar"
        assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
        d.ok("load", "-i", str(tar), timeout=120)
        yield d
    finally:
        d.close()


def v1(dockerd, f: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": f"unix://{dockerd.sock}", "COMPOSE_INTERACTIVE_NO_CLI": "1"}
    return subprocess.run([COMPOSE_V1, "-f", str(f), *args], capture_output=True, timeout=timeout, env=env)


def ok(r) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout.decode(), r.stderr.decode())
    return r.stdout.decode()


@pytest.fixture
def pair(session_root, dockerd, engine, tmp_path):
    """up(project) on both; each taken down (with its volumes) after the test."""
    used = []

    def up(name: str) -> Path:
        f = HERE / name / "compose.yaml"
        used.append(f)
        ok(v1(dockerd, f, "up", "-d"))
        ok(cli(session_root, "compose", "-f", str(f), "up", "-d", timeout=120))
        return f
    yield up
    for f in used:
        v1(dockerd, f, "down", "-v", "-t", "1")
        cli(session_root, "compose", "-f", str(f), "down", "-v", "-t", "1", timeout=60)


def docker_containers(dockerd, project: str) -> dict:
    ids = dockerd.ok("ps", "-aq", "--filter", f"label={L}project={project}").split()
    docs = json.loads(dockerd.ok("inspect", *ids)) if ids else []
    return {d["Name"].lstrip("/"): d for d in docs}


def dunnage_containers(engine, project: str) -> dict:
    out = {}
    for c in engine.containers(all_=True):
        if (c.config["Config"].get("Labels") or {}).get(L + "project") == project:
            out[c.name] = engine.inspect(c.id)
    return out


def view(containers: dict, sep: str) -> dict:
    """Each container by its v2 name: its compose labels that both set the same way, its state,
    the networks it is on."""
    out = {}
    for name, d in containers.items():
        lab = d["Config"]["Labels"]
        out[name.replace(sep, "-")] = ({k: lab.get(L + k) for k in SAME}, d["State"]["Status"],
                                        sorted(d["NetworkSettings"]["Networks"]))
    return out


@pytest.mark.parametrize("project", ["web", "replicas", "internal", "healthy", "profiles"])
def test_same_containers_networks_volumes_and_labels(pair, dockerd, engine, project):
    pair(project)
    theirs = view(docker_containers(dockerd, project), "_")
    ours = view(dunnage_containers(engine, project), "-")
    assert len(theirs) == {"web": 2, "replicas": 4, "internal": 2, "healthy": 2, "profiles": 1}[project]
    assert ours == theirs
    assert all(d["Config"]["Labels"][L + "config-hash"] for d in dunnage_containers(engine, project).values())
    for key in ("default", "outside", "inside"):
        name = f"{project}_{key}"
        r = dockerd("network", "inspect", name)
        if r.returncode != 0:
            assert name not in {n["Name"] for n in engine.networks()}
            continue
        d = json.loads(r.stdout)[0]
        ours_net = engine.network_inspect(name)
        assert {k: v for k, v in ours_net["Labels"].items() if k in (L + "network", L + "project")} == \
            {k: v for k, v in d["Labels"].items() if k in (L + "network", L + "project")}
        assert ours_net["Internal"] == d["Internal"]
    vols = dockerd.ok("volume", "ls", "-q", "--filter", f"label={L}project={project}").split()
    assert sorted(vols) == sorted(v["Name"] for v in engine.volumes()
                                  if (v.get("Labels") or {}).get(L + "project") == project)
    for v in vols:
        d = json.loads(dockerd.ok("volume", "inspect", v))[0]
        ours_vol = engine.volume_inspect(v)
        assert {k: x for k, x in ours_vol["Labels"].items() if k != L + "version"} == \
            {k: x for k, x in d["Labels"].items() if k != L + "version"}


def test_services_reach_each_other_the_same_way(pair, dockerd, session_root):
    f = pair("web")
    # Compose v1's `run -T` attaches after it starts the container and can miss all of a short
    # one-off's output (exit 0, nothing printed: seen once in CI), so the oracle gets three tries.
    for _ in range(3):
        theirs = ok(v1(dockerd, f, "run", "--rm", "-T", "--no-deps", "seed", "wget", "-qO-", "http://www.example/"))
        if theirs:
            break
    ours = ok(cli(session_root, "compose", "-f", str(f), "run", "--rm", "-T", "--no-deps", "seed", "wget", "-qO-",
                  "http://www.example/", timeout=60))
    assert ours == theirs == "hello from the volume\n"
    f = pair("internal")
    for args in (("front", "ping", "-c1", "-W2", "database"), ("back", "ping", "-c1", "-W2", "front")):
        assert v1(dockerd, f, "exec", "-T", *args).returncode == 0
        assert cli(session_root, "compose", "-f", str(f), "exec", "-T", *args).returncode == 0


def test_memory_reservations_are_what_docker_compose_makes(session_root, dockerd, engine, tmp_path):
    """mem_reservation and deploy.resources.reservations.memory give the same
    HostConfig.MemoryReservation and Memory; reservations.cpus (swarm's) leaves NanoCpus alone."""
    f = tmp_path / "resv" / "compose.yaml"
    f.parent.mkdir()
    f.write_text("services:\n"
                 "  plain:\n"
                 f"    image: {IMAGE}\n"
                 "    command: [sleep, '300']\n"
                 "    mem_reservation: 20m\n"
                 "  deployed:\n"
                 f"    image: {IMAGE}\n"
                 "    command: [sleep, '300']\n"
                 "    deploy:\n"
                 "      resources:\n"
                 "        limits: {memory: 64m}\n"
                 "        reservations: {memory: 32m, cpus: '0.5'}\n")
    try:
        ok(v1(dockerd, f, "up", "-d"))
        ok(cli(session_root, "compose", "-f", str(f), "up", "-d", timeout=120))

        def res(containers: dict, sep: str) -> dict:
            return {n.replace(sep, "-"): {k: d["HostConfig"][k] for k in ("MemoryReservation", "Memory", "NanoCpus")}
                    for n, d in containers.items()}
        theirs, ours = res(docker_containers(dockerd, "resv"), "_"), res(dunnage_containers(engine, "resv"), "-")
        assert theirs["resv-deployed-1"]["MemoryReservation"] == 32 << 20
        assert ours == theirs
    finally:
        v1(dockerd, f, "down", "-t", "1")
        cli(session_root, "compose", "-f", str(f), "down", "-t", "1", timeout=60)
