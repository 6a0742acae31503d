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


def test_docker_compose_up_and_down_through_the_service(session_root, engine, tmp_path):
    assert os.access(COMPOSE, os.X_OK), "Debian's docker-compose is missing (scripts/dev.sh installs it)"
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    with running_service(session_root, "compose.sock") as sock:
        env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")

        def compose(*args):
            return subprocess.run([COMPOSE, "-p", "dcapi", *args], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=180)
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
