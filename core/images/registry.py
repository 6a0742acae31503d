"""Pulling from registries that speak the OCI distribution API.

Anonymous, Basic and Bearer-token access (the WWW-Authenticate challenge flow
of Docker Hub, GHCR and the reference registry).  Plain HTTP only for
loopback registries or ones marked insecure.  Every manifest, config and layer
is checked against its digest; layers download in parallel into the staging
area and are unpacked only after their digest matched."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import oci
from .store import Image, ImageError, ImageStore

DEFAULT_REGISTRY = "docker.io"
ACCEPT = ", ".join([oci.MT_OCI_INDEX, oci.MT_OCI_MANIFEST, oci.MT_DOCKER_LIST, oci.MT_DOCKER_MANIFEST])
MAX_MANIFEST = 4 << 20


@dataclass
class Reference:
    registry: str
    repository: str
    tag: Optional[str]
    digest: Optional[str]

    @property
    def familiar(self) -> str:
        """The name as docker shows it: docker.io/ dropped, and library/ before a single
        component (docker.io/library/foo/bar is library/foo/bar, not foo/bar's)."""
        if self.registry == DEFAULT_REGISTRY:
            rest = self.repository.removeprefix("library/")
            return self.repository if "/" in rest else rest
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry


_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
NAME_MAX = 255


def parse_reference(ref: str) -> Reference:
    """docker's rules (its ParseNormalizedNamed): 'busybox' and 'docker.io/busybox' are
    docker.io/library/busybox:latest; a first component with a dot, a colon or a capital
    letter, or 'localhost', names a registry, which must be a host name, an IPv4 or a
    bracketed IPv6 address, with a port or not; the whole name is at most 255 characters."""
    if re.fullmatch(r"[a-f0-9]{64}", ref):  # an image id, not a name
        raise ImageError(f'invalid reference format: "{ref}" (a 64-byte hexadecimal string is not a repository name)')
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
        try:
            oci.check_digest(digest)
        except oci.FormatError:
            raise ImageError(f'invalid reference format: "{ref}"') from None
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
            raise ImageError(f'invalid reference format: "{ref}"')
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, repo = first, rest
        if not _DOMAIN.fullmatch(registry):
            raise ImageError(f'invalid reference format: "{ref}"')
    else:
        registry, repo = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in repo:
        repo = "library/" + repo
    if not _NAME.match(repo):
        raise ImageError(f'invalid reference format: "{ref}"')
    if len(registry) + 1 + len(repo) > NAME_MAX:
        raise ImageError(f'invalid reference format: "{ref}": repository name must not be more than {NAME_MAX} characters')
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, repo, tag, digest)


def is_loopback(host: str) -> bool:
    h = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") or "]:" in host else host.strip("[]")
    return h == "localhost" or h.startswith("127.") or h == "::1"


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
    def __init__(self, ref: Reference, creds: Optional[tuple[str, str]], tls_verify: Optional[bool] = None,
                 timeout: float = 60.0):
        self.ref = ref
        self.creds = creds
        insecure = (tls_verify is False) or (tls_verify is None and is_loopback(ref.registry))
        self.base = f"{'http' if insecure else 'https'}://{ref.api_host}"
        self.token: Optional[str] = None
        self.basic = False
        self.push = False
        self.timeout = timeout
        self.lock = threading.Lock()

    def _auth_header(self) -> dict:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.basic and self.creds:
            return {"Authorization": "Basic " + base64.b64encode(":".join(self.creds).encode()).decode()}
        return {}

    def _challenge(self, header: str) -> None:
        scheme, _, params = header.partition(" ")
        if scheme.lower() == "basic":
            if not self.creds:
                raise ImageError(f"{self.ref.registry}: authentication required (dunnage login {self.ref.registry})")
            self.basic = True
            return
        if scheme.lower() != "bearer":
            raise ImageError(f"{self.ref.registry}: unsupported authentication scheme {scheme!r}")
        p = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if "realm" not in p:
            raise ImageError(f"{self.ref.registry}: bearer challenge without a realm")
        q = {k: v for k, v in p.items() if k in ("service", "scope")}
        q.setdefault("scope", f"repository:{self.ref.repository}:{'pull,push' if self.push else 'pull'}")
        url = p["realm"] + ("&" if "?" in p["realm"] else "?") + urllib.parse.urlencode(q)
        req = urllib.request.Request(url)
        if self.creds:
            req.add_header("Authorization", "Basic " + base64.b64encode(":".join(self.creds).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                doc = json.loads(r.read(MAX_MANIFEST))
        except urllib.error.HTTPError as e:
            raise ImageError(f"{self.ref.registry}: token request refused: {e.code} {e.reason}") from None
        except (urllib.error.URLError, ValueError, OSError) as e:
            raise ImageError(f"{self.ref.registry}: token request failed: {e}") from None
        self.token = doc.get("token") or doc.get("access_token")
        if not self.token:
            raise ImageError(f"{self.ref.registry}: the token endpoint gave no token")

    def request(self, path: str, accept: Optional[str] = None, method: str = "GET", data=None,
                headers: Optional[dict] = None, url: Optional[str] = None, ok404: bool = False):
        url = url or f"{self.base}/v2/{path}"
        for attempt in range(2):
            if hasattr(data, "seek"):
                data.seek(0)
            req = urllib.request.Request(url, method=method, data=data)
            if accept:
                req.add_header("Accept", accept)
            for k, v in (headers or {}).items():
                req.add_header(k, v)
            for k, v in self._auth_header().items():
                req.add_header(k, v)
            try:
                return urllib.request.urlopen(req, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 0:
                    with self.lock:
                        self._challenge(e.headers.get("WWW-Authenticate", ""))
                    continue
                if e.code == 401:
                    raise ImageError(f"{self.ref.registry}: unauthorized (wrong credentials?)") from None
                if e.code == 404:
                    if ok404:
                        return None
                    raise ImageError(f"{self.ref.familiar}: not found in {self.ref.registry}") from None
                detail = ""
                try:
                    errs = json.loads(e.read(65536)).get("errors") or []
                    detail = ": " + "; ".join(x.get("message", "") for x in errs if isinstance(x, dict))
                except (ValueError, OSError, AttributeError):
                    pass
                raise ImageError(f"{self.ref.registry}: {method} {path or url}: {e.code} {e.reason}{detail}") from None
            except (urllib.error.URLError, OSError) as e:
                raise ImageError(f"{self.ref.registry}: cannot connect: {getattr(e, 'reason', e)}") from None
        raise ImageError(f"{self.ref.registry}: unauthorized")

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
            raise ImageError(f"{self.ref.registry}: upload session without a Location")
        loc = urllib.parse.urljoin(self.base + "/", loc)
        loc += ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        size = path.stat().st_size if path is not None else len(data)
        hdrs = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if path is not None:
            with open(path, "rb") as f:
                self.request("", method="PUT", data=f, headers=hdrs, url=loc).close()
        else:
            self.request("", method="PUT", data=data, headers=hdrs, url=loc).close()

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest or index, digest checked."""
        with self.request(f"{self.ref.repository}/manifests/{reference}", ACCEPT) as r:
            body = r.read(MAX_MANIFEST + 1)
            ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
            header_digest = r.headers.get("Docker-Content-Digest")
        if len(body) > MAX_MANIFEST:
            raise ImageError("manifest too large")
        digest = oci.digest_of(body)
        if reference.startswith("sha256:") and digest != reference:
            raise ImageError(f"manifest digest mismatch: asked for {reference}, got {digest}")
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise ImageError(f"manifest digest mismatch: the registry says {header_digest}, content is {digest}")
        return body, ctype, digest

    def blob_to_file(self, digest: str, dest: Path, progress: Callable[[int], None] = lambda n: None) -> None:
        h = hashlib.sha256()
        with self.request(f"{self.ref.repository}/blobs/{digest}") as r, open(dest, "wb") as f:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
                progress(len(chunk))
        if "sha256:" + h.hexdigest() != digest:
            raise ImageError(f"blob {digest}: downloaded content does not match its digest (truncated or corrupt)")

    def blob(self, digest: str, limit: int = MAX_MANIFEST) -> bytes:
        with self.request(f"{self.ref.repository}/blobs/{digest}") as r:
            data = r.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"blob {digest} is too large")
        try:
            return oci.verify(data, digest)
        except oci.FormatError as e:
            raise ImageError(str(e)) from None


def pull(store: ImageStore, ref_str: str, creds: Credentials, tls_verify: Optional[bool] = None,
         say: Callable[[str], None] = lambda s: None, parallel: int = 3,
         progress: Optional[Callable[[str, int, int], None]] = None, platform: Optional[str] = None) -> Image:
    """Pull REF_STR into STORE.  SAY gets docker's status lines; PROGRESS(layer, bytes
    so far, size) is called as each layer downloads (from the download threads)."""
    ref = parse_reference(ref_str)
    try:
        want = oci.parse_platform(platform) if platform else None
    except oci.FormatError as e:
        raise ImageError(str(e)) from None
    cl = Client(ref, creds.get(ref.registry), tls_verify)
    body, ctype, digest = cl.manifest(ref.digest or ref.tag)
    try:
        doc = oci.parse_json(body, "manifest")
        mt = oci.media_type(doc, ctype)
        if mt in oci.INDEX_TYPES:
            entry = oci.pick_from_index(body, want)
            body, ctype, digest = cl.manifest(entry["digest"])
        man = oci.parse_manifest(body)
    except oci.FormatError as e:
        raise ImageError(f"{ref_str}: {e}") from None
    say(f"{ref.tag or ref.digest}: Pulling from {ref.familiar}")
    config_raw = cl.blob(man["config"]["digest"])
    try:
        config = oci.parse_config(config_raw)
    except oci.FormatError as e:
        raise ImageError(f"{ref_str}: {e}") from None
    diff_ids = config["rootfs"]["diff_ids"]
    if len(diff_ids) != len(man["layers"]):
        raise ImageError(f"{ref_str}: the manifest and the config disagree on the number of layers")
    chains = oci.chain_ids(diff_ids)
    tmp = store.store.tempdir("pull-")
    try:
        files: dict[int, Path] = {}
        todo = [i for i, c in enumerate(chains) if not store.has_layer(c)]
        for i, layer in enumerate(man["layers"]):
            if i not in todo:
                say(f"{layer['digest'][7:19]}: Already exists")

        def fetch(i: int) -> None:
            layer = man["layers"][i]
            p = tmp / f"layer-{i}"
            short, total, done = layer["digest"][7:19], int(layer.get("size") or 0), 0

            def advanced(n: int) -> None:
                nonlocal done
                done += n
                progress(short, done, max(total, done))
            if progress is not None:
                progress(short, 0, total)
            cl.blob_to_file(layer["digest"], p, advanced if progress is not None else (lambda n: None))
            files[i] = p
            say(f"{layer['digest'][7:19]}: Download complete ({layer.get('size', p.stat().st_size)} bytes)")

        with ThreadPoolExecutor(max_workers=parallel) as ex:
            for f in [ex.submit(fetch, i) for i in todo]:
                f.result()
        tags = [f"{ref.familiar}:{ref.tag}"] if ref.tag else []
        # the downloaded, verified files become the stored blobs (moved, not copied)
        img = store.add_image(config_raw, lambda i: files[i], tags, [f"{ref.familiar}@{digest}"])
        say(f"Digest: {digest}")
        return img
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def push(store: ImageStore, ref_str: str, creds: Credentials, tls_verify: Optional[bool] = None,
         say: Callable[[str], None] = lambda s: None) -> str:
    """Push the image tagged REF_STR: layers and config first (skipping those the
    registry has), then an OCI manifest under the tag.  Returns the manifest digest."""
    ref = parse_reference(ref_str)
    if ref.digest:
        raise ImageError("push needs a tag, not a digest")
    img = store.get(ref_str if ref.registry != DEFAULT_REGISTRY else f"{ref.familiar}:{ref.tag}")
    man, cfg_raw, layers = store.manifest(img)
    cl = Client(ref, creds.get(ref.registry), tls_verify)
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
