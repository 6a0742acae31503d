"""Events: lifecycle events, past and followed."""
from __future__ import annotations

import json

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter
from dunnage.core.prune_filters import go_timestamp
from dunnage.tui import gotemplate
from dunnage.tui.commands.grammar import filters_of


def _when(value: str, flag: str) -> int:
    """docker's CLI's timetypes.GetTimestamp: refused in its words, exit 1."""
    return go_timestamp(value)


def cmd_events(e: Engine, a) -> int:
    """docker events: past events (--since) and new ones as they come, until --until
    has passed (or forever), those matching every --filter key."""
    import datetime as dt
    since = _when(a.since, "--since") if a.since else None
    until = _when(a.until, "--until") if a.until else None
    tmpl = None
    if a.format and a.format != "json":
        try:  # parsed before the first event, run on each as docker does
            tmpl = gotemplate.parse(a.format)
        except gotemplate.TemplateError as ex:
            raise InvalidParameter(f"template parsing error: {ex}", 125) from None
    docs = e.events(since, until, filters_of(a.filter))  # (a bad filter is refused here, before any output)
    try:
        for doc in docs:
            if a.format == "json":
                print(json.dumps(doc), flush=True)
            elif tmpl is not None:
                doc["Actor"]["Attributes"] = gotemplate.StrMap(doc["Actor"]["Attributes"])  # (events.Message's type)
                try:
                    print(tmpl.execute(doc), flush=True)
                except gotemplate.TemplateError as ex:
                    raise InvalidParameter(f"template parsing error: {ex}", 125) from None
            else:
                stamp = dt.datetime.fromtimestamp(doc["timeNano"] / 1e9, dt.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%S.%f000Z")
                attrs = ", ".join(f"{k}={v}" for k, v in sorted(doc["Actor"]["Attributes"].items()))
                print(f"{stamp} {doc['Type']} {doc['Action']} {doc['Actor']['ID']}" + (f" ({attrs})" if attrs else ""),
                      flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def register(sub) -> None:
    events_flags(sub.add_parser("events", help="lifecycle events, past and followed"))


def events_flags(p) -> None:
    """events' flags, for `events` and `system events` alike."""
    p.add_argument("--since", help="show events since (10m, a unix time, or an ISO time)")
    p.add_argument("--until", help="stream events until this time (10m, a unix time, or an ISO time)")
    p.add_argument("-f", "--filter", action="append", metavar="KEY=VALUE",
                   help="type, container, event, image, label, network, volume (a key repeated: any of them)")
    p.add_argument("--format", help="a Go template over each event, or json")
    p.set_defaults(fn=cmd_events)
