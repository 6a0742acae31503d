"""Container: the management command, every container verb under one name."""
from __future__ import annotations

import argparse

from dunnage.core import Engine
from dunnage.tui.commands.grammar import run_verb
from dunnage.tui.commands.output import print_pruned
from dunnage.tui.rows import human_size


def cmd_container(e: Engine, a) -> int:
    if a.sub == "prune":
        gone, freed = e.prune("containers")
        print_pruned("Deleted Containers:", gone)
        print(f"Total reclaimed space: {human_size(freed)}")
        return 0
    mapping = {"ls": "ps", "list": "ps"}
    return run_verb(e, a, [mapping.get(a.sub, a.sub)] + a.args)


def register(sub) -> None:
    p = sub.add_parser("container", help="manage containers (ls, prune, and every container verb)")
    p.add_argument("sub")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_container)
