"""Events: lifecycle events, past and followed."""
from __future__ import annotations

import json

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter
from dunnage.tui import gotemplate
from dunnage.tui.commands.grammar import parse_since


def cmd_events(e: Engine, a) -> int:
    """docker events: past records (--since) then new ones as they come."""
    import datetime as dt
    since_ns = 0
    if a.since:
        since_ns = parse_since(a.since)
    else:
        since_ns = __import__("time").time_ns()
    tmpl = None
    if a.format and a.format != "json":
        try:  # parsed before the first event, run on each as docker does
            tmpl = gotemplate.parse(a.format)
        except gotemplate.TemplateError as ex:
            raise InvalidParameter(f"template parsing error: {ex}", 125) from None
    try:
        for r in e.follow_events(since_ns):
            msg = {"Type": r["Type"], "Action": r["Action"], "Actor": {"ID": r["id"], "Attributes": r["Attributes"]},
                   "time": r["time_ns"] // 10**9, "timeNano": r["time_ns"]}
            if a.format == "json":
                print(json.dumps(msg), flush=True)
            elif tmpl is not None:
                try:
                    print(tmpl.execute(msg), flush=True)
                except gotemplate.TemplateError as ex:
                    raise InvalidParameter(f"template parsing error: {ex}", 125) from None
            else:
                stamp = dt.datetime.fromtimestamp(r["time_ns"] / 1e9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
                attrs = ", ".join(f"{k}={v}" for k, v in sorted(r["Attributes"].items()))
                print(f"{stamp} {r['Type']} {r['Action']} {r['id']}" + (f" ({attrs})" if attrs else ""), flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def register(sub) -> None:
    p = sub.add_parser("events", help="follow lifecycle events")
    p.add_argument("--since", help="show events since (10m, a unix time, or an ISO time)")
    p.add_argument("--format")
    p.set_defaults(fn=cmd_events)
