"""Debian's docker-compose (v1, on docker-py) brings a two-service project with a network and a
named volume up and down through `dunnage system service` (issue 19)."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import cli, wait_for
from test_api import running_service

COMPOSE = "/usr/bin/docker-compose"
pytestmark = pytest.mark.timeout(240)

PROJECT = """
version: "3"
services:
  web:
    image: local/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/srv"]
    volumes: ["data:/srv"]
    networks: [back]
  client:
    image: local/busybox:latest
    command: ["sleep", "300"]
    networks: [back]
    depends_on: [web]
networks:
  back: {}
volumes:
  data: {}
"""


def compose_on(sock, project: str, directory):
    """docker-compose for PROJECT in DIRECTORY, on the service at SOCK."""
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")

    def compose(*args):
        return subprocess.run([COMPOSE, "-p", project, *args], cwd=directory, env=env, capture_output=True,
                              text=True, timeout=180)
    return compose


def test_docker_compose_up_and_down_through_the_service(session_root, engine, tmp_path):
    assert os.access(COMPOSE, os.X_OK), "Debian's docker-compose is missing (scripts/dev.sh installs it)"
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    with running_service(session_root, "compose.sock") as sock:
        compose = compose_on(sock, "dcapi", tmp_path)
        try:
            r = compose("up", "-d")
            assert r.returncode == 0, r.stderr
            names = {c.name for c in engine.containers()}
            assert {"dcapi_web_1", "dcapi_client_1"} <= names
            assert "dcapi_back" in {n["Name"] for n in engine.networks()}
            assert "dcapi_data" in {v["Name"] for v in engine.volumes()}
            # the named volume is the web server's /srv, and the client reaches it by its service name
            assert cli(session_root, "exec", "dcapi_web_1", "sh", "-c", "echo through-compose > /srv/i.html"
                       ).returncode == 0
            assert wait_for(lambda: cli(session_root, "exec", "dcapi_client_1", "wget", "-O-",
                                        "http://web:8080/i.html").stdout == b"through-compose\n", timeout=20)
            r = compose("down", "-v")
            assert r.returncode == 0, r.stderr
            assert not {"dcapi_web_1", "dcapi_client_1"} & {c.name for c in engine.containers(all_=True)}
            assert "dcapi_back" not in {n["Name"] for n in engine.networks()}
            assert "dcapi_data" not in {v["Name"] for v in engine.volumes()}
        finally:
            compose("down", "-v")


PORTS = """
version: "3"
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "echo %s > /tmp/i.html; exec httpd -f -p 8080 -h /tmp"]
    ports: ["8080"]
"""


def _get(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def test_docker_compose_up_again_with_ports(session_root, engine, tmp_path):
    """A second `docker-compose up -d` goes through as under dockerd: compose v1 compares the
    project network's Options with the file's driver_opts and refused ("needs to be recreated -
    option com.docker.network.bridge.name has changed"); and a third, the service changed, that
    recreates it, which reads the image's ContainerConfig (API 1.41's image inspect has it; it
    was missing: KeyError 'ContainerConfig'). The published port answers over 127.0.0.1 and, on
    the IPv4-only network, over [::1] too."""
    (tmp_path / "docker-compose.yml").write_text(PORTS % "one")
    with running_service(session_root, "compose-ports.sock") as sock:
        compose = compose_on(sock, "dcports", tmp_path)
        try:
            for word in ("one", "one", "two"):
                (tmp_path / "docker-compose.yml").write_text(PORTS % word)
                r = compose("up", "-d")
                assert r.returncode == 0, r.stderr
                r = compose("port", "web", "8080")
                assert r.returncode == 0 and r.stdout.startswith("0.0.0.0:"), r.stdout + r.stderr
                port = int(r.stdout.strip().rpartition(":")[2])
                for host in ("127.0.0.1", "[::1]"):
                    assert wait_for(lambda: _fetch(f"http://{host}:{port}/i.html") == f"{word}\n".encode(),
                                    timeout=20), host
            r = compose("down")
            assert r.returncode == 0, r.stderr
            assert "dcports_default" not in {n["Name"] for n in engine.networks()}
        finally:
            compose("down")


def _fetch(url: str) -> bytes | None:
    try:
        return _get(url)
    except OSError:
        return None
