"""docker network's verbs (ls, create, inspect, rm, prune, connect, disconnect) and
docker port, over the network records of core/net/config.py.  Each takes the Engine
facade first and never imports it; NetworkError is an EngineError, so nothing here
translates errors."""
from __future__ import annotations

import os
from typing import Optional

from .. import events
from ..containers import all_containers, find
from ..errors import Conflict, EngineError, Forbidden, InvalidParameter, NotFound
from ..inspect import network_inspect, published_ports
from ..spec import labels as spec_labels
from .config import Networks


def ls(engine) -> list[dict]:
    """Records of every network (the default bridge is made on first look, as docker always has one)."""
    nets = Networks(engine.store)
    nets.ensure_default()
    nets.gc()
    return nets.list()


def create(engine, name: str, subnet: Optional[str] = None, gateway: Optional[str] = None,
           internal: bool = False, labels: list[str] | None = None, *, ipv6: bool = False,
           subnet6: Optional[str] = None, gateway6: Optional[str] = None, options: Optional[dict] = None) -> dict:
    rec = Networks(engine.store).create(name, subnet, gateway, internal, spec_labels(labels), ipv6=ipv6,
                                        subnet6=subnet6, gateway6=gateway6, options=options)
    events.emit(engine.store, "network", "create", rec["Id"], {"name": name, "type": "bridge"})
    return rec


def configure(engine, ipv6: Optional[bool] = None, fixed_cidr_v6: Optional[str] = None) -> tuple[dict, bool]:
    """Change the root's default-bridge options (dockerd's --ipv6, --fixed-cidr-v6; None:
    as it is, fixed_cidr_v6 "": none), checked before anything is written, and make the
    bridge so now unless containers are on it; (the options, True if those containers
    keep it as it was until the last one is gone, as dockerd's restart with running
    containers does)."""
    from .. import settings
    conf = settings.load(engine.store.root)
    if ipv6 is not None:
        conf["ipv6"] = ipv6
    if fixed_cidr_v6 is not None:
        conf.pop("fixed-cidr-v6", None)
        if fixed_cidr_v6:
            conf["fixed-cidr-v6"] = fixed_cidr_v6
    conf = settings.validate(conf)
    nets = Networks(engine.store)
    with nets.lock():
        nets.check_fixed_cidr6(conf.get("fixed-cidr-v6"))
        settings.save(engine.store.root, conf)
    nets.ensure_default()
    return conf, nets.default_pending()


def by_family(flag: str, values: list[str]) -> tuple[Optional[str], Optional[str]]:
    """docker's repeated --subnet (--gateway): (the IPv4 one, the IPv6 one), at most one of each."""
    v4 = [v for v in values if ":" not in v]
    v6 = [v for v in values if ":" in v]
    if len(v4) > 1 or len(v6) > 1:
        raise InvalidParameter(f"{flag}: one IPv4 and one IPv6 at most")
    return (v4[0] if v4 else None), (v6[0] if v6 else None)


HOST_NETWORKS = ("host", "none")  # dockerd's other pre-defined networks: no records, no bridge


def host_network(engine, name: str) -> dict:
    """dockerd's document of its pre-defined host or none network: an id of the root's own
    (dockerd makes one per daemon), drivers host and null, the running containers that use it."""
    import datetime as dt
    import hashlib
    from ..inspect import endpoint_id
    nid = hashlib.sha256(f"{engine.store.root}\0{name}".encode()).hexdigest()
    created = dt.datetime.fromtimestamp(os.stat(Networks(engine.store).dir).st_ctime, dt.timezone.utc)
    members = {c.id: {"Name": c.name, "EndpointID": endpoint_id(c.id, nid), "MacAddress": "", "IPv4Address": "",
                      "IPv6Address": ""}
               for c in all_containers(engine.store, shared=True)
               if c.status in ("running", "paused", "restarting")
               and (c.config.get("HostConfig") or {}).get("NetworkMode") == name}
    return {"Name": name, "Id": nid, "Created": created.isoformat().replace("+00:00", "Z"), "Scope": "local",
            "Driver": {"none": "null"}.get(name, name), "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False, "Attachable": False,
            "Ingress": False, "Containers": members,
            "Options": {}, "Labels": {}}


def inspect(engine, ref: str) -> dict:
    for name in HOST_NETWORKS:
        if ref == name or (len(ref) >= 3 and host_network(engine, name)["Id"].startswith(ref)):
            return host_network(engine, name)
    nets = Networks(engine.store)
    if ref in ("bridge", "default"):
        nets.ensure_default()
    nets.gc()
    r = nets.get(ref)
    return network_inspect(r)


def remove(engine, ref: str) -> dict:
    if ref in ("host", "none"):
        raise Forbidden(f"{ref} is a pre-defined network and cannot be removed", 1)
    nets = Networks(engine.store)
    r = nets.get(ref)
    users = [c.name for c in all_containers(engine.store) if r["Name"] in (c.config.get("NetworkConfigs") or {})]
    if users and not r.get("Default"):
        raise Conflict(f"error while removing network: network {r['Name']} is used by containers "
                          f"({', '.join(sorted(users))})", 1)
    r = nets.remove(ref)
    events.emit(engine.store, "network", "destroy", r["Id"], {"name": r["Name"], "type": "bridge"})
    return r


def prune(engine, filters: Optional[dict] = None) -> list[str]:
    """Every network no container is on (and that FILTERS, prune --filter's, let go; refused
    in dockerd's words before any goes)."""
    from ..prune_filters import Selection
    sel = Selection("networks", filters)
    nets = Networks(engine.store)
    used = {n for c in all_containers(engine.store) for n in (c.config.get("NetworkConfigs") or {})}
    out = []
    for r in nets.list():
        if sel and not sel.lets_go(r.get("Labels"), r.get("Created", "")):
            continue
        if not r.get("Default") and r["Name"] not in used:
            nets.remove(r["Id"])
            events.emit(engine.store, "network", "destroy", r["Id"], {"name": r["Name"], "type": "bridge"})
            out.append(r["Name"])
    events.emit(engine.store, "network", "prune", "", {"reclaimed": "0"})  # (as dockerd's: networks free no disk)
    return out


def connect(engine, net_ref: str, ref: str, aliases: list[str] | None = None,
            ip: Optional[str] = None, ip6: Optional[str] = None) -> None:
    """Attach a container to a network: now if it runs, and at each start."""
    from .sandbox import endpoint_settings, mode_kind
    nets = Networks(engine.store)
    r = nets.get(net_ref)
    c = engine.container(ref)
    if mode_kind(c.config["HostConfig"].get("NetworkMode") or "bridge") != "bridge":
        raise InvalidParameter(f"container {c.name} cannot be connected: it uses network mode "
                          f"{c.config['HostConfig']['NetworkMode']}")
    confs = c.config.setdefault("NetworkConfigs", {})
    if r["Name"] in confs:
        raise Forbidden(f"endpoint with name {c.name} already exists in network {r['Name']}")
    if (aliases or ip or ip6) and r.get("Default"):
        raise InvalidParameter("network-scoped aliases and addresses are supported only for user defined networks")
    if c.running():
        fd = os.open(f"/proc/{c.state['Pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            ep = nets.attach(r["Id"], c.id, c.name, fd, index=len(nets.endpoints_of(c.id)),
                                ip=ip, aliases=tuple(aliases or ()), ip6=ip6)
        finally:
            os.close(fd)
        ns = dict(c.state.get("NetworkSettings") or {})
        ns["Networks"] = {**(ns.get("Networks") or {}), r["Name"]: endpoint_settings(ep)}
        c.save_state(NetworkSettings=ns)
    confs[r["Name"]] = {"Aliases": list(aliases or []), "IPv4Address": ip or "", **({"IPv6Address": ip6} if ip6 else {})}
    c.save_config()
    events.emit(engine.store, "network", "connect", r["Id"], {"name": r["Name"], "container": c.id})


def disconnect(engine, net_ref: str, ref: str, force: bool = False) -> None:
    """Detach a container from a network. FORCE, as dockerd's: a container that is gone
    loses the endpoint left under its name, and a network that is gone is dropped from
    the container's settings."""
    nets = Networks(engine.store)
    r = nets.find(net_ref)
    if r is None and not force:
        r = nets.get(net_ref)
    if force and find(engine.store, ref) is None:
        if r is None:
            nets.get(net_ref)
        ep = next((cid for cid, ep in r["Endpoints"].items() if ref in (ep["Name"], cid) or
                   (len(ref) >= 3 and cid.startswith(ref))), None)
        if ep is None:
            raise NotFound(f"endpoint {ref} not found", 1)
        nets.release(ep, r["Id"])
        events.emit(engine.store, "network", "disconnect", r["Id"], {"name": r["Name"], "container": ep})
        return
    c = engine.container(ref)
    confs = c.config.get("NetworkConfigs") or {}
    name = r["Name"] if r is not None else net_ref
    if name not in confs:
        raise Conflict(f"container {c.name} is not connected to network {name}", 1)
    if r is not None:  # forced with the network gone, only the container's settings name it
        try:
            nets.release(c.id, r["Id"])
        except EngineError:
            if not force:
                raise
    del confs[name]
    c.save_config()
    if c.state.get("NetworkSettings"):
        ns = dict(c.state["NetworkSettings"])
        ns["Networks"] = {k: v for k, v in (ns.get("Networks") or {}).items() if k != name}
        c.save_state(NetworkSettings=ns)
    if r is not None:
        events.emit(engine.store, "network", "disconnect", r["Id"], {"name": name, "container": c.id})


def ports(engine, ref: str) -> list[tuple[str, str, str]]:
    """(container port/proto, host ip, host port) of a running container's published ports."""
    c = engine.container(ref)
    out = []
    for k, binds in published_ports(c).items():
        for b in binds or []:
            out.append((k, b["HostIp"], b["HostPort"]))
    return sorted(out, key=lambda t: (int(t[0].split("/")[0]), t[0], t[2]))
