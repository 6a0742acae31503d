"""Pulling from registries that speak the OCI distribution API.

Anonymous, Basic and Bearer-token access (the WWW-Authenticate challenge flow
of Docker Hub, GHCR and the reference registry).  Plain HTTP only for
loopback registries or ones marked insecure.  Every manifest, config and layer
is checked against its digest.  Layers come in parallel, each streamed from the
socket through its digest and igzip into the unpacker at once, into a staging
directory that becomes the store's layer only once the blob's digest and the
tar's diff id both matched and every layer of the image is whole.

Requests go through urllib3: one pool of keep-alive connections per pull or
push (the manifest, config and layer requests share its connections), and
skopeo's retry policy (containers/common pkg/retry: three retries, two seconds
doubling) on 429 and 5xx answers, dropped connections and timeouts, with a
Retry-After honoured.  urllib3 rather than httpx: it is what the retries and
the pool need and nothing more (no asyncio, no dependencies), and a pull
imports it in about 50 ms where httpx takes about 75."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import socket
import threading
import time
import urllib.parse
from itertools import takewhile
from pathlib import Path
from typing import Callable, Optional

import urllib3
from urllib3.exceptions import HTTPError as _HTTPError
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.util import Retry, Timeout

from . import oci
from .reference import DEFAULT_REGISTRY, ImageError, Reference, parse_reference  # noqa: F401
from .store import Image, ImageStore
from .unpack import SourceBroke

ACCEPT = ", ".join([oci.MT_OCI_INDEX, oci.MT_OCI_MANIFEST, oci.MT_DOCKER_LIST, oci.MT_DOCKER_MANIFEST])
MAX_MANIFEST = 4 << 20
RETRIES = 3           # skopeo's and podman's --retry default
RETRY_DELAY = 2.0     # seconds before the first retry, doubling after each (podman's --retry-delay)
RETRY_AFTER_MAX = 60.0
# 429 and the server faults that may pass; 501 and 505 will not
RETRY_STATUS = frozenset([429, *range(500, 600)]) - {501, 505}


def is_loopback(host: str) -> bool:
    h = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") or "]:" in host else host.strip("[]")
    return h == "localhost" or h.startswith("127.") or h == "::1"


class _Retry(Retry):
    """urllib3's Retry on skopeo's schedule: 2, 4, 8 seconds (urllib3's own retries
    the first at once), and a Retry-After taken up to a minute, not an hour."""

    def get_backoff_time(self) -> float:
        n = len(list(takewhile(lambda x: x.redirect_location is None, reversed(self.history))))
        return 0.0 if n == 0 else min(self.backoff_max, self.backoff_factor * 2 ** (n - 1))

    def get_retry_after(self, response) -> Optional[float]:
        v = super().get_retry_after(response)
        return None if v is None else min(v, RETRY_AFTER_MAX)


def _retry_policy() -> Retry:
    return _Retry(total=None, connect=1, read=2, status=RETRIES, redirect=5, other=0,
                  status_forcelist=RETRY_STATUS, allowed_methods=None, backoff_factor=RETRY_DELAY,
                  backoff_max=RETRY_AFTER_MAX, raise_on_status=False, respect_retry_after_header=True)


def _why(e: BaseException) -> str:
    """The fault under urllib3's wrappers, as a short phrase."""
    while isinstance(e, MaxRetryError) and e.reason is not None:
        e = e.reason
    cause = e.__cause__ or e.__context__
    if isinstance(e, NewConnectionError) and isinstance(cause, OSError):
        return cause.strerror or str(cause)
    return str(e)


class Credentials:
    """registry -> (user, password), kept in <root>/auth.json, readable by root only."""

    def __init__(self, path: Path):
        self.path = path

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text()).get("auths", {})
        except (OSError, ValueError):
            return {}

    def get(self, registry: str) -> Optional[tuple[str, str]]:
        a = self._load().get(registry)
        if not a or "auth" not in a:
            return None
        user, _, pw = base64.b64decode(a["auth"]).decode().partition(":")
        return user, pw

    def set(self, registry: str, user: str, password: str) -> None:
        from ..store import atomic_write_bytes
        auths = self._load()
        auths[registry] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        atomic_write_bytes(self.path, json.dumps({"auths": auths}, indent=1).encode(), mode=0o600)

    def remove(self, registry: str) -> bool:
        from ..store import atomic_write_bytes
        auths = self._load()
        if registry not in auths:
            return False
        del auths[registry]
        atomic_write_bytes(self.path, json.dumps({"auths": auths}, indent=1).encode(), mode=0o600)
        return True


class Client:
    """One pull's or push's conversation with a registry: its credentials, the token
    its challenge gave, and a pool of connections the requests share."""

    def __init__(self, ref: Reference, creds: Optional[tuple[str, str]], tls_verify: Optional[bool] = None,
                 timeout: float = 60.0, connections: int = 4):
        self.ref = ref
        self.creds = creds
        insecure = (tls_verify is False) or (tls_verify is None and is_loopback(ref.registry))
        self.base = f"{'http' if insecure else 'https'}://{ref.api_host}"
        self.token: Optional[str] = None
        self.basic = False
        self.push = False
        self.timeout = Timeout(connect=min(timeout, 30.0), read=timeout)
        self.lock = threading.Lock()
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=connections, retries=_retry_policy(),
                                        timeout=self.timeout, headers={"User-Agent": "dunnage"})

    def close(self) -> None:
        self.pool.clear()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _auth_header(self) -> dict:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.basic and self.creds:
            return {"Authorization": "Basic " + base64.b64encode(":".join(self.creds).encode()).decode()}
        return {}

    def _send(self, method: str, url: str, body=None, headers: Optional[dict] = None):
        """One request, with the pool's retries; the response's body not read yet."""
        try:
            return self.pool.request(method, url, body=body, headers=headers or {}, preload_content=False,
                                     decode_content=False, redirect=True)
        except (_HTTPError, OSError, ValueError) as e:  # MaxRetryError: no connection, or none that answered
            raise ImageError(f"{self.ref.registry}: cannot connect: {_why(e)}", status=500) from None

    def _challenge(self, header: str) -> None:
        scheme, _, params = header.partition(" ")
        if scheme.lower() == "basic":
            if not self.creds:
                raise ImageError(f"{self.ref.registry}: authentication required (dunnage login {self.ref.registry})",
                                 status=401)
            self.basic = True
            return
        if scheme.lower() != "bearer":
            raise ImageError(f"{self.ref.registry}: unsupported authentication scheme {scheme!r}", status=500)
        p = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if "realm" not in p:
            raise ImageError(f"{self.ref.registry}: bearer challenge without a realm", status=500)
        q = {k: v for k, v in p.items() if k in ("service", "scope")}
        q.setdefault("scope", f"repository:{self.ref.repository}:{'pull,push' if self.push else 'pull'}")
        url = p["realm"] + ("&" if "?" in p["realm"] else "?") + urllib.parse.urlencode(q)
        headers = {}
        if self.creds:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.creds).encode()).decode()
        with _done(self._send("GET", url, headers=headers)) as r:
            if r.status != 200:
                raise ImageError(f"{self.ref.registry}: token request refused: {r.status} {r.reason}",
                                 status=401 if r.status in (401, 403) else 500)
            try:
                doc = json.loads(_read(r, MAX_MANIFEST))
            except (ValueError, _HTTPError, OSError) as e:
                raise ImageError(f"{self.ref.registry}: token request failed: {_why(e)}", status=500) from None
        self.token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not self.token:
            raise ImageError(f"{self.ref.registry}: the token endpoint gave no token", status=500)

    def request(self, path: str, accept: Optional[str] = None, method: str = "GET", data=None,
                headers: Optional[dict] = None, url: Optional[str] = None, ok404: bool = False):
        """The response to METHOD on /v2/PATH (or URL), its body unread: the caller reads it
        inside `with` (or closes it), which gives the connection back to the pool."""
        url = url or f"{self.base}/v2/{path}"
        for attempt in range(2):
            if hasattr(data, "seek"):
                data.seek(0)
            h = dict(headers or {})
            if accept:
                h["Accept"] = accept
            h.update(self._auth_header())
            r = self._send(method, url, body=data, headers=h)
            if r.status < 400:
                return _done(r)
            with _done(r):
                if r.status == 401 and attempt == 0:
                    with self.lock:
                        self._challenge(r.headers.get("WWW-Authenticate", ""))
                    continue
                if r.status == 401:
                    raise ImageError(f"{self.ref.registry}: unauthorized (wrong credentials?)", status=401)
                if r.status == 404:
                    if ok404:
                        return None
                    raise ImageError(f"{self.ref.familiar}: not found in {self.ref.registry}", status=404)
                detail = ""
                try:
                    errs = json.loads(_read(r, 65536)).get("errors") or []
                    detail = ": " + "; ".join(x.get("message", "") for x in errs if isinstance(x, dict))
                except (ValueError, OSError, AttributeError, _HTTPError):
                    pass
                tried = f" (after {RETRIES} retries)" if r.status in RETRY_STATUS else ""
                # the registry's refusal (403, docker's "denied") is the request's; any other, the registry's fault
                raise ImageError(f"{self.ref.registry}: {method} {path or url}: {r.status} {r.reason}{detail}{tried}",
                                 status=403 if r.status == 403 else 500)
        raise ImageError(f"{self.ref.registry}: unauthorized", status=401)

    def has_blob(self, digest: str) -> bool:
        r = self.request(f"{self.ref.repository}/blobs/{digest}", method="HEAD", ok404=True)
        if r is None:
            return False
        r.close()
        return True

    def upload_blob(self, digest: str, path: Optional[Path] = None, data: Optional[bytes] = None) -> None:
        """Monolithic upload: POST for a session, then PUT the content with its digest."""
        with self.request(f"{self.ref.repository}/blobs/uploads/", method="POST", data=b"",
                          headers={"Content-Length": "0"}) as r:
            loc = r.headers.get("Location")
        if not loc:
            raise ImageError(f"{self.ref.registry}: upload session without a Location", status=500)
        loc = urllib.parse.urljoin(self.base + "/", loc)
        loc += ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        size = path.stat().st_size if path is not None else len(data)
        hdrs = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if path is not None:
            with open(path, "rb") as f:
                self.request("", method="PUT", data=f, headers=hdrs, url=loc).close()
        else:
            self.request("", method="PUT", data=data, headers=hdrs, url=loc).close()

    def _body(self, path: str, consume: Callable, what: str, accept: Optional[str] = None):
        """CONSUME(response) of GET /v2/PATH.  A body that breaks off midway is asked for
        again whole (as skopeo retries a layer), on the schedule of the pool's retries."""
        for attempt in range(RETRIES + 1):
            try:
                with self.request(path, accept) as r:
                    return consume(r)
            except _HTTPError as e:  # ProtocolError, ReadTimeoutError: the body broke off
                if attempt == RETRIES:
                    raise ImageError(f"{what}: the connection broke: {_why(e)} (after {RETRIES} retries)",
                                     status=500) from None
                time.sleep(RETRY_DELAY * 2 ** attempt)

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest or index, digest checked."""
        def consume(r):
            return (_read(r, MAX_MANIFEST + 1), (r.headers.get("Content-Type") or "").split(";")[0].strip(),
                    r.headers.get("Docker-Content-Digest"))
        body, ctype, header_digest = self._body(f"{self.ref.repository}/manifests/{reference}", consume,
                                                f"manifest {reference}", ACCEPT)
        if len(body) > MAX_MANIFEST:
            raise ImageError("manifest too large", status=500)
        digest = oci.digest_of(body)
        if reference.startswith("sha256:") and digest != reference:
            raise ImageError(f"manifest digest mismatch: asked for {reference}, got {digest}", status=500)
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise ImageError(f"manifest digest mismatch: the registry says {header_digest}, content is {digest}",
                             status=500)
        return body, ctype, digest

    def blob_to_file(self, digest: str, dest: Path, progress: Callable[[int], None] = lambda n: None) -> None:
        """Stream a blob into DEST, hashing as it comes; PROGRESS gets each chunk's size
        (and the bytes taken back, negative, when a broken download starts over)."""
        def consume(r):
            h, got = hashlib.sha256(), 0
            try:
                with open(dest, "wb") as f:
                    for chunk in r.stream(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
                        got += len(chunk)
                        progress(len(chunk))
            except _HTTPError:
                if got:
                    progress(-got)
                raise
            return h
        h = self._body(f"{self.ref.repository}/blobs/{digest}", consume, f"blob {digest}")
        if "sha256:" + h.hexdigest() != digest:
            raise ImageError(f"blob {digest}: downloaded content does not match its digest (truncated or corrupt)",
                             status=500)

    def blob(self, digest: str, limit: int = MAX_MANIFEST) -> bytes:
        data = self._body(f"{self.ref.repository}/blobs/{digest}", lambda r: _read(r, limit + 1), f"blob {digest}")
        if len(data) > limit:
            raise ImageError(f"blob {digest} is too large", status=500)
        return oci.verify(data, digest)


def _read(r, n: int) -> bytes:
    """Up to N bytes of R's body: urllib3's read(N) returns what one read gave, and
    tells of a body cut short only on the read after."""
    buf = bytearray()
    while len(buf) < n:
        chunk = r.read(min(n - len(buf), 1 << 20))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


class _done:
    """`with` over a urllib3 response: a body read to its end gives the connection back
    to the pool; one left unread (an oversized answer, an error) closes it."""

    def __init__(self, r):
        self.r = r

    def __getattr__(self, name):
        return getattr(self.r, name)

    def __enter__(self):
        return self.r

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        r = self.r
        if not r.closed and r.length_remaining is not None and r.length_remaining <= 65536:
            r.drain_conn()  # a short unread body (an error's): read, the connection serves again
        if not r.closed:
            r.close()
        r.release_conn()


def pull(store: ImageStore, ref_str: str, creds: Credentials, tls_verify: Optional[bool] = None,
         say: Callable[[str], None] = lambda s: None, parallel: int = 3,
         progress: Optional[Callable[[str, int, int], None]] = None, platform: Optional[str] = None) -> Image:
    """Pull REF_STR into STORE.  SAY gets docker's status lines; PROGRESS(layer, bytes
    so far, size) is called as each layer downloads (from the download threads)."""
    ref = parse_reference(ref_str)
    want = oci.parse_platform(platform) if platform else None
    with Client(ref, creds.get(ref.registry), tls_verify, connections=parallel + 1) as cl:
        body, ctype, digest = cl.manifest(ref.digest or ref.tag)
        try:
            doc = oci.parse_json(body, "manifest")
            mt = oci.media_type(doc, ctype)
            if mt in oci.INDEX_TYPES:
                entry = oci.pick_from_index(body, want)
                body, ctype, digest = cl.manifest(entry["digest"])
            man = oci.parse_manifest(body)
        except oci.FormatError as e:
            # a broken document is the registry's fault; an index without this platform, docker's NotFound
            raise ImageError(f"{ref_str}: {e}", status=404 if e.status == 404 else 500) from None
        say(f"{ref.tag or ref.digest}: Pulling from {ref.repository}")  # (docker's reference.Path: no registry)
        config_raw = cl.blob(man["config"]["digest"])
        try:
            config = oci.parse_config(config_raw)
        except oci.FormatError as e:
            raise ImageError(f"{ref_str}: {e}", status=500) from None
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) != len(man["layers"]):
            raise ImageError(f"{ref_str}: the manifest and the config disagree on the number of layers", status=500)
        chains = oci.chain_ids(diff_ids)
        for layer, chain in zip(man["layers"], chains):
            if store.has_layer(chain):
                say(f"{layer['digest'][7:19]}: Already exists")
        cancel = _Cancel()

        def stage(i: int, diff_id: str) -> Path:
            """Layer I's body streamed from the socket through its digest into the
            unpacker (inflated and unpacked as it arrives); a body that breaks off is
            asked for again whole, into a fresh staging directory (as skopeo retries)."""
            layer = man["layers"][i]
            short, total = layer["digest"][7:19], int(layer.get("size") or 0)
            for attempt in range(RETRIES + 1):
                body = _Body(cancel, short, total, progress)
                try:
                    with cl.request(f"{ref.repository}/blobs/{layer['digest']}") as r:
                        body.r = r
                        with cancel.watching(body):
                            tmp, _, _ = store.stage_layer(body, diff_id, blob_digest=layer["digest"])
                except SourceBroke as e:
                    body.undo()
                    if cancel.is_set():
                        raise _Cancelled("pull cancelled") from None
                    if not isinstance(e.err, _HTTPError):  # not the connection's fault
                        raise e.err from None
                    if attempt == RETRIES:
                        raise ImageError(f"blob {layer['digest']}: the connection broke: {_why(e.err)} "
                                         f"(after {RETRIES} retries)", status=500) from None
                    time.sleep(RETRY_DELAY * 2 ** attempt)
                    continue
                say(f"{short}: Download complete ({layer.get('size', body.done)} bytes)")
                say(f"{short}: Pull complete")
                return tmp
            raise AssertionError("unreachable")

        tags = [f"{ref.familiar}:{ref.tag}"] if ref.tag else []
        img = store.add_staged(config_raw, stage, tags, [f"{ref.familiar}@{digest}"], parallel, cancel)
        say(f"Digest: {digest}")
        return img


class _Cancelled(Exception):
    """Another layer's fault, or ctrl-c: the pull stops."""


class _Cancel(threading.Event):
    """Set on the pull's first fault (or ctrl-c): every body still coming is cut off
    at once, its socket shut down, which wakes a read that waits on a stalled registry."""

    def __init__(self):
        super().__init__()
        self.bodies: set = set()
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def watching(self, body: "_Body"):
        with self.lock:
            self.bodies.add(body)
        try:
            yield
        except BaseException:
            body.abort()  # the unpacker's reader may still wait on it: closing would wait for that read
            raise
        finally:
            with self.lock:
                self.bodies.discard(body)

    def set(self) -> None:
        super().set()
        with self.lock:
            bodies = list(self.bodies)
        for b in bodies:
            b.abort()


class _Body(io.RawIOBase):
    """A layer's response body as a stream for the unpacker: progress as it comes,
    and stopped at the next read once CANCEL is set."""

    def __init__(self, cancel: threading.Event, short: str, total: int,
                 progress: Optional[Callable[[str, int, int], None]]):
        super().__init__()
        self.r, self.cancel, self.short, self.total, self.progress, self.done = None, cancel, short, total, progress, 0
        if progress is not None:
            progress(short, 0, total)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.cancel.is_set():
            raise _Cancelled("pull cancelled")
        b = self.r.read(size if size >= 0 else None)
        if b and self.progress is not None:
            self.done += len(b)
            self.progress(self.short, self.done, max(self.total, self.done))
        elif b:
            self.done += len(b)
        return b

    def readinto(self, buf) -> int:
        b = self.read(len(buf))
        buf[:len(b)] = b
        return len(b)

    def abort(self) -> None:
        sock = getattr(getattr(self.r, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def undo(self) -> None:
        """A broken download starts over: the bytes it counted are taken back."""
        if self.progress is not None and self.done:
            self.progress(self.short, 0, self.total)
        self.done = 0


def push(store: ImageStore, ref_str: str, creds: Credentials, tls_verify: Optional[bool] = None,
         say: Callable[[str], None] = lambda s: None) -> str:
    """Push the image tagged REF_STR: layers and config first (skipping those the
    registry has), then an OCI manifest under the tag.  Returns the manifest digest."""
    ref = parse_reference(ref_str)
    if ref.digest:
        raise ImageError("push needs a tag, not a digest", status=400)
    img = store.get(f"{ref.familiar}:{ref.tag}")
    man, cfg_raw, layers = store.manifest(img)
    with Client(ref, creds.get(ref.registry), tls_verify) as cl:
        cl.push = True
        say(f"The push refers to repository [{ref.registry}/{ref.repository}]")
        for blob, desc in layers:
            if cl.has_blob(desc["digest"]):
                say(f"{desc['digest'][7:19]}: Layer already exists")
            else:
                cl.upload_blob(desc["digest"], path=blob)
                say(f"{desc['digest'][7:19]}: Pushed")
        if not cl.has_blob(img.id):
            cl.upload_blob(img.id, data=cfg_raw)
        cl.request(f"{ref.repository}/manifests/{ref.tag}", method="PUT", data=man,
                   headers={"Content-Type": oci.MT_OCI_MANIFEST, "Content-Length": str(len(man))}).close()
        digest = oci.digest_of(man)
        say(f"{ref.tag}: digest: {digest} size: {len(man)}")
        return digest
