"""pull and login against a real registry (docker-registry on 127.0.0.1), with
images built by umoci and pushed by skopeo."""
from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import stat
import subprocess
import threading
import time

import pytest

from conftest import DUNNAGE, cli, force_cleanup, wait_for
from peers import Registry, TokenProxy, build_layout, free_port, skopeo

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_layout(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory, layout):
    r = Registry(tmp_path_factory.mktemp("registry"))
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{r.host}/test/img:1")
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory, layout):
    r = Registry(tmp_path_factory.mktemp("auth-registry"), htpasswd=("alice", "s3cret"))
    try:
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret",
               f"oci:{layout}:1", f"docker://{r.host}/test/img:1")
        yield r
    finally:
        r.close()


def store_contents(root) -> dict:
    return {d: sorted(os.listdir(root / d)) for d in ("layers", "tmp", "blobs/sha256") if (root / d).exists()}


def test_pull_run_and_layers_are_shared(fresh_root, registry):
    ref = f"{registry.host}/test/img:1"
    r = cli(fresh_root, "pull", ref)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "Download complete" in out and "Digest: sha256:" in out
    rows = [json.loads(x) for x in cli(fresh_root, "images", "--format", "json").stdout.splitlines()]
    assert [(x["Repository"], x["Tag"]) for x in rows] == [(f"{registry.host}/test/img", "1")]
    # both layers, the whiteout of the second honoured, the image's config used
    r = cli(fresh_root, "run", "--rm", ref, "sh", "-c", "cat /layer1 /layer2; pwd; ls /todelete 2>&1 || true")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines()[:3] == ["one", "two", "/tmp"]
    assert b"No such file" in r.stdout
    assert len(os.listdir(fresh_root / "layers")) == 2
    # a second pull fetches nothing
    r = cli(fresh_root, "pull", ref)
    assert r.stdout.decode().count("Already exists") == 2
    assert "Download complete" not in r.stdout.decode()
    assert os.listdir(fresh_root / "tmp") == []


def test_run_and_create_pull_a_missing_image_as_docker_run_does(fresh_root, registry):
    """--pull missing (the default) pulls what is not here, saying so on stderr (stdout is
    the container's); never refuses it; always pulls again; -q says nothing."""
    ref = f"{registry.host}/test/img:1"
    r = cli(fresh_root, "run", "--rm", "--pull", "never", ref, "cat", "/layer1")
    assert r.returncode == 125 and r.stderr.decode().strip() == f"dunnage: Error: No such image: {ref}", r.stderr
    r = cli(fresh_root, "run", "--rm", ref, "cat", "/layer1")
    assert r.returncode == 0 and r.stdout == b"one\n", r.stderr
    err = r.stderr.decode().splitlines()
    assert err[0] == f"Unable to find image '{ref}' locally" and err[1] == "1: Pulling from test/img", err
    assert err[-1] == f"Status: Downloaded newer image for {ref}" and any(x.startswith("Digest: sha256:") for x in err)
    r = cli(fresh_root, "run", "--rm", ref, "cat", "/layer2")  # here now: nothing pulled
    assert (r.returncode, r.stdout, r.stderr) == (0, b"two\n", b"")
    r = cli(fresh_root, "run", "--rm", "-q", "--pull", "always", ref, "cat", "/layer2")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"two\n", b"")
    r = cli(fresh_root, "create", "--pull", "always", ref, "true")
    assert r.returncode == 0 and "Pulling from test/img" in r.stderr.decode() and len(r.stdout.split()) == 1
    r = cli(fresh_root, "run", "--rm", "--pull", "sometimes", ref, "true")
    assert r.returncode == 125 and b"invalid pull option: 'sometimes'" in r.stderr


def test_pull_by_digest_and_digests_column(fresh_root, registry):
    r = cli(fresh_root, "pull", f"{registry.host}/test/img:1")
    digest = [ln for ln in r.stdout.decode().splitlines() if ln.startswith("Digest: ")][0].split()[1]
    r = cli(fresh_root, "pull", f"{registry.host}/test/img@{digest}")
    assert r.returncode == 0, r.stderr
    out = cli(fresh_root, "images", "--digests").stdout.decode()
    assert digest in out
    info = json.loads(cli(fresh_root, "inspect", "--type", "image", f"{registry.host}/test/img:1").stdout)[0]
    assert f"{registry.host}/test/img@{digest}" in info["RepoDigests"]
    r = cli(fresh_root, "pull", f"{registry.host}/test/img@sha256:{'0' * 64}")
    assert r.returncode == 125


def test_pull_errors_leave_nothing(fresh_root, registry):
    cli(fresh_root, "images")
    before = store_contents(fresh_root)
    for ref, msg in ((f"{registry.host}/test/missing:1", b"not found"),
                     (f"{registry.host}/test/img:nosuchtag", b"not found"),
                     ("127.0.0.1:1/test/img:1", b"cannot connect"),
                     ("Not_A/valid::ref", b"invalid reference format")):
        r = cli(fresh_root, "pull", ref)
        assert r.returncode == 125, ref
        assert msg in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert store_contents(fresh_root) == before


def test_basic_auth_login_and_logout(fresh_root, auth_registry):
    ref = f"{auth_registry.host}/test/img:1"
    r = cli(fresh_root, "pull", ref)
    assert r.returncode == 125 and b"authentication required" in r.stderr
    r = cli(fresh_root, "login", "-u", "alice", "-p", "wrong", auth_registry.host)
    assert r.returncode == 125 and b"login to" in r.stderr
    assert not (fresh_root / "auth.json").exists()
    r = cli(fresh_root, "login", "-u", "alice", "--password-stdin", auth_registry.host, input=b"s3cret\n")
    assert r.returncode == 0 and r.stdout == b"Login Succeeded\n", r.stderr
    assert stat.S_IMODE(os.stat(fresh_root / "auth.json").st_mode) == 0o600
    assert cli(fresh_root, "pull", ref).returncode == 0
    assert cli(fresh_root, "logout", auth_registry.host).returncode == 0
    assert auth_registry.host not in (fresh_root / "auth.json").read_text()


def test_bearer_token_flow(fresh_root, registry):
    proxy = TokenProxy(registry.port, "bob", "hunter2")
    try:
        ref = f"{proxy.host}/test/img:1"
        r = cli(fresh_root, "pull", ref)
        assert r.returncode == 125 and b"token request refused: 401" in r.stderr
        assert cli(fresh_root, "login", "-u", "bob", "-p", "hunter2", proxy.host).returncode == 0
        r = cli(fresh_root, "pull", ref)
        assert r.returncode == 0, r.stderr
        assert any("service=test-registry" in p and "scope=repository" in p for p in proxy.token_requests)
        assert cli(fresh_root, "run", "--rm", ref, "cat", "/layer2").stdout == b"two\n"
    finally:
        proxy.close()


def test_corrupt_blob_is_refused_and_nothing_is_left(fresh_root, registry):
    proxy = TokenProxy(registry.port, "bob", "hunter2", corrupt=True)
    try:
        assert cli(fresh_root, "login", "-u", "bob", "-p", "hunter2", proxy.host).returncode == 0
        before = store_contents(fresh_root)
        r = cli(fresh_root, "pull", f"{proxy.host}/test/img:1")
        assert r.returncode == 125
        assert b"does not match its digest" in r.stderr
        assert store_contents(fresh_root) == before
        assert cli(fresh_root, "images", "-q").stdout == b""
    finally:
        proxy.close()


class FaultyProxy:
    """An HTTP/1.1 keep-alive front of the test's own for the real registry, that counts
    the TCP connections it accepted and the requests it answered.  FAULTS is what the first
    answers to each path are instead of the registry's: a status (429 and 503 come with
    Retry-After: 1), "cut" (the headers and half the body, then the connection closed), or
    "stall" (for a layer: the headers and half the body, then nothing until release is set;
    stalled is set once that half is sent).  With forever=True every answer is FAULTS[0]."""

    def __init__(self, upstream_port: int, faults=(), forever: bool = False):
        self.stalled, self.release = threading.Event(), threading.Event()
        self.connections = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with proxy.lock:
                    proxy.connections += 1

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                with proxy.lock:
                    seen = proxy.requests.count(self.path)
                    proxy.requests.append(self.path)
                fault = faults[0] if forever else (faults[seen] if seen < len(faults) else None)
                if isinstance(fault, int):
                    body = b'{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}'
                    self.send_response(fault)
                    if fault in (429, 503):
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                c.request(self.command, self.path, headers={k: v for k, v in self.headers.items()
                                                            if k.lower() == "accept"})
                r = c.getresponse()
                body = r.read()
                c.close()
                self.send_response(r.status)
                for k in ("Content-Type", "Docker-Content-Digest"):
                    if r.getheader(k):
                        self.send_header(k, r.getheader(k))
                self.send_header("Content-Length", r.getheader("Content-Length") or str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "stall" and len(body) <= 65536:
                    fault = None  # a config, not a layer
                if fault in ("cut", "stall") and "/blobs/" in self.path:
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        proxy.stalled.set()
                        proxy.release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty(registry):
    made = []

    def make(*faults, forever=False):
        made.append(FaultyProxy(registry.port, faults, forever))
        return made[-1]
    yield make
    for p in made:
        p.close()


def test_pull_retries_429_and_503_then_succeeds(fresh_root, faulty):
    """Each request is answered 503, then 429 (Retry-After: 1), then served: the pull waits
    and asks again (as skopeo does), and gets the image whole."""
    proxy = faulty(503, 429)
    ref = f"{proxy.host}/test/img:1"
    t0 = time.monotonic()
    r = cli(fresh_root, "pull", ref, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Digest: sha256:" in r.stdout.decode()
    paths = set(proxy.requests)
    assert len(paths) == 4  # the manifest, the config and two layers
    assert all(proxy.requests.count(p) == 3 for p in paths), proxy.requests
    assert time.monotonic() - t0 >= 3  # a back-off, then Retry-After's second, before each success
    assert cli(fresh_root, "run", "--rm", "--network", "none", ref, "cat", "/layer1", "/layer2").stdout == b"one\ntwo\n"


def test_a_layer_cut_off_midway_is_fetched_again(fresh_root, faulty):
    proxy = faulty("cut")
    ref = f"{proxy.host}/test/img:1"
    r = cli(fresh_root, "pull", ref, timeout=120)
    assert r.returncode == 0, r.stderr
    blobs = {p for p in proxy.requests if "/blobs/" in p}
    assert len(blobs) == 3 and all(proxy.requests.count(p) == 2 for p in blobs), proxy.requests
    assert cli(fresh_root, "run", "--rm", "--network", "none", ref, "cat", "/layer2").stdout == b"two\n"
    assert os.listdir(fresh_root / "tmp") == []


def test_a_registry_that_keeps_failing_is_one_line_and_nothing_left(fresh_root, faulty):
    cli(fresh_root, "images")
    before = store_contents(fresh_root)
    proxy = faulty(503, forever=True)
    r = cli(fresh_root, "pull", f"{proxy.host}/test/img:1", timeout=120)
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert b"503 Service Unavailable" in r.stderr and b"after 3 retries" in r.stderr
    assert len(proxy.requests) == 4  # the first try and three retries, no more
    assert store_contents(fresh_root) == before


def _big_layout(workdir):
    """A one-layer image of 4 MiB of random bytes in 64 files (gzip cannot shrink them):
    half its blob is well inside the unpacking."""
    rootfs = workdir / "rootfs"
    rootfs.mkdir()
    for i in range(64):
        (rootfs / f"f{i:02}").write_bytes(os.urandom(64 << 10))
    lay = workdir / "layout"
    subprocess.run(["umoci", "init", "--layout", str(lay)], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{lay}:1"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{lay}:1", str(workdir / "b")], check=True, capture_output=True)
    for f in rootfs.iterdir():
        os.rename(f, workdir / "b" / "rootfs" / f.name)
    subprocess.run(["umoci", "repack", "--image", f"{lay}:1", str(workdir / "b")], check=True, capture_output=True)
    return lay


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_pull_stopped_midway_leaves_no_layer_and_the_next_one_succeeds(fresh_root, registry, tmp_path, how):
    """Killed (or ctrl-c) while its layer is half unpacked: no layer, blob or image is in
    the store (the half-made one stays in staging, which a kill -9 cannot clean and a
    ctrl-c does), and the next pull of the same image gets it whole."""
    lay = _big_layout(tmp_path)
    skopeo("copy", "--dest-tls-verify=false", f"oci:{lay}:1", f"docker://{registry.host}/test/big:1")
    cli(fresh_root, "images")
    proxy = FaultyProxy(registry.port, ("stall",))
    try:
        p = subprocess.Popen([DUNNAGE, "--root", str(fresh_root), "pull", f"{proxy.host}/test/big:1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proxy.stalled.wait(60)
            # the half that came is being unpacked into a staging directory, not the store
            wait_for(lambda: any((d / "diff").is_dir() and os.listdir(d / "diff")
                                 for d in (fresh_root / "tmp").iterdir()), timeout=30)
            assert os.listdir(fresh_root / "layers") == []
            p.send_signal(how)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        proxy.close()
    assert p.returncode == (-9 if how == signal.SIGKILL else 130), err
    assert b"Traceback" not in err
    assert os.listdir(fresh_root / "layers") == [] and os.listdir(fresh_root / "blobs/sha256") == []
    assert cli(fresh_root, "images", "-q").stdout == b""
    if how == signal.SIGINT:
        assert os.listdir(fresh_root / "tmp") == []
    r = cli(fresh_root, "pull", f"{registry.host}/test/big:1")
    assert r.returncode == 0, r.stderr
    [layer] = (fresh_root / "layers").iterdir()
    assert sorted((f.name, f.stat().st_size) for f in (layer / "diff").iterdir()) == \
        [(f"f{i:02}", 64 << 10) for i in range(64)]


def test_one_pull_reuses_its_connections(fresh_root, faulty):
    """The manifest, config and layer requests of one pull share keep-alive connections:
    the registry accepts fewer connections than it answers requests."""
    proxy = faulty()
    r = cli(fresh_root, "pull", f"{proxy.host}/test/img:1")
    assert r.returncode == 0, r.stderr
    assert len(proxy.requests) == 4
    assert proxy.connections < len(proxy.requests), (proxy.connections, proxy.requests)


def test_push_is_read_back_by_skopeo_and_pulled_elsewhere(fresh_root, registry, tmp_path):
    import subprocess
    assert cli(fresh_root, "pull", f"{registry.host}/test/img:1").returncode == 0
    target = f"{registry.host}/pushed/img:v2"
    assert cli(fresh_root, "tag", f"{registry.host}/test/img:1", target).returncode == 0
    r = cli(fresh_root, "push", target)
    assert r.returncode == 0, r.stderr
    digest = r.stdout.decode().splitlines()[-1].split("digest: ")[1].split()[0]
    info = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{target}"],
                                     capture_output=True, check=True, timeout=60).stdout)
    assert info["Digest"] == digest and len(info["Layers"]) == 2
    # skopeo copies it whole (every blob checked by skopeo) and another store runs it
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{tmp_path / 'copy'}:x"],
                   capture_output=True, check=True, timeout=60)
    other = tmp_path / "other"
    try:
        assert cli(other, "pull", target).returncode == 0
        assert cli(other, "run", "--rm", target, "cat", "/layer2").stdout == b"two\n"
    finally:
        force_cleanup(other)  # its default network too
    r = cli(fresh_root, "push", target)
    assert r.stdout.decode().count("Layer already exists") == 2


def test_push_needs_credentials(fresh_root, auth_registry, registry):
    assert cli(fresh_root, "pull", f"{registry.host}/test/img:1").returncode == 0
    target = f"{auth_registry.host}/mine/img:1"
    assert cli(fresh_root, "tag", f"{registry.host}/test/img:1", target).returncode == 0
    r = cli(fresh_root, "push", target)
    assert r.returncode == 125 and b"authentication required" in r.stderr
    assert cli(fresh_root, "login", "-u", "alice", "-p", "s3cret", auth_registry.host).returncode == 0
    r = cli(fresh_root, "push", target)
    assert r.returncode == 0, r.stderr
    r = cli(fresh_root, "push", f"{registry.host}/never/tagged:1")
    assert r.returncode == 125 and b"No such image" in r.stderr


def test_pull_reports_progress_per_layer_and_draws_bars_on_a_terminal(fresh_root, registry):
    from dunnage.core import Engine
    from conftest import Tmux, dunnage_cmd
    seen: dict = {}
    Engine(str(fresh_root)).pull(f"{registry.host}/test/img:1",
                                 progress=lambda layer, done, total: seen.setdefault(layer, []).append((done, total)))
    assert len(seen) == 2
    for steps in seen.values():
        dones = [d for d, _ in steps]
        assert dones == sorted(dones) and dones[0] == 0
        assert steps[-1][0] == steps[-1][1] > 0  # every byte of the layer, as the manifest says
    other = fresh_root.parent / "tty-root"
    try:
        with Tmux(f"{dunnage_cmd(other)} pull {registry.host}/test/img:1; echo EXIT=$?; sleep 30", 100, 12) as t:
            screen = wait_for(lambda: (lambda s: s if "EXIT=0" in s else None)(t.screen()), timeout=60)
        bars = [ln for ln in screen.splitlines() if any(k in ln for k in seen) and "━" in ln]
        assert len(bars) == 2, screen
        assert all(any(u in ln for u in ("MB", "kB", "bytes")) for ln in bars)  # bytes done / size
        assert any("B/s" in ln for ln in bars)  # and a rate (a tiny layer's is "?")
    finally:
        force_cleanup(other)


async def test_dashboard_pull_view_shows_layer_progress(fresh_root, registry):
    import asyncio
    from dunnage.core import Engine
    from dunnage.tui.app import DunnageApp
    from dunnage.tui.views import ImagesScreen, PullScreen
    e = Engine(str(fresh_root))
    app = DunnageApp(e, interval=0.5)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press("I")
        for _ in range(100):
            if isinstance(app.screen, ImagesScreen):
                break
            await pilot.pause(0.1)
        await pilot.press("u")
        await pilot.pause(0.3)
        app.screen.query_one("#answer").value = f"{registry.host}/test/img:1"
        await pilot.press("enter")
        for _ in range(300):
            if isinstance(app.screen, PullScreen) and app.screen.done:
                break
            await pilot.pause(0.1)
        scr = app.screen
        assert isinstance(scr, PullScreen) and scr.ok
        assert len(scr.progress_rows) == 2 and all(done == total for done, total, _ in scr.progress_rows.values())
        await pilot.press("escape")
        await asyncio.sleep(0.5)
        assert f"{registry.host}/test/img:1" in app.screen.items
        await pilot.press("escape", "q")


def _arch_layout(workdir, arch: str):
    """An OCI layout made by umoci whose config says ARCH, with /arch naming it."""
    import subprocess
    import tarfile
    from dunnage.core.images.demo import busybox_rootfs_tar
    workdir.mkdir()
    lay, tarball = workdir / "layout", workdir / "busybox.tar"
    tarball.write_bytes(busybox_rootfs_tar())

    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=workdir)
    run("umoci", "init", "--layout", str(lay))
    run("umoci", "new", "--image", f"{lay}:1")
    run("umoci", "config", "--image", f"{lay}:1", "--architecture", arch, "--os", "linux",
        "--config.cmd", "sh", "--config.env", "PATH=/bin:/usr/bin")
    run("umoci", "unpack", "--image", f"{lay}:1", str(workdir / "b"))
    with tarfile.open(tarball) as tf:
        tf.extractall(workdir / "b" / "rootfs", filter="fully_trusted")
    (workdir / "b/rootfs/arch").write_text(arch + "\n")
    run("umoci", "repack", "--image", f"{lay}:1", str(workdir / "b"))
    return lay


def test_multi_platform_index_pushed_by_podman(fresh_root, registry, tmp_path):
    """An image index made by `podman manifest` (amd64 and arm64 images built by umoci, pushed
    by skopeo): pull takes this machine's platform, --platform another, and a platform the
    index lacks is one line and exit 125 (as other pull errors, as podman)."""
    from dunnage.core.images.oci import host_platform
    from peers import Podman
    host = registry.host
    for arch in ("amd64", "arm64"):
        skopeo("copy", "--dest-tls-verify=false", f"oci:{_arch_layout(tmp_path / arch, arch)}:1",
               f"docker://{host}/test/plat-{arch}:1")
    pod = Podman()
    try:
        assert pod("manifest", "create", "localhost/multi").returncode == 0
        for arch in ("amd64", "arm64"):
            r = pod("manifest", "add", "--tls-verify=false", "localhost/multi", f"docker://{host}/test/plat-{arch}:1")
            assert r.returncode == 0, r.stderr
        r = pod("manifest", "push", "--tls-verify=false", "--all", "localhost/multi", f"docker://{host}/test/multi:1")
        assert r.returncode == 0, r.stderr
    finally:
        pod.close()
    ref = f"{host}/test/multi:1"
    r = cli(fresh_root, "pull", ref)
    assert r.returncode == 0, r.stderr
    mine = host_platform()[1]
    r = cli(fresh_root, "run", "--rm", "--network", "none", ref, "cat", "/arch")
    assert r.stdout.decode().strip() == mine, r.stderr
    other = "arm64" if mine == "amd64" else "amd64"
    r = cli(fresh_root, "pull", "--platform", f"linux/{other}", ref)
    assert r.returncode == 0, r.stderr
    info = json.loads(cli(fresh_root, "image", "inspect", ref).stdout)[0]
    assert info["Architecture"] == other
    r = cli(fresh_root, "run", "--rm", "--network", "none", ref, "cat", "/arch")
    assert r.stdout.decode().strip() == other  # the busybox inside is this machine's anyway
    r = cli(fresh_root, "pull", "--platform", "linux/s390x", ref)
    assert r.returncode == 125 and r.stderr.decode().strip().endswith("no image for the platform linux/s390x in the index")
    r = cli(fresh_root, "pull", "--platform", "s390x", ref)
    assert r.returncode == 125 and b"invalid platform" in r.stderr and len(r.stderr.splitlines()) == 1
    assert os.listdir(fresh_root / "tmp") == []
