"""Image endpoints: json, inspect, DELETE, tag, and create (pull, with docker's JSON
progress stream)."""
from __future__ import annotations

import json
import queue
import threading

from .errors import ApiError, not_found
from .router import qbool, qstr
from .responses import Response, Stream


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
    for img in e.list_images():
        labels = ((img.config or {}).get("config") or (img.config or {}).get("Config") or {}).get("Labels")
        out.append({"Id": img.id, "ParentId": "", "RepoTags": list(img.tags) or ["<none>:<none>"],
                    "RepoDigests": list(img.digests or []), "Created": _epoch(img.created), "Size": img.size,
                    "VirtualSize": img.size, "SharedSize": -1, "Labels": labels or {}, "Containers": -1})
    return out


def inspect(req):
    e = req.engine()
    _image(e, req.params["name"])
    return e.inspect_image(req.params["name"])


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
        raise ApiError(501, "image import through the API is not served yet")
    src = qstr(q, "fromImage")
    if not src:
        raise ApiError(400, "fromImage or fromSrc is required")
    tag_ = qstr(q, "tag")
    ref = src if not tag_ else (f"{src}@{tag_}" if tag_.startswith("sha256:") else f"{src}:{tag_}")
    e = req.engine()
    lines: queue.Queue = queue.Queue()
    done = object()

    def say(s: str) -> None:
        lines.put({"status": s})

    def progress(layer, got, size) -> None:
        lines.put({"status": "Downloading", "id": str(layer)[7:19] if str(layer).startswith("sha256:") else
                   str(layer)[:12], "progressDetail": {"current": got, "total": size}})

    def work():
        try:
            lines.put({"status": f"Pulling from {src}", "id": tag_ or "latest"})
            e.pull(ref, None, say, progress)
            lines.put({"status": f"Status: Downloaded newer image for {ref}"})
        except Exception as err:  # noqa: BLE001
            lines.put({"errorDetail": {"message": str(err)}, "error": str(err)})
        lines.put(done)
    threading.Thread(target=work, daemon=True).start()

    def body():
        while True:
            item = lines.get()
            if item is done:
                return
            yield json.dumps(item).encode() + b"\r\n"
    return Stream(body())


def register(r) -> None:
    r.add("GET", "/images/json", list_)
    r.add("POST", "/images/create", create)
    r.add("GET", "/images/{name:path}/json", inspect)
    r.add("POST", "/images/{name:path}/tag", tag)
    r.add("DELETE", "/images/{name:path}", remove)
