"""Networks: their records, address management and the endpoints of containers.

A network is a record ``<root>/networks/<id>.msgpack``: its name, subnet,
gateway, bridge, flags, written once; and its endpoints (one per attached
container: name, aliases, address, MAC, host veth, published ports) are a record
of their own beside it, ``<id>.endpoints``, rewritten at every container's start
and end, as a running container's state is: without fsync (store.py).  They are
running containers', which a power loss ends: a record found empty after one is
read as no endpoints, and the definition is never at risk.  Every change happens
under the root's ``networks`` lock, so two fronts never hand out one address.
The links and rules that go with a record are made by netlink and firewall;
an endpoint whose container's shim is gone is released the next time anyone
looks (``gc``), so a crash leaves nothing behind for long.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path
from typing import Optional

from ..errors import EngineError
from ..store import DEFAULT_ROOT, Store, read_record, write_record

DEFAULT_NETWORK = "bridge"
BUILTIN = ("bridge", "host", "none")


class NetworkError(EngineError):
    """A network fault, with docker's exit code (1 unless said)."""
    exit_code = 1


OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
_GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
            "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def check_options(options: Optional[dict]) -> dict:
    """A bridge network's driver options (docker network create -o KEY=VALUE), checked:
    the bridge's name, the MTU of the bridge and of its containers' interfaces, and
    masquerade on or off are done; docker's other bridge options are refused (not done
    here, and not silently dropped); options of no driver of docker's are kept as
    dockerd keeps them (shown by inspect, used by nothing)."""
    import re
    out = {}
    for k, v in (options or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise NetworkError("network options: strings expected", status=400)
        if k == OPT_BRIDGE_NAME:
            if not re.fullmatch(r"[a-zA-Z0-9_.-]{1,15}", v):
                raise NetworkError(f"invalid bridge name {v!r}: up to 15 of [a-zA-Z0-9_.-]", status=400)
        elif k == OPT_MTU:
            if not (v.isdigit() and 68 <= int(v) <= 65535):
                raise NetworkError(f"invalid MTU {v!r}: a number from 68 to 65535", status=400)
        elif k == OPT_MASQUERADE:
            if v not in _GO_BOOL:
                raise NetworkError(f"invalid value {v!r} for {k}: true or false", status=400)
        elif k.startswith("com.docker.network."):
            raise NetworkError(f"network option {k} is not supported (dunnage does {OPT_BRIDGE_NAME}, {OPT_MTU} "
                               f"and {OPT_MASQUERADE})", status=400)
        out[k] = v
    return out


def masquerades(r: dict) -> bool:
    """Whether traffic from network R's subnet leaving the host is masqueraded."""
    return not r["Internal"] and _GO_BOOL.get((r.get("Options") or {}).get(OPT_MASQUERADE, "true"), True)


def mtu_of(r: dict) -> Optional[int]:
    v = (r.get("Options") or {}).get(OPT_MTU)
    return int(v) if v else None


def _pools():
    """Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/20 steps."""
    for i in range(17, 32):
        yield ipaddress.ip_network(f"172.{i}.0.0/16")
    for i in range(0, 256, 16):
        yield ipaddress.ip_network(f"192.168.{i}.0/20")


def _as_configured(r: dict, ipv6: bool, cidr6: str | None) -> bool:
    """Whether the default bridge's record R has the IPv6 the root's options ask for."""
    if not ipv6:
        return not r.get("Subnet6")
    return bool(r.get("Subnet6")) and (cidr6 is None or r["Subnet6"] == cidr6)


class Networks:
    def __init__(self, store: Store):
        self.store = store
        self.dir = store.root / "networks"
        self.dir.mkdir(exist_ok=True)
        default_root = str(store.root) == DEFAULT_ROOT
        tag = hashlib.sha256(str(store.root).encode()).hexdigest()[:8]
        self.table = "dunnage" if default_root else f"dunnage_{tag}"
        self.default_bridge = "dunnage0" if default_root else f"dn-{tag}"

    # ------------------------------------------------------------ records
    def _path(self, nid: str) -> Path:
        return self.dir / f"{nid}.msgpack"

    def _save(self, rec: dict) -> None:
        write_record(self._path(rec["Id"]), rec)

    def _save_endpoints(self, rec: dict) -> None:
        write_record(self._path(rec["Id"]).with_suffix(".endpoints"), rec["Endpoints"], durable=False)

    def lock(self):
        return self.store.lock("networks")

    def list(self) -> list[dict]:
        out = []
        for p in sorted(self.dir.glob("*.msgpack")):
            try:
                r = read_record(p)
            except Exception:  # noqa: BLE001 - a record removed meanwhile
                continue
            try:
                r["Endpoints"] = read_record(p.with_suffix(".endpoints"))
            except FileNotFoundError:
                pass  # none since it was made (or a record of an older dunnage's, with them inside)
            except Exception:  # noqa: BLE001 - found empty after a power loss: none of them runs
                r["Endpoints"] = {}
            out.append(r)
        return sorted(out, key=lambda r: r["Name"])

    def find(self, ref: str) -> Optional[dict]:
        recs = self.list()
        for r in recs:
            if r["Name"] == ref or r["Id"] == ref:
                return r
        matches = [r for r in recs if len(ref) >= 3 and r["Id"].startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def get(self, ref: str) -> dict:
        r = self.find(ref)
        if r is None:
            raise NetworkError(f"network {ref} not found", status=404)
        return r

    def firewall(self):
        from .firewall import Firewall
        return Firewall(self.table)

    # ------------------------------------------------------------ networks
    def _pick_subnet(self, taken: list) -> ipaddress.IPv4Network:
        for net in _pools():
            if not any(net.overlaps(t) for t in taken):
                return net
        raise NetworkError("all predefined address pools have been fully subnetted", status=500)

    def _taken(self) -> list:
        from .netlink import host_routes
        taken = host_routes()
        for r in self.list():
            taken.append(ipaddress.ip_network(r["Subnet"]))
        return taken

    def create(self, name: str, subnet: Optional[str] = None, gateway: Optional[str] = None,
               internal: bool = False, labels: Optional[dict] = None, *, ipv6: bool = False,
               subnet6: Optional[str] = None, gateway6: Optional[str] = None, options: Optional[dict] = None,
               _default: bool = False) -> dict:
        """A bridge network; with IPV6 dual-stack: SUBNET6 (a /64 of fd00::/8 made from the
        network's id otherwise) and GATEWAY6 (its first host otherwise) as well; OPTIONS:
        the driver's (check_options)."""
        import re
        if not _default and name in BUILTIN:
            raise NetworkError(f"{name} is a pre-defined network and cannot be created", 1, status=403)
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
            raise NetworkError(f'invalid network name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed', status=400)
        try:
            net = ipaddress.ip_network(subnet) if subnet else None
            gw = ipaddress.ip_address(gateway) if gateway else None
        except ValueError as e:
            raise NetworkError(f"invalid address: {e}", status=400) from None
        if net is not None and (net.version != 4 or net.prefixlen > 30):
            raise NetworkError(f"invalid subnet {subnet}: an IPv4 subnet of /30 or larger is needed", status=400)
        if gw is not None and net is None:
            raise NetworkError("--gateway needs --subnet", status=400)
        try:
            net6 = ipaddress.ip_network(subnet6) if subnet6 else None
            gw6 = ipaddress.ip_address(gateway6) if gateway6 else None
        except ValueError as e:
            raise NetworkError(f"invalid address: {e}", status=400) from None
        if (net6 is not None or gw6 is not None) and not ipv6:
            raise NetworkError("an IPv6 subnet or gateway needs --ipv6", status=400)
        if net6 is not None and (net6.version != 6 or net6.prefixlen > 126):
            raise NetworkError(f"invalid subnet {subnet6}: an IPv6 subnet of /126 or larger is needed", status=400)
        if gw6 is not None and net6 is None:
            raise NetworkError("an IPv6 gateway needs an IPv6 subnet", status=400)
        options = check_options(options)
        with self.lock():
            return self._create_locked(name, net, gw, internal, labels, ipv6, net6, gw6, _default, options)

    def _create_locked(self, name, net, gw, internal, labels, ipv6, net6, gw6, _default, options=None) -> dict:
        from ..containers import new_id
        from ..images.store import now_iso
        if any(r["Name"] == name for r in self.list()):
            raise NetworkError(f"network with name {name} already exists", status=409)
        taken = self._taken()
        if net is None:
            net = self._pick_subnet(taken)
        else:
            for t in taken:
                if net.overlaps(t):
                    owner = next((r["Name"] for r in self.list() if ipaddress.ip_network(r["Subnet"]) == t), None)
                    what = f'network "{owner}"' if owner else "a route of this host"
                    raise NetworkError(f"subnet {net} overlaps {what} ({t})", status=400)
        hosts = net.hosts()
        if gw is None:
            gw = next(iter(hosts))
        elif gw not in net or gw in (net.network_address, net.broadcast_address):
            raise NetworkError(f"gateway {gw} is not a host address of {net}", status=400)
        nid = new_id()
        options = dict(options or {})
        bridge = options.get(OPT_BRIDGE_NAME)
        if bridge is not None:
            import socket
            try:
                socket.if_nametoindex(bridge)
                in_use = True
            except OSError:
                in_use = any(r["Bridge"] == bridge for r in self.list())
            if in_use:
                raise NetworkError(f"bridge name {bridge} is in use by another interface", status=409)
        if ipv6:
            if net6 is None:  # a unique local /64 of its own (RFC 4193), as docker's default pool's
                net6 = ipaddress.ip_network(f"fd{nid[:2]}:{nid[2:6]}:{nid[6:10]}::/64")
            taken6 = [ipaddress.ip_network(r["Subnet6"]) for r in self.list() if r.get("Subnet6")]
            for t in taken6:
                if net6.overlaps(t):
                    owner = next(r["Name"] for r in self.list() if r.get("Subnet6") == str(t))
                    raise NetworkError(f'subnet {net6} overlaps network "{owner}" ({t})', status=400)
            if gw6 is None:
                gw6 = next(iter(net6.hosts()))
            elif gw6 not in net6 or gw6 == net6.network_address:
                raise NetworkError(f"gateway {gw6} is not a host address of {net6}", status=400)
        rec = {"Id": nid, "Name": name, "Driver": "bridge", "Scope": "local", "Created": now_iso(),
               "Subnet": str(net), "Gateway": str(gw), "Internal": bool(internal),
               "Labels": dict(labels or {}), "Default": _default,
               "Bridge": self.default_bridge if _default else bridge or f"dn-{nid[:12]}", "Endpoints": {}}
        if options:
            rec["Options"] = options
        if ipv6:
            rec.update(EnableIPv6=True, Subnet6=str(net6), Gateway6=str(gw6))
        from .netlink import delete_link, ensure_bridge
        try:
            ensure_bridge(rec["Bridge"], str(gw), net.prefixlen,
                          *((str(gw6), net6.prefixlen) if ipv6 else (None, None)), mtu=mtu_of(rec))
            fw = self.firewall()
            if fw.add_network(rec["Bridge"], str(net), bool(internal), rec.get("Subnet6"), masquerades(rec)):
                for other in self.list():
                    if other.get("Subnet6"):
                        fw.add_network(other["Bridge"], other["Subnet"], other["Internal"], other["Subnet6"],
                                       masquerades(other))
            self._save(rec)
        except BaseException as e:
            delete_link(rec["Bridge"])
            if isinstance(e, Exception):
                raise NetworkError(f"creating network {name}: {e}", status=500) from None
            raise
        return rec

    def ensure_default(self) -> dict:
        """The default bridge, made as the root's options (core/settings.py) say, or made
        again if they changed since, once no container is on it: dockerd makes it anew at
        each start unless containers run ("updated network configuration will not take
        effect"), and here every command is such a start."""
        from ..settings import default_bridge_ipv6
        ipv6, cidr6 = default_bridge_ipv6(self.store.root)
        r = self.find(DEFAULT_NETWORK)
        if r is not None and _as_configured(r, ipv6, cidr6):
            return r
        with self.lock():
            r = self.find(DEFAULT_NETWORK)  # made (or made again) by another front meanwhile
            if r is not None and not _as_configured(r, ipv6, cidr6):
                self.check_fixed_cidr6(cidr6 if ipv6 else None)
                self._gc_locked()
                r = self.get(r["Id"])
                if r["Endpoints"]:
                    return r
                self._destroy(r)
                keep = ipaddress.ip_network(r["Subnet"]), ipaddress.ip_address(r["Gateway"])  # its IPv4 as it was
            else:
                keep = None, None
            if r is None or keep[0] is not None:
                r = self._create_locked(DEFAULT_NETWORK, *keep, False, None, ipv6,
                                        ipaddress.ip_network(cidr6) if cidr6 else None, None, True)
            return r

    def check_fixed_cidr6(self, cidr6: Optional[str]) -> None:
        """Refuse a fixed-cidr-v6 that overlaps a user-defined network's IPv6 subnet (before
        the default bridge is taken down to be made again with it)."""
        if not cidr6:
            return
        net6 = ipaddress.ip_network(cidr6)
        for o in self.list():
            if not o.get("Default") and o.get("Subnet6") and net6.overlaps(ipaddress.ip_network(o["Subnet6"])):
                raise NetworkError(f'fixed-cidr-v6 {cidr6} overlaps network "{o["Name"]}" ({o["Subnet6"]})',
                                   125, status=400)

    def default_pending(self) -> bool:
        """True if the default bridge is not as the root's options say (containers on it
        keep it as it is until the last one is gone)."""
        from ..settings import default_bridge_ipv6
        r = self.find(DEFAULT_NETWORK)
        return r is not None and not _as_configured(r, *default_bridge_ipv6(self.store.root))

    def remove(self, ref: str, force_default: bool = False) -> dict:
        with self.lock():
            r = self.get(ref)
            if r.get("Default") and not force_default:
                raise NetworkError(f"{r['Name']} is a pre-defined network and cannot be removed", 1, status=403)
            self._gc_locked()
            r = self.get(r["Id"])
            if r["Endpoints"]:
                names = ", ".join(sorted(e["Name"] for e in r["Endpoints"].values()))
                raise NetworkError(f"error while removing network: network {r['Name']} has active endpoints ({names})",
                                   status=409)
            self._destroy(r)
            if not self.list():
                self.firewall().destroy()
        return r

    def _destroy(self, r: dict) -> None:
        from .netlink import delete_link
        self.firewall().remove_network(r["Bridge"], r["Subnet"], r["Internal"], r.get("Subnet6"), masquerades(r))
        delete_link(r["Bridge"])
        self._path(r["Id"]).with_suffix(".endpoints").unlink(missing_ok=True)
        os.unlink(self._path(r["Id"]))

    def prune(self) -> list[str]:
        out = []
        with self.lock():
            self._gc_locked()
            for r in self.list():
                if not r.get("Default") and not r["Endpoints"]:
                    self._destroy(r)
                    out.append(r["Name"])
        return out

    def destroy_all(self) -> None:
        """Every network of this root, the default one too, and the table (used
        by the tests; containers must be gone)."""
        with self.lock():
            self._gc_locked()
            for r in self.list():
                for cid in list(r["Endpoints"]):
                    self._release_locked(cid)
                self._destroy(self.get(r["Id"]))
            self.firewall().destroy()

    # ------------------------------------------------------------ endpoints
    def attach(self, ref: str, cid: str, cname: str, netns_fd: int, index: int = 0,
               ip: Optional[str] = None, aliases: tuple = (), ports: list | None = None,
               ip6: Optional[str] = None) -> dict:
        """Give container CID an interface eth<INDEX> on network REF inside
        NETNS_FD; PORTS (reserved by the caller) are published to it."""
        from .netlink import attach as veth, mac_for
        with self.lock():
            r = self.get(ref)
            if cid in r["Endpoints"]:
                raise NetworkError(f"container {cname} is already attached to network {r['Name']}", status=409)
            net = ipaddress.ip_network(r["Subnet"])
            used = {e["IPAddress"] for e in r["Endpoints"].values()} | {r["Gateway"]}
            if ip:
                try:
                    want = ipaddress.ip_address(ip)
                except ValueError:
                    raise NetworkError(f"invalid IP address: {ip}", status=400) from None
                if want not in net or want in (net.network_address, net.broadcast_address):
                    raise NetworkError(f"no configured subnet contains IP address {ip}", status=400)
                if str(want) in used:
                    raise NetworkError(f"Address already in use: {ip}", status=409)
                addr = str(want)
            else:
                addr = next((str(h) for h in net.hosts() if str(h) not in used), None)
                if addr is None:
                    raise NetworkError(f"no free address left in network {r['Name']} ({net})", status=500)
            host_if = f"dv{cid[:10]}{index}"
            mac = mac_for(addr)
            # (IPv6 host addresses of an IPv4-only network, [::1] of any: relayed by the shim, sandbox.relay_target)
            mappings = [dict(m, IP=addr) for m in ports or [] if ":" not in m["HostIp"] or m["HostIp"] == "::1"]
            ep = {"Container": cid, "Name": cname, "Aliases": list(aliases), "IPAddress": addr,
                  "MacAddress": mac, "Veth": host_if, "Interface": f"eth{index}", "Ports": mappings}
            addresses = [(addr, net.prefixlen)]
            gateways = [] if r["Internal"] or index else [r["Gateway"]]  # one default route: eth0's
            if r.get("Subnet6"):
                net6 = ipaddress.ip_network(r["Subnet6"])
                used6 = {e.get("GlobalIPv6Address") for e in r["Endpoints"].values()} | {r["Gateway6"]}
                if ip6:
                    try:
                        want6 = ipaddress.ip_address(ip6)
                    except ValueError:
                        raise NetworkError(f"invalid IP address: {ip6}", status=400) from None
                    if want6 not in net6 or want6 == net6.network_address:
                        raise NetworkError(f"no configured subnet contains IP address {ip6}", status=400)
                    if str(want6) in used6:
                        raise NetworkError(f"Address already in use: {ip6}", status=409)
                    addr6 = str(want6)
                else:
                    addr6 = next((str(h) for h in net6.hosts() if str(h) not in used6), None)
                if addr6 is None:
                    raise NetworkError(f"no free address left in network {r['Name']} ({net6})", status=500)
                ep.update(GlobalIPv6Address=addr6, GlobalIPv6PrefixLen=net6.prefixlen)
                addresses.append((addr6, net6.prefixlen))
                mappings += [dict(m, IP=addr6) for m in ports or [] if ":" in m["HostIp"] and m["HostIp"] != "::1"]
                gateways += [r["Gateway6"]] if gateways else []
            try:
                veth(netns_fd, r["Bridge"], host_if, f"eth{index}", addresses, gateways, mac, mtu_of(r))
            except Exception as e:  # noqa: BLE001
                raise NetworkError(f"attaching to network {r['Name']}: {e}", status=500) from None
            try:
                if mappings:  # (none: nftables is not touched, nor imported)
                    self.firewall().add_ports(mappings)
            except Exception as e:  # noqa: BLE001
                from .netlink import delete_link
                delete_link(host_if)
                raise NetworkError(f"publishing ports: {e}", status=500) from None
            r["Endpoints"][cid] = ep
            self._save_endpoints(r)
        return dict(ep, NetworkID=r["Id"], Network=r["Name"], Gateway=r["Gateway"],
                    IPPrefixLen=net.prefixlen, IPv6Gateway=r.get("Gateway6", "") if r.get("Subnet6") else "")

    def release(self, cid: str, ref: Optional[str] = None, links: bool = True) -> None:
        """Drop CID's endpoints (on network REF only, if given): veth, ports, address.
        LINKS=False leaves the veths to the kernel, for a caller that has let go of the
        container's namespace: its end takes the veth pairs with it, a few tens of ms
        later, where deleting one here waits about 20 ms for the kernel's grace periods."""
        with self.lock():
            self._release_locked(cid, ref, links)

    def _release_locked(self, cid: str, ref: Optional[str] = None, links: bool = True) -> None:
        from .netlink import delete_link
        for r in self.list():
            if cid not in r["Endpoints"] or (ref is not None and ref not in (r["Name"], r["Id"])):
                continue
            ep = r["Endpoints"][cid]
            try:
                if ep.get("Ports"):
                    self.firewall().remove_ports(ep["Ports"])
            except Exception:  # noqa: BLE001 - the table is gone: nothing to remove
                pass
            if links:
                try:
                    delete_link(ep["Veth"])
                except Exception:  # noqa: BLE001
                    pass
            del r["Endpoints"][cid]
            self._save_endpoints(r)

    def gc(self) -> None:
        with self.lock():
            self._gc_locked()

    def _gc_locked(self) -> None:
        """Release endpoints whose container's shim is gone (crash, kill -9)."""
        from ..containers import load
        for r in self.list():
            for cid in list(r["Endpoints"]):
                try:
                    c = load(self.store, cid)
                    alive = c.shim_alive() or c.running()  # a container outliving its shim keeps its network
                except Exception:  # noqa: BLE001 - the container is gone
                    alive = False
                if not alive:
                    self._release_locked(cid)

    def endpoints_of(self, cid: str) -> list[tuple[dict, dict]]:
        """(network, endpoint) pairs of container CID."""
        return [(r, r["Endpoints"][cid]) for r in self.list() if cid in r["Endpoints"]]

    def names_for(self, cid: str) -> dict[str, list[str]]:
        """Names container CID can resolve: every container (name, aliases, short
        id) on the user-defined networks it is attached to -> its addresses there
        (a name several containers share: all of theirs; a name on two of its
        networks: the first's), and the reverse pointer name of each address ->
        NAME.NETWORK (as docker's PTR answers)."""
        out: dict[str, list[str]] = {}
        for r in self.list():
            if r.get("Default") or cid not in r["Endpoints"]:
                continue
            here: dict[str, list[str]] = {}
            for ocid, ep in r["Endpoints"].items():
                addresses = [a for a in (ep["IPAddress"], ep.get("GlobalIPv6Address")) if a]
                for n in dict.fromkeys(x.lower() for x in [ep["Name"], ocid[:12], *ep.get("Aliases", [])]):
                    here.setdefault(n, []).extend(addresses)
                for a in addresses:
                    out.setdefault(ipaddress.ip_address(a).reverse_pointer, []).append(f"{ep['Name']}.{r['Name']}")
            for n, addresses in here.items():
                out.setdefault(n, addresses)
        return out
