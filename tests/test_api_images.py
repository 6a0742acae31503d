"""The Engine API's image endpoints beyond pull (issue 19): docker login (/auth) and
push with X-Registry-Auth against a registry on 127.0.0.1 that asks for a password,
import (fromSrc) and commit with Dockerfile changes, driven by Debian's docker CLI and
the Docker SDK for Python against the real service on the session's root.  What a
test makes goes after it, pass or fail."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import wait_for
from dunnage.core.images.demo import busybox_rootfs_tar
from test_api import DOCKER, IMAGE, request, running_service

USER, PASSWORD = "pusher", "s3cret-pw"


@pytest.fixture(scope="module")
def service(session_root):
    with running_service(session_root, "docker-images.sock") as sock:
        yield sock


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from peers import Registry
    r = Registry(tmp_path_factory.mktemp("registry-auth"), htpasswd=(USER, PASSWORD))
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def api(service, engine):
    imgs = {i.id for i in engine.list_images()}
    tags = {t for i in engine.list_images() for t in i.tags}
    yield service
    for i in engine.list_images():
        for t in i.tags:
            if t not in tags:
                try:
                    engine.remove_image(t, force=True)
                except Exception:  # noqa: BLE001
                    pass
    for i in engine.list_images():
        if i.id not in imgs:
            try:
                engine.remove_image(i.id, force=True)
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture
def docker(api, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))

    def run(*args, timeout=120, input=None) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, "-H", f"unix://{api}", *args], capture_output=True, env=env,
                              timeout=timeout, input=input, text=input is None or isinstance(input, str))
    run.sock = api
    return run


def test_cli_login_push_and_pull_back(docker, registry, engine):
    ref = f"{registry.host}/api/pushed:1"
    assert docker("tag", IMAGE, ref).returncode == 0
    r = docker("push", ref)  # not logged in: the registry refuses
    assert r.returncode == 1 and "authentication required" in r.stderr, r.stderr
    r = docker("login", "-u", USER, "--password-stdin", registry.host, input="wrong\n")
    assert r.returncode == 1 and "unauthorized" in r.stderr, r.stderr
    r = docker("login", "-u", USER, "--password-stdin", registry.host, input=PASSWORD + "\n")
    assert r.returncode == 0 and "Login Succeeded" in r.stdout, r.stderr
    assert not (engine.store.root / "auth.json").exists()  # the client keeps them, the service does not
    r = docker("push", ref)  # X-Registry-Auth: the CLI's stored credentials
    assert r.returncode == 0, r.stderr
    assert "The push refers to repository" in r.stdout and ": Pushed" in r.stdout
    assert "1: digest: sha256:" in r.stdout
    r = docker("push", ref)
    assert r.returncode == 0 and "Layer already exists" in r.stdout, r.stderr
    assert docker("rmi", ref).returncode == 0
    r = docker("pull", ref)
    assert r.returncode == 0 and f"Downloaded newer image for {ref}" in r.stdout, r.stderr
    assert docker("run", "--rm", ref, "echo", "back").stdout == "back\n"
    r = docker("push", f"{registry.host}/api/nosuch:1")
    assert r.returncode == 1 and "An image does not exist locally with the tag" in r.stderr


def test_sdk_push_with_auth_config(api, registry, engine):
    import docker as dockerpy
    ref = f"{registry.host}/api/sdk"
    client = dockerpy.DockerClient(base_url=f"unix://{api}", timeout=120)
    try:
        client.images.get(IMAGE).tag(ref, "2")
        lines = list(client.images.push(ref, "2", stream=True, decode=True,
                                        auth_config={"username": USER, "password": PASSWORD}))
        assert not [x for x in lines if "error" in x], lines
        aux = [x["aux"] for x in lines if "aux" in x]
        assert aux and aux[0]["Tag"] == "2" and aux[0]["Digest"].startswith("sha256:") and aux[0]["Size"] > 0
        lines = list(client.images.push(ref, "2", stream=True, decode=True,
                                        auth_config={"username": USER, "password": "nope"}))
        assert "error" in lines[-1] and "unauthorized" in lines[-1]["error"].lower()
        assert client.login(USER, PASSWORD, registry=registry.host)["Status"] == "Login Succeeded"
        with pytest.raises(dockerpy.errors.APIError) as e:
            client.login(USER, "nope", registry=registry.host, reauth=True)
        assert e.value.status_code == 401
    finally:
        client.close()


def test_cli_import_and_commit_with_changes(docker, engine, tmp_path):
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(busybox_rootfs_tar())
    r = docker("import", "-c", 'CMD ["sh", "-c", "echo imported-$X"]', "-c", "ENV X=yes", str(tar), "local/imported:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("sha256:")
    assert docker("run", "--rm", "local/imported:1").stdout == "imported-yes\n"
    r = docker("import", "-c", "FROB x", str(tar), "local/imported:2")
    assert r.returncode == 1 and "FROB is not a valid change command" in r.stderr
    assert "local/imported:2" not in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()

    assert docker("run", "-d", "--name", "api-commit-ch", IMAGE, "sh", "-c", "echo made > /made; sleep 100"
                  ).returncode == 0
    wait_for(lambda: docker("exec", "api-commit-ch", "cat", "/made").stdout == "made\n", timeout=20)
    r = docker("commit", "-c", "ENV GREETING=hello", "-c", 'CMD ["sh", "-c", "echo $GREETING; cat /made"]',
               "-c", "LABEL stage=committed", "api-commit-ch", "local/committed:1")
    assert r.returncode == 0, r.stderr
    assert docker("run", "--rm", "local/committed:1").stdout == "hello\nmade\n"
    assert docker("inspect", "--format", "{{.Config.Labels.stage}}", "local/committed:1").stdout == "committed\n"
    r = docker("commit", "-c", "FROB x", "api-commit-ch", "local/committed:2")
    assert r.returncode == 1 and "FROB is not a valid change command" in r.stderr
    assert "local/committed:2" not in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    st, body = request(docker.sock, "POST", "/commit?container=api-commit-ch&changes=CMD%20%5Bbad",
                       b"")
    assert st == 400 and "invalid JSON" in body["message"]


def test_bodies_too_large_and_malformed(api):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(api)
    s.sendall(b"POST /auth HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % (17 << 20))
    answer = b""
    while chunk := s.recv(4096):
        answer += chunk
    s.close()
    assert answer.startswith(b"HTTP/1.1 413") and b'{"message": "http: request body too large"}' in answer
    st, body = request(api, "POST", "/auth", b"{nope")
    assert st == 400 and body["message"].startswith("invalid JSON")
    st, body = request(api, "POST", "/auth", {"username": 5})
    assert st == 400
    st, body = request(api, "POST", "/images/127.0.0.1:1/nosuch/push?tag=1", None)
    assert st == 404 and "An image does not exist locally with the tag: 127.0.0.1:1/nosuch:1" in body["message"]


def test_archives_over_the_json_limit(docker, engine, tmp_path):
    """docker load, import and cp of tars over 16 MiB (the JSON limit): spooled to disk."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    assert docker("run", "-d", "--name", "api-big", IMAGE, "sleep", "100").returncode == 0
    r = docker("cp", str(big), "api-big:/big.bin")
    assert r.returncode == 0, r.stderr
    assert docker("exec", "api-big", "md5sum", "/big.bin").stdout.split()[0] == \
        subprocess.run(["md5sum", str(big)], capture_output=True, text=True).stdout.split()[0]
    assert docker("commit", "api-big", "local/api-big:1").returncode == 0
    saved = tmp_path / "saved.tar"
    assert docker("save", "-o", str(saved), "local/api-big:1").returncode == 0
    assert saved.stat().st_size > 20 << 20
    assert docker("rmi", "local/api-big:1").returncode == 0
    r = docker("load", "-i", str(saved))
    assert r.returncode == 0 and "Loaded image: local/api-big:1" in r.stdout, r.stderr
    assert docker("run", "--rm", "local/api-big:1", "stat", "-c", "%s", "/big.bin").stdout == f"{20 << 20}\n"
    rootfs = tmp_path / "rootfs.tar"
    with open(rootfs, "wb") as f:
        import tarfile
        f.write(busybox_rootfs_tar())
    with tarfile.open(rootfs, "a") as tf:
        tf.add(big, "big.bin")
    r = docker("import", str(rootfs), "local/api-big:2")
    assert r.returncode == 0, r.stderr
    assert docker("run", "--rm", "local/api-big:2", "stat", "-c", "%s", "/big.bin").stdout == f"{20 << 20}\n"
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(docker.sock)
    s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (65 << 30))
    answer = b""
    while chunk := s.recv(4096):
        answer += chunk
    s.close()
    assert answer.startswith(b"HTTP/1.1 413")
