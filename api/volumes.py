"""Volume endpoints: list, create, inspect, delete."""
from __future__ import annotations

from .errors import ApiError, not_found
from .router import qbool, qfilters
from .responses import Response


def _doc(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in ("Anonymous", "Populated")}


def list_(req):
    vols = [_doc(v) for v in req.engine().volumes(qfilters(req.query))]  # (a bad filter: dockerd's 400 and words)
    return {"Volumes": vols, "Warnings": None}


def create(req):
    body = req.json({}) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid volume create request: a JSON object expected")
    drv = body.get("Driver") or "local"
    if drv != "local":
        raise ApiError(400, f"volume driver {drv} is not served: only local")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ApiError(400, "Labels: a JSON object expected")
    e = req.engine()
    rec = e.volume_create(body.get("Name") or None, [f"{k}={v}" for k, v in labels.items()])
    return Response(201, _doc(e.volume_inspect(rec["Name"])))


def inspect(req):
    from dunnage.core import EngineError
    try:
        return req.engine().volume_inspect(req.params["name"])
    except EngineError:
        raise not_found("volume", req.params["name"]) from None


def remove(req):
    e = req.engine()
    inspect(req)
    try:
        e.volume_remove(req.params["name"])
    except Exception as err:  # noqa: BLE001
        if qbool(req.query, "force") and "no such" in str(err).lower():
            return None
        raise
    return None


def register(r) -> None:
    r.add("GET", "/volumes", list_)
    r.add("POST", "/volumes/create", create)
    r.add("GET", "/volumes/{name}", inspect)
    r.add("DELETE", "/volumes/{name}", remove)
