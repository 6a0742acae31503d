"""Network endpoints: list, inspect, create, delete, connect, disconnect."""
from __future__ import annotations

from .errors import ApiError, not_found
from .router import qfilters
from .responses import Response


def _net(e, ref: str) -> dict:
    from dunnage.core import EngineError
    try:
        doc = e.network_inspect(ref)
    except EngineError as err:
        if "no such" in str(err).lower() or "not found" in str(err).lower():
            raise not_found("network", ref) from None
        raise
    return doc


def list_(req):
    from dunnage.core.net.verbs import HOST_NETWORKS, host_network
    from dunnage.core.network_filters import matcher
    e = req.engine()
    filters = qfilters(req.query)
    out = [_net(e, rec["Id"]) for rec in e.networks(filters)]  # (a bad filter: dockerd's 400 and words)
    builtin = matcher(filters)
    return out + [d for d in (host_network(e, n) for n in HOST_NETWORKS) if builtin(d)]  # (as dockerd lists them)


def inspect(req):
    return _net(req.engine(), req.params["id"])


def create(req):
    body = req.json({})
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body.get("Name"):
        raise ApiError(400, "network create: a JSON object with a Name expected")
    drv = body.get("Driver") or "bridge"
    if drv != "bridge":
        raise ApiError(400, f"network driver {drv} is not served: only bridge")
    cfgs = ((body.get("IPAM") or {}).get("Config")) or []
    if not isinstance(cfgs, list) or not all(isinstance(c, dict) for c in cfgs):
        raise ApiError(400, "network create: IPAM Config must be a list of objects")
    # docker network create --ipv6 --subnet V4 --subnet V6: one Config per family
    by_family: dict[bool, dict] = {}
    for cfg in cfgs:
        v6 = ":" in str(cfg.get("Subnet") or cfg.get("Gateway") or "")
        if v6 in by_family:
            raise ApiError(400, "network create: one IPv4 and one IPv6 IPAM Config at most")
        by_family[v6] = cfg
    subnet, gateway = by_family.get(False, {}).get("Subnet") or None, by_family.get(False, {}).get("Gateway") or None
    subnet6, gateway6 = by_family.get(True, {}).get("Subnet") or None, by_family.get(True, {}).get("Gateway") or None
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ApiError(400, "Labels: a JSON object expected")
    options = body.get("Options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "Options: a JSON object expected")
    e = req.engine()
    try:
        rec = e.network_create(body["Name"], subnet, gateway, bool(body.get("Internal")),
                               [f"{k}={v}" for k, v in labels.items()], ipv6=bool(body.get("EnableIPv6")),
                               subnet6=subnet6, gateway6=gateway6, options=options)
    except Exception as err:  # noqa: BLE001
        if "already exists" in str(err):
            raise ApiError(409, str(err)) from None
        raise
    return Response(201, {"Id": rec["Id"], "Warning": ""})


def remove(req):
    e = req.engine()
    _net(e, req.params["id"])
    e.network_remove(req.params["id"])
    return None


def connect(req):
    e = req.engine()
    _net(e, req.params["id"])
    body = req.json({}) or {}
    if not isinstance(body, dict) or not body.get("Container"):
        raise ApiError(400, "network connect: a Container expected")
    ep = body.get("EndpointConfig") or {}
    try:
        e.container(body["Container"])
    except Exception:  # noqa: BLE001
        raise not_found("container", body["Container"]) from None
    ipam = ep.get("IPAMConfig") or {}
    e.network_connect(req.params["id"], body["Container"], list(ep.get("Aliases") or []) or None,
                      ipam.get("IPv4Address") or None, ipam.get("IPv6Address") or None)
    return Response(200, None)


def disconnect(req):
    e = req.engine()
    _net(e, req.params["id"])
    body = req.json({}) or {}
    if not isinstance(body, dict) or not body.get("Container"):
        raise ApiError(400, "network disconnect: a Container expected")
    e.network_disconnect(req.params["id"], body["Container"], bool(body.get("Force")))
    return Response(200, None)


def register(r) -> None:
    r.add("GET", "/networks", list_)
    r.add("POST", "/networks/create", create)
    r.add("GET", "/networks/{id}", inspect)
    r.add("DELETE", "/networks/{id}", remove)
    r.add("POST", "/networks/{id}/connect", connect)
    r.add("POST", "/networks/{id}/disconnect", disconnect)
