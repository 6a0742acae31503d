"""Network and its verbs, and port (a container's published ports)."""
from __future__ import annotations

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter, NotFound
from dunnage.tui.commands.grammar import Parser
from dunnage.tui.commands.output import confirm, each, inspect_each, print_pruned, render
from dunnage.tui.commands.grammar import filters_of


def cmd_network(e: Engine, a) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(a.sub, a.sub)
    if sub == "create":
        if a.driver != "bridge":
            raise NotFound(f'plugin "{a.driver}" not found (the bridge driver is the only one)')
        from dunnage.core.net.verbs import by_family
        (subnet, subnet6), (gateway, gateway6) = by_family("--subnet", a.subnet), by_family("--gateway", a.gateway)
        options = {}
        for o in a.opt:
            k, eq, v = o.partition("=")
            if not eq:
                raise InvalidParameter(f"invalid option {o!r}: KEY=VALUE expected", 125)
            options[k] = v
        print(e.network_create(a.name, subnet, gateway, a.internal, a.label, ipv6=a.ipv6, subnet6=subnet6,
                               gateway6=gateway6, options=options)["Id"])
        return 0
    if sub == "ls":
        from dunnage.core.network_filters import matcher
        filters = filters_of(a.filter)
        width = None if a.no_trunc else 12
        rows = [{"ID": r["Id"][:width], "Name": r["Name"], "Driver": "bridge", "Scope": "local",
                 "IPv6": str(bool(r.get("EnableIPv6"))).lower(), "Internal": str(r["Internal"]).lower(), "Labels": ",".join(
                     f"{k}={v}" for k, v in r["Labels"].items()), "CreatedAt": r["Created"],
                 "Subnet": r["Subnet"]} for r in e.networks(filters)]
        builtin = matcher(filters)
        from dunnage.core.net.verbs import HOST_NETWORKS, host_network
        docs = [host_network(e, n) for n in HOST_NETWORKS]
        rows += [{"ID": d["Id"][:width], "Name": d["Name"], "Driver": d["Driver"], "Scope": "local", "IPv6": "false",
                  "Internal": "false", "Labels": "", "CreatedAt": d["Created"], "Subnet": ""}
                 for d in docs if builtin(d)]
        rows.sort(key=lambda r: r["Name"])
        render(a.format, rows, [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")],
               "ID" if not a.quiet else "ID", a.quiet)
        return 0
    if sub == "inspect":
        return inspect_each(a.format, a.networks, e.network_inspect)
    if sub == "rm":
        return each(a, a.networks, e.network_remove)
    if sub == "prune":
        filters = filters_of(a.filter)
        if not a.force and not confirm("WARNING! This will remove all custom networks not used by at least one "
                                       "container.\nAre you sure you want to continue?"):
            return 0
        return print_pruned("Deleted Networks:", e.network_prune(filters))
    if sub == "connect":
        e.network_connect(a.network, a.container, a.alias, a.ip, a.ip6)
        return 0
    e.network_disconnect(a.network, a.container, a.force)
    return 0


def cmd_port(e: Engine, a) -> int:
    ports = e.ports(a.container)
    if a.private:
        want = a.private if "/" in a.private else a.private + "/tcp"
        ports = [p for p in ports if p[0] == want]
        if not ports:
            raise NotFound(f"No public port '{want}' published for {a.container}", 1)
        for _, ip, hp in ports:
            print(f"[{ip}]:{hp}" if ":" in ip else f"{ip}:{hp}")
        return 0
    for k, ip, hp in ports:
        print(f"{k} -> [{ip}]:{hp}" if ":" in ip else f"{k} -> {ip}:{hp}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("network", help="manage networks (create, ls, inspect, rm, prune, connect, disconnect)")
    nsub = p.add_subparsers(dest="sub", metavar="COMMAND", parser_class=Parser, required=True)
    q = nsub.add_parser("create", help="create a bridge network")
    q.add_argument("--subnet", action="append", default=[],
                   help="CIDR, e.g. 10.89.0.0/24 (a free one is picked otherwise); and an IPv6 one with --ipv6")
    q.add_argument("--gateway", action="append", default=[],
                   help="the bridge's address (the subnet's first host otherwise); and an IPv6 one")
    q.add_argument("--ipv6", action="store_true", help="dual stack: IPv6 addresses too (a ULA /64 unless --subnet)")
    q.add_argument("--internal", action="store_true", help="no way out of the network")
    q.add_argument("--label", action="append", default=[])
    q.add_argument("-d", "--driver", default="bridge", help="bridge (the only driver)")
    q.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a driver option: com.docker.network.bridge.name, com.docker.network.driver.mtu, "
                        "com.docker.network.bridge.enable_ip_masquerade")
    q.add_argument("name")
    q = nsub.add_parser("ls", aliases=["list"], help="list networks")
    q.add_argument("-q", "--quiet", action="store_true")
    q.add_argument("--no-trunc", action="store_true", help="whole network IDs")
    q.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="name, id, driver, label, type (builtin, custom), scope, dangling (as docker's)")
    q.add_argument("--format")
    q = nsub.add_parser("inspect", help="show networks as JSON")
    q.add_argument("--format", "-f")
    q.add_argument("networks", nargs="+")
    q = nsub.add_parser("rm", aliases=["remove"], help="remove networks")
    q.add_argument("networks", nargs="+")
    q = nsub.add_parser("prune", help="remove every network no container uses")
    q.add_argument("-f", "--force", action="store_true")
    q.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="until, label, label! (as docker's)")
    q = nsub.add_parser("connect", help="attach a container to a network")
    q.add_argument("--alias", action="append", default=[])
    q.add_argument("--ip")
    q.add_argument("--ip6", help="its IPv6 address (a dual-stack network)")
    q.add_argument("network")
    q.add_argument("container")
    q = nsub.add_parser("disconnect", help="detach a container from a network")
    q.add_argument("-f", "--force", action="store_true")
    q.add_argument("network")
    q.add_argument("container")
    p.set_defaults(fn=cmd_network)

    p = sub.add_parser("port", help="list a container's published ports")
    p.add_argument("container")
    p.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    p.set_defaults(fn=cmd_port)
