"""The real peers the tests and benchmarks work with: a registry (Debian's
docker-registry) on 127.0.0.1, images built by umoci and copied by skopeo, and
podman in a store of its own."""
from __future__ import annotations

import base64
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated, still the way to a bcrypt htpasswd line (libxcrypt) without another package
import http.client
import http.server
import secrets
import shutil
import socket
import os
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from dunnage.core.images.demo import busybox_rootfs_tar


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, workdir: Path, htpasswd: tuple[str, str] | None = None):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if htpasswd:
            user, pw = htpasswd
            (workdir / "htpasswd").write_text(f"{user}:{crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
            auth = f"auth:\n  htpasswd:\n    realm: dunnage-test\n    path: {workdir / 'htpasswd'}\n"
        (workdir / "config.yml").write_text(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
            f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n{auth}")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(workdir / "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/v2/")
                c.getresponse().read()
                break
            except OSError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("docker-registry did not start")
                time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def build_layout(workdir: Path) -> Path:
    """A two-layer OCI layout made by umoci: busybox plus /layer1 and /todelete,
    then /layer2 added and /todelete deleted (a whiteout in the second layer)."""
    lay = workdir / "layout"
    tarball = workdir / "busybox.tar"
    tarball.write_bytes(busybox_rootfs_tar())

    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=workdir)

    run("umoci", "init", "--layout", str(lay))
    run("umoci", "new", "--image", f"{lay}:1")
    run("umoci", "unpack", "--image", f"{lay}:1", str(workdir / "b1"))
    with tarfile.open(tarball) as tf:
        tf.extractall(workdir / "b1" / "rootfs", filter="fully_trusted")
    (workdir / "b1/rootfs/layer1").write_text("one\n")
    (workdir / "b1/rootfs/todelete").write_text("doomed\n")
    run("umoci", "repack", "--image", f"{lay}:1", str(workdir / "b1"))
    run("umoci", "config", "--image", f"{lay}:1", "--config.cmd", "sh", "--config.env", "PATH=/bin:/usr/bin",
        "--config.workingdir", "/tmp")
    run("umoci", "unpack", "--image", f"{lay}:1", str(workdir / "b2"))
    (workdir / "b2/rootfs/layer2").write_text("two\n")
    (workdir / "b2/rootfs/todelete").unlink()
    run("umoci", "repack", "--image", f"{lay}:1", str(workdir / "b2"))
    shutil.rmtree(workdir / "b1")
    shutil.rmtree(workdir / "b2")
    return lay


class Podman:
    """podman as this host allows it (runc, bounded ulimits), in a store of its own
    (the runroot must stay under 50 characters).  close() leaves nothing behind:
    containers, images, the overlay mounts, and the cgroup parent podman makes
    on first use (libpod_parent) when it was not there before."""

    RUN = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

    def __init__(self, runtime: str = "runc"):
        self.dir = Path(tempfile.mkdtemp(prefix="dpod-"))
        self.cmd = ["podman", "--root", str(self.dir / "root"), "--runroot", str(self.dir / "run"), "--runtime", runtime]
        self.had_parent = {r for r in cgroup_roots() if os.path.isdir(os.path.join(r, "libpod_parent"))}

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        # in its own directory: conmon (podman's container monitor) marks an OOM kill by creating
        # `oom` in its working directory, podman's, which would otherwise be the checkout
        return subprocess.run(self.cmd + list(args), capture_output=True, timeout=timeout, cwd=self.dir)

    def run(self, image: str, *command: str) -> subprocess.CompletedProcess:
        return self("run", "--rm", *self.RUN, image, *command)

    def with_runtime(self, runtime: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """The same store through another OCI runtime (--runtime RUNTIME)."""
        cmd = self.cmd[:self.cmd.index("--runtime") + 1] + [runtime]
        return subprocess.run(cmd + list(args), capture_output=True, timeout=timeout, cwd=self.dir)

    def close(self) -> None:
        self("rm", "-af")
        self("rmi", "-af")
        subprocess.run(["umount", "-R", "-l", str(self.dir / "root" / "overlay")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        for r in cgroup_roots():
            parent = os.path.join(r, "libpod_parent")
            if r in self.had_parent or not os.path.isdir(parent):
                continue
            for dirpath, _, _ in sorted(os.walk(parent), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)  # empty groups only: anything still running keeps its group
                except OSError:
                    pass


def cgroup_roots() -> list[str]:
    """Every mounted cgroup hierarchy, v1 (named ones too) and v2 (the unified one of a hybrid host)."""
    roots = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] in (["cgroup"], ["cgroup2"]):
                roots.add(left.split()[4])
    return sorted(roots)


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=120)


class TokenProxy:
    """The Bearer flow in front of a real registry: answers 401 with a
    WWW-Authenticate: Bearer challenge, issues tokens at /token for the right
    Basic credentials, and forwards authorised requests to the registry.
    With corrupt=True it flips a byte in every blob it forwards."""

    def __init__(self, upstream_port: int, user: str, password: str, corrupt: bool = False):
        self.tokens: set[str] = set()
        self.token_requests = []
        proxy = self
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        realm = f"http://{self.host}/token"

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/token"):
                    proxy.token_requests.append(self.path)
                    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.end_headers()
                        return
                    tok = secrets.token_hex(16)
                    proxy.tokens.add(tok)
                    body = f'{{"token": "{tok}"}}'.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in proxy.tokens:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="test-registry",'
                                                         f'scope="repository:test/img:pull"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept",)}
                c.request("GET", self.path, headers=headers)
                r = c.getresponse()
                if r.status in (301, 302, 307):
                    loc = r.getheader("Location")
                    r.read()
                    c.request("GET", loc, headers=headers)
                    r = c.getresponse()
                body = r.read()
                if corrupt and "/blobs/" in self.path and len(body) > 1000:
                    body = body[:500] + bytes([body[500] ^ 0xFF]) + body[501:]
                self.send_response(r.status)
                for k in ("Content-Type", "Docker-Content-Digest"):
                    if r.getheader(k):
                        self.send_header(k, r.getheader(k))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dockerd:
    """A dockerd of the tests' own (Debian's docker.io: dockerd 20.10 and /usr/bin/docker),
    on a socket, data root and exec root under a fresh temporary directory, with a
    bridge of its own (a random 10.250.X.0/24, no iptables rules, no masquerade) and
    a cgroup parent of its own, so it touches nothing another dockerd or dunnage uses.
    close() removes its containers, stops it (and the containerd it started), unmounts
    what it mounted, and removes the bridge, the cgroup parent and the directory.
    A missing dockerd is an error, not a skip: the comparison is the test."""

    DOCKERD, DOCKER = "/usr/sbin/dockerd", "/usr/bin/docker"

    def __init__(self, extra_args: tuple[str, ...] = ()):
        for exe in (self.DOCKERD, self.DOCKER):
            if not os.access(exe, os.X_OK):
                raise RuntimeError(f"{exe} is missing: install Debian's docker.io "
                                   "(apt-get install --no-install-recommends docker.io)")
        self.dir = Path(tempfile.mkdtemp(prefix="ddk-"))
        tag = secrets.token_hex(3)
        self.bridge = f"dkb{tag}"
        self.cgroup_parent = f"dunnage-peer-docker-{tag}"
        self.subnet_octet = 1 + secrets.randbelow(254)
        self.sock = self.dir / "docker.sock"
        self.proc = None
        try:
            subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=True,
                           capture_output=True, timeout=10)
            subprocess.run(["ip", "addr", "add", f"10.250.{self.subnet_octet}.1/24", "dev", self.bridge], check=True,
                           capture_output=True, timeout=10)
            subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True, timeout=10)
            self.log = open(self.dir / "dockerd.log", "wb")
            self.proc = subprocess.Popen(
                [self.DOCKERD, "--host", f"unix://{self.sock}", "--data-root", str(self.dir / "data"),
                 "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "dockerd.pid"),
                 "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge", self.bridge,
                 "--cgroup-parent", "/" + self.cgroup_parent, "--storage-driver", "overlay2", *extra_args],
                stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
            end = time.monotonic() + 60
            while self("version", timeout=10).returncode != 0:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"dockerd did not start: {(self.dir / 'dockerd.log').read_text()[-2000:]}")
                time.sleep(0.1)
        except BaseException:
            self.close()
            raise

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([self.DOCKER, "-H", f"unix://{self.sock}", *args], input=input,
                              capture_output=True, timeout=timeout)

    def ok(self, *args: str, timeout: float = 60) -> str:
        r = self(*args, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            ids = self("ps", "-aq", timeout=30).stdout.decode().split()
            if ids:
                self("rm", "-f", "-v", *ids, timeout=60)
            self("network", "prune", "-f", timeout=60)  # (a user network's bridge, br-ID, outlives dockerd)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # whatever outlived it (a containerd or shim it started): found by our directory in its command line
        mine = str(self.dir)
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        if mine.encode() in f.read():
                            os.kill(int(p), 9)
                except OSError:
                    pass
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for mp in sorted((m for m in mounts if m == mine or m.startswith(mine + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=10)
        for r in cgroup_roots():
            parent = os.path.join(r, self.cgroup_parent)
            for dirpath, _, _ in sorted(os.walk(parent), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
