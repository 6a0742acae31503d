"""POST /build through `dunnage system service` (issue 20): Debian's docker CLI with the
classic builder (DOCKER_BUILDKIT=0) and docker-py's images.build run dunnage's builder."""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
import uuid

import pytest

from conftest import cli
from test_api import DOCKER, running_service

BASE = "local/busybox:latest"


@pytest.fixture(scope="module")
def sock(session_root):
    with running_service(session_root, "build.sock") as s:
        yield s


def test_docker_cli_classic_build(session_root, engine, sock, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "msg").write_text("through the API\n")
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nARG V=1\nCOPY msg /msg\nRUN cat /msg > /copied && echo v=$V\n"
                                    'CMD ["cat", "/copied"]\n')
    tag = f"api-built-{uuid.uuid4().hex[:8]}:1"
    env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CONFIG=str(tmp_path / "cfg"))
    r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "build", "-t", tag, "--build-arg", "V=2", str(ctx)],
                       capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "Step 1/3 : FROM local/busybox:latest" in r.stdout and "v=2" in r.stdout
    assert f"Successfully tagged {tag}" in r.stdout
    out = cli(session_root, "run", "--rm", tag)
    assert out.stdout == b"through the API\n"
    r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "system", "df", "--format", "{{.Type}}={{.TotalCount}}"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert int(dict(ln.split("=") for ln in r.stdout.splitlines())["Build Cache"]) >= 2, r.stdout + r.stderr
    r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "build", "-q", str(ctx)], capture_output=True, text=True,
                       env=env, timeout=180)
    assert r.returncode == 0 and r.stdout.strip().startswith("sha256:"), r.stderr
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN exit 7\n")
    r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "build", str(ctx)], capture_output=True, text=True, env=env,
                       timeout=180)
    assert r.returncode == 7 and "exit code: 7" in r.stderr  # the classic builder's CLI exits with RUN's code


def test_docker_py_images_build(session_root, engine, sock):
    import docker
    client = docker.DockerClient(base_url=f"unix://{sock}", timeout=120)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            data = f"FROM {BASE}\nLABEL via=docker-py\nRUN echo sdk > /sdk\n".encode()
            ti = tarfile.TarInfo("Dockerfile")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        buf.seek(0)
        tag = f"sdk-built-{uuid.uuid4().hex[:8]}"
        img, logs = client.images.build(fileobj=buf, custom_context=True, tag=tag)
        assert img.labels == {"via": "docker-py"} and f"{tag}:latest" in img.tags
        assert any("Step 2/2" in (x.get("stream") or "") or "Step 3/3" in (x.get("stream") or "") for x in logs)
        assert cli(session_root, "run", "--rm", tag, "cat", "/sdk").stdout == b"sdk\n"
        bad = io.BytesIO()
        with tarfile.open(fileobj=bad, mode="w") as tf:
            data = f"FROM {BASE}\nRUN false\n".encode()
            ti = tarfile.TarInfo("Dockerfile")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        bad.seek(0)
        with pytest.raises(docker.errors.BuildError, match="exit code: 1"):
            client.images.build(fileobj=bad, custom_context=True)
    finally:
        client.close()


def test_a_context_over_16_mib_goes_through(session_root, engine, sock, tmp_path):
    """A build context past the service's 16 MiB JSON limit is spooled to disk, as load's tar is."""
    ctx = tmp_path / "big"
    ctx.mkdir()
    (ctx / "blob").write_bytes(os.urandom(17 << 20))
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY blob /blob\nRUN test $(wc -c < /blob) -eq {17 << 20}\n")
    env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CONFIG=str(tmp_path / "cfg"))
    tag = f"api-big-{uuid.uuid4().hex[:8]}:1"
    r = subprocess.run([DOCKER, "-H", f"unix://{sock}", "build", "-t", tag, str(ctx)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert cli(session_root, "rmi", tag).returncode == 0


def test_docker_compose_build_through_the_service(session_root, engine, sock, tmp_path):
    """Debian's docker-compose (v1, on docker-py) builds a service's `build:` (context,
    dockerfile, args, target) through POST /build, and the image runs as built."""
    project = f"dcb{uuid.uuid4().hex[:6]}"
    app = tmp_path / "app"
    app.mkdir()
    (app / "msg").write_text("built by compose\n")
    (app / "build.Dockerfile").write_text(f"FROM {BASE} AS base\nARG GREETING=unset\nCOPY msg /msg\n"
                                          "RUN echo \"$GREETING\" >> /msg\nFROM base AS never\nRUN exit 9\n")
    (tmp_path / "docker-compose.yml").write_text(
        "version: \"3.4\"\nservices:\n  app:\n    build:\n      context: app\n      dockerfile: build.Dockerfile\n"
        "      target: base\n      args:\n        GREETING: hello\n    command: [\"cat\", \"/msg\"]\n")
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    r = subprocess.run(["/usr/bin/docker-compose", "-p", project, "build"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=180)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        out = cli(session_root, "run", "--rm", f"{project}_app", "cat", "/msg").stdout
        assert out == b"built by compose\nhello\n"
    finally:
        cli(session_root, "rmi", f"{project}_app")
