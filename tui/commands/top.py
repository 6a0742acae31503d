"""Top: the processes of a container."""
from __future__ import annotations

import argparse

from dunnage.core import Engine
from dunnage.tui.commands.output import render


def cmd_top(e: Engine, a) -> int:
    titles, rows = e.top(a.container, a.ps_args)
    render(None, [dict(zip(titles, r)) for r in rows], [(t, t) for t in titles])
    return 0


def register(sub) -> None:
    p = sub.add_parser("top", help="the processes of a container")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="PS OPTIONS", help="passed to ps (aux, -o pid,comm)")
    p.set_defaults(fn=cmd_top)
