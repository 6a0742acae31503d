"""Inspect: containers, images, networks and volumes as docker's JSON documents."""
from __future__ import annotations

import json

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter
from dunnage.tui.commands.output import err, render

# docker's --type values, and the order it looks an object up in without one
KINDS = ("container", "image", "network", "volume")
NONE_HERE = ("config", "node", "plugin", "secret", "service", "task")  # (swarm's and plugins': dunnage has none)


def cmd_inspect(e: Engine, a) -> int:
    if a.type in NONE_HERE:
        raise InvalidParameter(f"--type {a.type}: there are no {a.type}s here (no swarm, no plugins)", 1)
    if a.type is not None and a.type not in KINDS:
        raise InvalidParameter(f'"{a.type}" is not a valid value for --type', 1)
    find = {"container": lambda ref: e.inspect(ref, a.size), "image": e.inspect_image,
            "network": e.network_inspect, "volume": e.volume_inspect}
    out, rc = [], 0
    for ref in a.objects:
        for kind in [a.type] if a.type else KINDS:
            try:
                out.append(find[kind](ref))
                break
            except EngineError:
                continue
        else:
            err(f"No such {a.type or 'object'}: {ref}")
            rc = 1
    if a.format:
        render(a.format, out, [])
    else:
        print(json.dumps(out, indent=4))
    return rc


def register(sub) -> None:
    p = sub.add_parser("inspect", help="low-level information as JSON")
    p.add_argument("--type", metavar="|".join(KINDS), help="only objects of this type (default: the first found)")
    p.add_argument("-f", "--format")
    p.add_argument("-s", "--size", action="store_true", help="containers: with SizeRw and SizeRootFs")
    p.add_argument("objects", nargs="+")
    p.set_defaults(fn=cmd_inspect)
