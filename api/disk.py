"""What the root holds and moves: /system/df, the prunes (containers, images,
volumes, networks), /commit, an image's history, and save/load (/images/get,
/images/load), over the engine's disk usage, prune, commit, save and load."""
from __future__ import annotations

import json

from .errors import ApiError, container_of, not_found
from .router import qbool, qfilters, qstr
from .responses import Response, Stream


def _epoch(iso: str) -> int:
    from dunnage.core.units import parse_iso
    t = parse_iso(iso or "")
    return int(t.timestamp()) if t else 0


def df(req):
    from .containers import summary
    from .volumes import _doc
    e = req.engine()
    du = e.disk_usage()
    images = []
    for it in du["Images"]["items"]:
        img = it["image"]
        images.append({"Id": img.id, "ParentId": "", "RepoTags": list(img.tags) or None,
                       "RepoDigests": list(img.digests or []) or None, "Created": _epoch(img.created),
                       "Size": it["size"], "SharedSize": it["shared"], "VirtualSize": it["size"],
                       "Labels": ((img.config or {}).get("config") or {}).get("Labels") or {},
                       "Containers": it["containers"]})
    containers = []
    for it in du["Containers"]["items"]:
        doc = summary(e, it["container"])
        doc["SizeRw"] = it["size"]
        doc["SizeRootFs"] = it["size"]
        containers.append(doc)
    volumes = [{**_doc(it["volume"]), "UsageData": {"Size": it["size"], "RefCount": it["links"]}}
               for it in du["Local Volumes"]["items"]]
    cache = [{"ID": it["id"][7:19], "Parent": "", "Type": "regular", "Description": it["description"],
              "InUse": it["in_use"], "Shared": it["in_use"], "Size": it["size"],
              "CreatedAt": _iso(it["created"]), "LastUsedAt": _iso(it["created"]), "UsageCount": 1}
             for it in du["Build Cache"]["items"]]
    return {"LayersSize": du["Images"]["size"], "Images": images, "Containers": containers, "Volumes": volumes,
            "BuildCache": cache, "BuilderSize": du["Build Cache"]["size"]}


def _iso(t: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def prune_containers(req):
    """(the filters checked and applied by the engine: core/prune_filters.py)"""
    gone, freed = req.engine().prune("containers", filters=qfilters(req.query))
    return {"ContainersDeleted": gone or None, "SpaceReclaimed": freed}


def prune_images(req):
    lines, freed = req.engine().prune("images", False, qfilters(req.query))
    out = []
    for line in lines:
        kind, _, what = line.partition(": ")
        out.append({kind: what})
    return {"ImagesDeleted": out or None, "SpaceReclaimed": freed}


def prune_volumes(req):
    """API 1.41 prunes every unused volume (1.42 only anonymous ones unless all=true)."""
    f = qfilters(req.query)
    all_ = any(v.lower() in ("true", "1") for v in f.pop("all", ["true"]))
    names, freed = req.engine().prune("volumes", all_, f)
    return {"VolumesDeleted": names or None, "SpaceReclaimed": freed}


def prune_networks(req):
    return {"NetworksDeleted": req.engine().network_prune(qfilters(req.query)) or None}


_CONFIG_CHANGES = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes",
                   "StopSignal")


def commit(req):
    """docker commit: the body's Config fields (Cmd, Env, ...) change the image's, then
    the Dockerfile instructions of `changes` (CMD, ENV, ...; 400 for a bad one, nothing
    made), as dockerd applies them over the Config."""
    from dunnage.core.images.changes import parse_changes
    q = req.query
    ref = qstr(q, "container")
    if not ref:
        raise ApiError(400, "container is required")
    body = req.json({}) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid commit request: a JSON object (the Config) expected")
    changes = {k: body[k] for k in _CONFIG_CHANGES if body.get(k) is not None}
    for k, v in parse_changes([c for c in q.get("changes", []) if c.strip()]).items():
        if k == "Env":
            changes["Env"] = list(changes.get("Env") or []) + v
        elif k in ("Labels", "Volumes", "ExposedPorts"):
            changes[k] = {**(changes.get(k) or {}), **v}
        else:
            changes[k] = v
    e = req.engine()
    cid = container_of(e, ref).id
    repo, tag = qstr(q, "repo"), qstr(q, "tag")
    target = f"{repo}:{tag or 'latest'}" if repo else None
    img = e.commit(cid, target, changes or None, qstr(q, "comment") or "", qstr(q, "author") or "",
                   pause=qbool(q, "pause", True))
    return Response(201, {"Id": img.id})


def _image(e, ref: str):
    from dunnage.core import EngineError
    try:
        return e.image(ref)
    except EngineError:
        raise not_found("image", ref) from None


def history(req):
    """docker history: core/images/history.py's steps, newest first."""
    e = req.engine()
    _image(e, req.params["name"])
    return e.image_history(req.params["name"])


def get(req):
    from .archive import piped
    e = req.engine()
    refs = [req.params["name"]] if "name" in req.params else req.query.get("names", [])
    if not refs:
        raise ApiError(400, "names is required: the images to save")
    for r in refs:
        _image(e, r)
    return Stream(piped(lambda f: e.save_images(refs, None, stream=f)), "application/x-tar")


def load(req):
    body = req.body_file()
    if body is None:
        raise ApiError(400, "the body is empty: a tar made by docker save expected")
    e = req.engine()
    out = []
    for img, tags in e.load_images(body):
        if tags:
            out += [f"Loaded image: {t}\n" for t in tags]
        else:
            out.append(f"Loaded image ID: {img.id}\n")
    # quiet (the docker CLI's when its output is no terminal) drops progress, which
    # there is none of: the Loaded lines go either way, as dockerd's
    return Stream(iter([json.dumps({"stream": s}).encode() + b"\r\n" for s in out]))


load.archive_body = True


def register(r) -> None:
    r.add("GET", "/system/df", df)
    r.add("POST", "/containers/prune", prune_containers)
    r.add("POST", "/images/prune", prune_images)
    r.add("POST", "/volumes/prune", prune_volumes)
    r.add("POST", "/networks/prune", prune_networks)
    r.add("POST", "/commit", commit)
    r.add("GET", "/images/get", get)
    r.add("POST", "/images/load", load)
    r.add("GET", "/images/{name:path}/history", history)
    r.add("GET", "/images/{name:path}/get", get)
