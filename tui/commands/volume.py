"""Volume and its verbs."""
from __future__ import annotations

from dunnage.core import Engine, EngineError
from dunnage.core.errors import NotFound
from dunnage.tui.commands.grammar import Parser
from dunnage.tui.commands.output import confirm, each, inspect_each, print_pruned, render
from dunnage.tui.commands.grammar import filters_of
from dunnage.tui.rows import human_size


def cmd_volume(e: Engine, a) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(a.sub, a.sub)
    if sub == "create":
        if a.driver != "local":
            raise NotFound(f'plugin "{a.driver}" not found (the local driver is the only one)')
        print(e.volume_create(a.name, a.label)["Name"])
        return 0
    if sub == "ls":
        rows = [{"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": "local",
                 "Labels": ",".join(f"{k}={x}" for k, x in v["Labels"].items()), "CreatedAt": v["CreatedAt"]}
                for v in e.volumes(filters_of(a.filter))]
        render(a.format, rows, [("DRIVER", "Driver"), ("VOLUME NAME", "Name")], "Name", a.quiet)
        return 0
    if sub == "inspect":
        return inspect_each(a.format, a.volumes, e.volume_inspect)
    if sub == "rm":
        def remove(name: str) -> None:  # -f: a missing volume is no error (one in use still is), as dockerd
            try:
                e.volume_remove(name)
            except EngineError as ex:
                if not (a.force and ex.status == 404):
                    raise
        return each(a, a.volumes, remove)
    filters = filters_of(a.filter)
    which = "all" if a.all else "anonymous"  # (what goes: docker 23's prune, and its words)
    if not a.force and not confirm(f"WARNING! This will remove {which} local volumes not used by at least one "
                                   "container.\nAre you sure you want to continue?"):
        print("Total reclaimed space: 0B")  # (docker's CLI: the total of nothing)
        return 0
    names, freed = e.prune("volumes", a.all, filters)
    print_pruned("Deleted Volumes:", names)
    print(f"Total reclaimed space: {human_size(freed)}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("volume", help="manage volumes (create, ls, inspect, rm, prune)")
    vsub = p.add_subparsers(dest="sub", metavar="COMMAND", parser_class=Parser, required=True)
    q = vsub.add_parser("create", help="create a volume")
    q.add_argument("--label", action="append", default=[])
    q.add_argument("-d", "--driver", default="local")
    q.add_argument("name", nargs="?")
    q = vsub.add_parser("ls", aliases=["list"], help="list volumes")
    q.add_argument("-q", "--quiet", action="store_true")
    q.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="dangling, name, label, driver (as docker's)")
    q.add_argument("--format")
    q = vsub.add_parser("inspect", help="show volumes as JSON")
    q.add_argument("--format", "-f")
    q.add_argument("volumes", nargs="+")
    q = vsub.add_parser("rm", aliases=["remove"], help="remove volumes")
    q.add_argument("-f", "--force", action="store_true")
    q.add_argument("volumes", nargs="+")
    q = vsub.add_parser("prune", help="remove unused anonymous volumes (-a: every unused volume)")
    q.add_argument("-a", "--all", action="store_true")
    q.add_argument("-f", "--force", action="store_true")
    q.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE", help="label, label! (as docker's)")
    p.set_defaults(fn=cmd_volume)
