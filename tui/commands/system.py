"""System (df, prune, info, reset, service), info and version."""
from __future__ import annotations

import sys
import time

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter, System
from dunnage.core.units import bytes_decimal, human_duration, since
from dunnage.tui.commands.grammar import Parser, filters_of, go_bool
from dunnage.tui.commands.output import confirm, print_pruned, prune_line, render
from dunnage.tui.commands.ps import ps_rows
from dunnage.tui.rows import human_size, info_text


def _reclaimable(kind: str, u: dict) -> str:
    if u["size"] and kind != "Build Cache":
        return f"{human_size(u['reclaimable'])} ({u['reclaimable'] * 100 // u['size']}%)"
    return human_size(u["reclaimable"])


def _df_verbose(e: Engine, du: dict) -> dict:
    """docker system df -v's rows: images, containers, volumes, build cache."""
    images = []
    for it in du["Images"]["items"]:
        img = it["image"]
        repo, _, tag = (img.tags[0] if img.tags else "<none>:<none>").rpartition(":")
        images.append({"Containers": str(it["containers"]), "CreatedAt": img.created,
                       "CreatedSince": human_duration(since(img.created)) + " ago", "Digest": "<none>",
                       "ID": img.short_id, "Repository": repo, "Tag": tag, "Size": bytes_decimal(it["size"]),
                       "SharedSize": human_size(it["shared"]), "UniqueSize": human_size(it["size"] - it["shared"]),
                       "VirtualSize": human_size(it["size"])})
    ps = {r["ID"]: r for r in ps_rows(e, True)}
    containers = [dict(ps.get(it["container"].short_id, {"ID": it["container"].short_id}),
                       Size=bytes_decimal(it["size"])) for it in du["Containers"]["items"]]
    volumes = [{"Name": it["volume"]["Name"], "Driver": it["volume"]["Driver"], "Links": str(it["links"]),
                "Size": human_size(it["size"]), "Mountpoint": it["volume"]["Mountpoint"], "Scope": "local",
                "Labels": ",".join(f"{k}={v}" for k, v in it["volume"]["Labels"].items()),
                "CreatedAt": it["volume"]["CreatedAt"]} for it in du["Local Volumes"]["items"]]
    cache = [{"ID": it["id"][7:19], "CacheType": "regular", "Size": human_size(it["size"]),
              "CreatedSince": human_duration(max(0.0, time.time() - it["created"])) + " ago",
              "LastUsedSince": human_duration(max(0.0, time.time() - it["created"])) + " ago", "UsageCount": "1",
              "Shared": "true" if it["in_use"] else "false", "Description": it["description"]}
             for it in du["Build Cache"]["items"]]
    return {"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache}


def _cmd_service(e: Engine, a) -> int:
    """system service: the Docker Engine API on a unix socket (dunnage.api), in the foreground."""
    from dunnage.api import serve
    if a.time < 0:
        raise InvalidParameter(f"invalid argument \"{a.time}\" for \"-t, --time\" flag: must not be negative")
    uri = a.uri or f"unix://{e.store.run}/docker.sock"
    try:
        serve(e.store.root, uri, float(a.time))
    except ValueError as ex:
        raise InvalidParameter(str(ex)) from None
    except OSError as ex:
        raise System(f"system service: {uri}: {ex.strerror or ex}", 1) from None
    return 0


def _cmd_config(e: Engine, a) -> int:
    """The root's options (dockerd's daemon.json): shown, or changed with dockerd's flags."""
    import json
    if a.ipv6 is None and a.fixed_cidr_v6 is None:
        print(json.dumps(e.options(), indent=2))
        return 0
    _, pending = e.configure(a.ipv6, a.fixed_cidr_v6)
    if pending:
        print("WARNING: there are running containers on the default bridge: it stays as it is "
              "until none is, then is made again as configured", file=sys.stderr)
    return 0


def cmd_system(e: Engine, a) -> int:
    """system df [-v] | prune [-a] [--volumes] [-f] | info | reset [-f] | service [--time S] [URI]
    | config [--ipv6[=BOOL]] [--fixed-cidr-v6 CIDR]."""
    if a.sub == "df":
        du = e.disk_usage()
        if not a.verbose:
            rows = [{"Type": k, "TotalCount": str(u["total"]), "Active": str(u["active"]),
                     "Size": human_size(u["size"]), "Reclaimable": _reclaimable(k, u)} for k, u in du.items()]
            render(a.format, rows, [("TYPE", "Type"), ("TOTAL", "TotalCount"), ("ACTIVE", "Active"),
                                    ("SIZE", "Size"), ("RECLAIMABLE", "Reclaimable")])
            return 0
        v = _df_verbose(e, du)
        if a.format:
            render(a.format, [v], [])
            return 0
        print("Images space usage:\n")
        render(None, v["Images"], [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"),
                                   ("CREATED", "CreatedSince"), ("SIZE", "Size"), ("SHARED SIZE", "SharedSize"),
                                   ("UNIQUE SIZE", "UniqueSize"), ("CONTAINERS", "Containers")])
        print("\nContainers space usage:\n")
        render(None, v["Containers"], [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                                       ("LOCAL VOLUMES", "LocalVolumes"), ("SIZE", "Size"),
                                       ("CREATED", "RunningFor"), ("STATUS", "Status"), ("NAMES", "Names")])
        print("\nLocal Volumes space usage:\n")
        render(None, v["Volumes"], [("VOLUME NAME", "Name"), ("LINKS", "Links"), ("SIZE", "Size")])
        print(f"\nBuild cache usage: {human_size(du['Build Cache']['size'])}\n")
        render(None, v["BuildCache"], [("CACHE ID", "ID"), ("CACHE TYPE", "CacheType"), ("SIZE", "Size"),
                          ("CREATED", "CreatedSince"), ("LAST USED", "LastUsedSince"), ("USAGE", "UsageCount"),
                          ("SHARED", "Shared")])
        return 0
    if a.sub == "info":
        return cmd_info(e, a)
    if a.sub == "service":
        return _cmd_service(e, a)
    if a.sub == "config":
        return _cmd_config(e, a)
    if a.sub == "prune":
        filters = filters_of(a.filter)
        if a.volumes and "until" in filters:  # (docker's CLI's own refusal, before it asks)
            raise InvalidParameter('ERROR: The "until" filter is not supported with "--volumes"', 1)
        from dunnage.core.prune_filters import Selection
        for kind in ("containers", "networks", "images") + (("volumes",) if a.volumes else ()):
            Selection(kind, filters)  # (refused before anything goes, in the first prune's words as docker's)
        if not a.force:
            warnings = ["all stopped containers", "all networks not used by at least one container"]
            if a.volumes:
                warnings.append("all anonymous volumes not used by at least one container")
            warnings.append("all images without at least one container associated to them" if a.all
                            else "all dangling images")
            warnings.append("all build cache" if a.all else "all dangling build cache")  # (docker 20.10's words)
            text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
            shown = sorted(f"{k}={v}" for k in ("label", "label!", "until") for v in filters.get(k, ()))
            if shown:  # (the filters docker's CLI knows of, as it lists them)
                text += "\n  Items to be pruned will be filtered with:\n" + "".join(f"  - {f}\n" for f in shown)
            if not confirm(text + "\nAre you sure you want to continue?"):
                return 0
        gone, freed = e.prune("containers", filters=filters)
        print_pruned("Deleted Containers:", gone)
        print_pruned("Deleted Networks:", e.network_prune(filters))
        if a.volumes:
            names, n = e.prune("volumes", filters=filters)
            print_pruned("Deleted Volumes:", names)
            freed += n
        lines, n = e.prune("images", a.all, {**filters, "dangling": ["false" if a.all else "true"]})
        print_pruned("Deleted Images:", [prune_line(ln) for ln in lines])
        cached = 0
        if not filters:  # (the build cache has no labels or times the filters could select by: kept)
            from dunnage.builder.cache import Cache  # the build cache is the builder's (a front's) record
            _, cached = Cache(e).prune(a.all)
        print(f"Total reclaimed space: {human_size(freed + n + cached)}")
        return 0
    if not a.force:  # reset
        what = ["all containers", "all images", "all networks, their bridges and this root's nftables table",
                "all build cache", "all volumes", f'the root directory: "{e.store.root}"',
                f'the run directory: "{e.store.run}"']
        if not confirm("WARNING! This will remove:\n" + "".join(f"        - {w}\n" for w in what)
                        + "Are you sure you want to continue?"):
            return 0
    e.reset()
    return 0


def cmd_info(e: Engine, a) -> int:
    """docker info: this root and this host."""
    i = e.info()
    if a.format:
        render(a.format, [i], [])
        return 0
    print(info_text(i))
    for w in i["Warnings"]:
        print(w, file=sys.stderr)
    return 0


def version_document() -> dict:
    """docker version's document: the command (Client) and the engine it drives, which
    is this same process (Server, the Engine API's /version)."""
    from dunnage.api.system import version as api_version
    from dunnage.api.version import API_VERSION
    v = api_version(None)
    client = {"Platform": {"Name": "dunnage"}, "Version": v["Version"], "ApiVersion": API_VERSION,
              "DefaultAPIVersion": API_VERSION, "GitCommit": v["GitCommit"], "GoVersion": v["GoVersion"],
              "Os": v["Os"], "Arch": v["Arch"], "BuildTime": v["BuildTime"], "Context": "default",
              "Experimental": True}
    return {"Client": client, "Server": v}


def version_text(d: dict) -> str:
    """As docker's CLI lays the document out (its tabwriter: cells of at least 20 columns)."""
    c, s = d["Client"], d["Server"]
    rows = [f"Client: {c['Platform']['Name']}"]
    rows += [f" {k + ':':<19}{v}" for k, v in (
        ("Version", c["Version"]), ("API version", c["ApiVersion"]), ("Go version", c["GoVersion"]),
        ("Git commit", c["GitCommit"]), ("Built", c["BuildTime"]), ("OS/Arch", f"{c['Os']}/{c['Arch']}"),
        ("Context", c["Context"]), ("Experimental", str(c["Experimental"]).lower()))]
    rows += ["", f"Server: {s['Platform']['Name']}"]
    for comp in s["Components"]:
        det = comp["Details"]
        rows.append(f" {comp['Name']}:")
        rows += [f"  {k + ':':<18}{v}" for k, v in (
            ("Version", comp["Version"]),
            ("API version", f"{det['ApiVersion']} (minimum version {det['MinAPIVersion']})"),
            ("Go version", det["GoVersion"]), ("Git commit", det["GitCommit"]), ("Built", det["BuildTime"]),
            ("OS/Arch", f"{det['Os']}/{det['Arch']}"), ("Experimental", det["Experimental"]))]
    return "\n".join(rows)


def cmd_version(e: Engine, a) -> int:
    """docker version: the command's and the engine's versions."""
    d = version_document()
    if a.format:
        render(a.format, [d], [])
        return 0
    print(version_text(d))
    return 0


def register(sub) -> None:
    p = sub.add_parser("system", help="manage this root (df, prune, info, reset, config)")
    ssub = p.add_subparsers(dest="sub", metavar="COMMAND", parser_class=Parser, required=True)
    q = ssub.add_parser("df", help="disk usage of images, containers, volumes and build cache")
    q.add_argument("-v", "--verbose", action="store_true", help="each image, container and volume")
    q.add_argument("--format")
    q = ssub.add_parser("prune", help="remove stopped containers, unused networks, dangling images")
    q.add_argument("-a", "--all", action="store_true", help="every image no container uses, not only dangling ones")
    q.add_argument("--volumes", action="store_true", help="anonymous volumes no container uses too")
    q.add_argument("-f", "--force", action="store_true", help="do not ask")
    q.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="until, label, label! (as docker's; the build cache is kept under a filter)")
    q = ssub.add_parser("info", help="system-wide information")
    q.add_argument("-f", "--format")
    from dunnage.tui.commands.events import events_flags
    events_flags(ssub.add_parser("events", help="lifecycle events, past and followed (as events)"))  # (its fn)
    q = ssub.add_parser("reset", help="remove everything of this root: containers, images, volumes, networks")
    q.add_argument("-f", "--force", action="store_true", help="do not ask")
    q = ssub.add_parser("service", help="serve the Docker Engine API on a unix socket, in the foreground")
    q.add_argument("-t", "--time", type=int, default=5, help="exit after SECONDS without a request (0: never)")
    q.add_argument("uri", nargs="?", help="unix:///PATH (default: docker.sock in the root's run directory)")
    q = ssub.add_parser("config", help="show or change this root's options (dockerd's daemon.json)")
    go_bool(q, "--ipv6", default=None, help="IPv6 on the default bridge (dual stack)")
    q.add_argument("--fixed-cidr-v6", metavar="CIDR", help='the default bridge\'s IPv6 subnet ("": a ULA /64 of its own)')
    p.set_defaults(fn=cmd_system)

    p = sub.add_parser("info", help="system-wide information")
    p.add_argument("-f", "--format")
    p.set_defaults(fn=cmd_info)

    p = sub.add_parser("version", help="the versions of the command and the engine")
    p.add_argument("-f", "--format", help="a Go template over the document (.Client, .Server)")
    p.set_defaults(fn=cmd_version)
