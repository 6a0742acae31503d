"""Inspect: containers and images as docker's JSON documents."""
from __future__ import annotations

import json

from dunnage.core import Engine, EngineError
from dunnage.tui.commands.output import err, render


def cmd_inspect(e: Engine, a) -> int:
    out, rc = [], 0
    for ref in a.objects:
        try:
            if a.type == "image":
                out.append(e.inspect_image(ref))
                continue
            try:
                out.append(e.inspect(ref, a.size))
            except EngineError:
                if a.type == "container":
                    raise
                out.append(e.inspect_image(ref))
        except EngineError:
            err(f"No such object: {ref}")
            rc = 1
    if a.format:
        render(a.format, out, [])
    else:
        print(json.dumps(out, indent=4))
    return rc


def register(sub) -> None:
    p = sub.add_parser("inspect", help="low-level information as JSON")
    p.add_argument("--type", choices=["container", "image"])
    p.add_argument("-f", "--format")
    p.add_argument("-s", "--size", action="store_true", help="containers: with SizeRw and SizeRootFs")
    p.add_argument("objects", nargs="+")
    p.set_defaults(fn=cmd_inspect)
