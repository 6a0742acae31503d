"""Stats: live resource use, one-shot or streamed."""
from __future__ import annotations

import sys

from dunnage.core import Engine
from dunnage.tui.commands.output import render
from dunnage.tui.rows import stats_row


def cmd_stats(e: Engine, a) -> int:
    table = [("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
             ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")]
    def row(s) -> dict:  # (--no-trunc: the whole ID, as docker's)
        return dict(stats_row(s), ID=s.id) if a.no_trunc else stats_row(s)
    if a.no_stream:
        render(a.format, [row(s) for s in e.stats(a.containers, a.all)], table)
        return 0
    try:
        while True:
            rows = [row(s) for s in e.stats(a.containers, a.all)]
            if not a.format or a.format.startswith("table"):
                sys.stdout.write("\x1b[2J\x1b[H")
            render(a.format, rows, table)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0


def register(sub) -> None:
    p = sub.add_parser("stats", help="live resource use")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true", help="whole container IDs")
    p.add_argument("--format")
    p.add_argument("containers", nargs="*")
    p.set_defaults(fn=cmd_stats)
