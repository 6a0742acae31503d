"""Image endpoints: json, inspect, DELETE, tag, create (pull, with docker's JSON
progress stream; import with fromSrc), push (progress stream), and /auth.

X-Registry-Auth (base64url JSON: username, password, serveraddress), as the docker
CLI and docker-py send it, is the credentials of that one pull or push; without it,
those `dunnage login` keeps.  /auth checks credentials against the registry's /v2/
and keeps nothing: the client keeps them, as with dockerd."""
from __future__ import annotations

import base64
import json
from typing import Optional

from .errors import ApiError, not_found
from .router import qbool, qfilters, qstr
from .responses import Response, Stream, progress_stream


def _epoch(iso: str) -> int:
    from dunnage.core.units import parse_iso
    t = parse_iso(iso or "")
    return int(t.timestamp()) if t else 0


def _image(e, ref: str):
    from dunnage.core import EngineError
    try:
        return e.image(ref)
    except EngineError:
        raise not_found("image", ref) from None


def list_(req):
    e = req.engine()
    out = []
    for img in e.list_images(qfilters(req.query)):  # (a bad filter: dockerd's 400 and words)
        labels = ((img.config or {}).get("config") or (img.config or {}).get("Config") or {}).get("Labels")
        out.append({"Id": img.id, "ParentId": "", "RepoTags": list(img.tags) or ["<none>:<none>"],
                    "RepoDigests": list(img.digests or []), "Created": _epoch(img.created), "Size": img.size,
                    "VirtualSize": img.size, "SharedSize": -1, "Labels": labels or {}, "Containers": -1})
    return out


_EMPTY_CONTAINER_CONFIG = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None}


def inspect(req):
    """API 1.41's document, as dockerd 20.10 gives it: with Container, ContainerConfig (the
    config of the container the image was committed from; docker-compose v1 reads its
    Volumes when it recreates a service) and VirtualSize."""
    e = req.engine()
    img = _image(e, req.params["name"])
    doc = e.inspect_image(req.params["name"])
    cfg = img.config or {}
    doc.setdefault("Container", cfg.get("container") or "")
    doc.setdefault("ContainerConfig", cfg.get("container_config") or dict(_EMPTY_CONTAINER_CONFIG))
    doc.setdefault("VirtualSize", doc.get("Size"))
    return doc


def remove(req):
    e = req.engine()
    _image(e, req.params["name"])
    out = []
    for line in e.remove_image(req.params["name"], qbool(req.query, "force")):
        kind, _, what = line.partition(": ")
        out.append({kind: what})
    return out


def tag(req):
    e = req.engine()
    _image(e, req.params["name"])
    repo = qstr(req.query, "repo")
    if not repo:
        raise ApiError(400, "repository name must have at least one component")
    t = qstr(req.query, "tag") or "latest"
    e.tag_image(req.params["name"], f"{repo}:{t}")
    return Response(201, None)


def create(req):
    """docker pull: the progress as docker's JSON lines; an error after the headers went
    is a last {"errorDetail", "error"} line, as dockerd's."""
    q = req.query
    if qstr(q, "fromSrc"):
        return import_(req)
    src = qstr(q, "fromImage")
    if not src:
        raise ApiError(400, "fromImage or fromSrc is required")
    tag_ = qstr(q, "tag")
    ref = src if not tag_ else (f"{src}@{tag_}" if tag_.startswith("sha256:") else f"{src}:{tag_}")
    e = req.engine()
    def work(put) -> None:
        def say(s: str) -> None:
            put({"status": s})

        def progress(layer, got, size) -> None:
            put({"status": "Downloading", "id": str(layer)[7:19] if str(layer).startswith("sha256:") else
                 str(layer)[:12], "progressDetail": {"current": got, "total": size}})
        put({"status": f"Pulling from {src}", "id": tag_ or "latest"})
        _with_auth(req, lambda creds: _registry_pull(e, ref, creds, say, progress))
        put({"status": f"Status: Downloaded newer image for {ref}"})
    return progress_stream(work)


def _registry_auth(req) -> Optional[dict]:
    """The X-Registry-Auth header's credentials ({} or None for none); 400 for what does not decode."""
    raw = req.headers.get("X-Registry-Auth")
    if not raw:
        return None
    try:
        auth = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        raise ApiError(400, "invalid X-Registry-Auth header: base64url JSON expected") from None
    if not isinstance(auth, dict):
        raise ApiError(400, "invalid X-Registry-Auth header: a JSON object expected")
    return auth


class _Creds:
    """The credentials of one request (X-Registry-Auth) before those kept in the root."""

    def __init__(self, auth: Optional[dict], kept):
        self.auth, self.kept = auth or {}, kept

    def get(self, registry: str):
        user, pw = self.auth.get("username"), self.auth.get("password")
        if user and pw is not None:
            return user, pw
        return self.kept.get(registry)


def _with_auth(req, fn):
    from dunnage.core.images.verbs import credentials
    return fn(_Creds(_registry_auth(req), credentials(req.engine())))


def _registry_pull(e, ref: str, creds, say, progress):
    if creds.auth:
        from dunnage.core import events
        from dunnage.core.images.registry import pull
        img = pull(e.images, ref, creds, None, say, progress=progress)
        events.emit(e.store, "image", "pull", ref, {"name": ref})
        return img
    return e.pull(ref, None, say, progress)


def push(req):
    """docker push: docker's progress lines; an error after the headers went is a last
    {"errorDetail", "error"} line.  The last line's aux carries the tag, digest and size."""
    from dunnage.core import EngineError
    from dunnage.core.images.registry import parse_reference
    name = req.params["name"]
    tag_ = qstr(req.query, "tag") or ""
    ref = f"{name}:{tag_}" if tag_ else name
    e = req.engine()
    try:
        r = parse_reference(ref)
    except (EngineError, ValueError) as err:
        raise ApiError(400, str(err)) from None
    try:
        e.image(f"{r.familiar}:{r.tag}")
    except EngineError:
        raise ApiError(404, f"An image does not exist locally with the tag: {ref}") from None
    auth = _registry_auth(req)
    size = [0]

    def work(put) -> None:
        from dunnage.core import events
        from dunnage.core.images.registry import push as registry_push
        from dunnage.core.images.verbs import credentials

        def say(s: str) -> None:
            short, sep, status = s.partition(": ")
            if " size: " in status:
                size[0] = int(status.rsplit(" size: ", 1)[1] or 0)
            if sep and status in ("Pushed", "Layer already exists"):
                put({"status": status, "progressDetail": {}, "id": short})
            else:
                put({"status": s})
        digest = registry_push(e.images, f"{r.familiar}:{r.tag}", _Creds(auth, credentials(e)), None, say)
        events.emit(e.store, "image", "push", ref, {"name": ref})
        put({"progressDetail": {}, "aux": {"Tag": r.tag, "Digest": digest, "Size": size[0]}})
    return progress_stream(work)


def import_(req):
    """docker import: the body is the root filesystem's tar (fromSrc=-); changes are
    Dockerfile instructions (400 for a bad one, nothing made); the answer is docker's
    one status line with the new image's id."""
    from dunnage.core.images.changes import parse_changes
    q = req.query
    if qstr(q, "fromSrc") != "-":
        raise ApiError(400, "import from a URL is not served: send the archive as the body (fromSrc=-)")
    body = req.body_file()
    if body is None:
        raise ApiError(400, "the body is empty: a tar archive of a root filesystem expected")
    changes = parse_changes([c for c in q.get("changes", []) if c.strip()])
    repo, tag_ = qstr(q, "repo"), qstr(q, "tag")
    ref = (f"{repo}:{tag_}" if tag_ else repo) if repo else None
    img = req.engine().import_image(body, ref, changes or None)
    return Stream(iter([json.dumps({"status": img.id}).encode() + b"\r\n"]))


create.archive_body = True  # (import's tar; a pull's body is empty)


def auth(req):
    """docker login's check: the registry's /v2/ with these credentials; 401 with the
    registry's word when it refuses them.  Nothing is kept."""
    from dunnage.core.images.registry import Client, Reference
    from dunnage.core import EngineError
    body = req.json(None)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid auth request: a JSON object with username, password, serveraddress expected")
    server = body.get("serveraddress") or "docker.io"
    for k in ("username", "password", "serveraddress"):
        if body.get(k) is not None and not isinstance(body[k], str):
            raise ApiError(400, f"invalid auth request: {k} must be a string")
    server = server.split("://", 1)[-1].rstrip("/")
    if server.endswith("/v1") or server.endswith("/v2"):
        server = server[:-3]
    user, pw = body.get("username") or "", body.get("password") or ""
    try:
        cl = Client(Reference(server, "x/x", "latest", None), (user, pw) if user else None, None)
        cl.request("").close()
    except EngineError as err:
        st = getattr(err, "status", None)
        raise ApiError(401 if st == 401 or "unauthorized" in str(err) else 500,
                       f"login attempt to https://{server}/v2/ failed: {err}") from None
    return {"Status": "Login Succeeded", "IdentityToken": ""}


def register(r) -> None:
    r.add("POST", "/auth", auth)
    r.add("POST", "/images/{name:path}/push", push)
    r.add("GET", "/images/json", list_)
    r.add("POST", "/images/create", create)
    r.add("GET", "/images/{name:path}/json", inspect)
    r.add("POST", "/images/{name:path}/tag", tag)
    r.add("DELETE", "/images/{name:path}", remove)
