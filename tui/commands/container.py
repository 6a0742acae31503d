"""Container: the management command, every container verb under one name."""
from __future__ import annotations

import argparse

from dunnage.core import Engine
from dunnage.tui.commands.grammar import Parser, filters_of, run_verb
from dunnage.tui.commands.output import confirm, print_pruned
from dunnage.tui.rows import human_size


def cmd_container(e: Engine, a) -> int:
    if a.sub == "prune":
        q = prune_parser("container prune")
        b = q.parse_args(a.args)
        filters = filters_of(b.filter)
        if not b.force and not confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?"):
            print("Total reclaimed space: 0B")  # (docker's CLI: the total of nothing)
            return 0
        gone, freed = e.prune("containers", filters=filters)
        print_pruned("Deleted Containers:", gone)
        print(f"Total reclaimed space: {human_size(freed)}")
        return 0
    mapping = {"ls": "ps", "list": "ps"}
    verb = mapping.get(a.sub, a.sub)
    return run_verb(e, a, [verb] + (["--type", "container"] if verb == "inspect" else []) + a.args)


def prune_parser(verb: str, all_: bool = False) -> Parser:
    """The flags of a prune reached through a management command's arguments (container
    prune, image prune): -f/--force, --filter KEY=VALUE (and -a/--all with ALL_)."""
    q = Parser(prog=f"dunnage {verb}")
    q.add_argument("-f", "--force", action="store_true", help="do not ask")
    q.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="until, label, label! (and dangling for images), as docker's")
    if all_:
        q.add_argument("-a", "--all", action="store_true")
    return q


def register(sub) -> None:
    p = sub.add_parser("container", help="manage containers (ls, prune, and every container verb)")
    p.add_argument("sub")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_container)
