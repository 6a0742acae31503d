"""GET /events: the root's events log as docker's stream of event documents.

The log is the one every front appends to (core/events.py, which also reads it as
docker's documents with since/until and filters), so what the command line or the
dashboard does shows here at once.  Without `since` only new events come;
`until` ends the stream once its time has passed (docker events --until 0s reads the
past and leaves)."""
from __future__ import annotations

import json
import re

from .errors import ApiError
from .responses import Stream
from .router import qfilters, qstr

POLL = 0.1


def parse_time(v, name: str):
    """docker's since/until: seconds since the epoch with optional nanoseconds
    ("1700000000.123456789"), as the docker CLI sends them; None when absent.  Anything
    else refused as dockerd's timetypes.ParseTimestamps does: Go's strconv words, a 500."""
    if v is None or v == "":
        return None
    sec, dot, frac = v.partition(".")
    for part in (sec, frac) if dot else (sec,):
        if not re.fullmatch(r"[+-]?[0-9]+", part):
            raise ApiError(500, f'strconv.ParseInt: parsing "{part}": invalid syntax')
    ns = int(sec) * 1_000_000_000
    if dot:
        ns += int(frac.lstrip("+-")[:9].ljust(9, "0")) * (-1 if frac.startswith("-") else 1)
    return ns


def events(req):
    q = req.query
    since, until = parse_time(qstr(q, "since"), "since"), parse_time(qstr(q, "until"), "until")
    docs = req.engine().events(since, until, qfilters(q), gone=req.gone, poll=POLL)  # (refusals raised here)
    return Stream(json.dumps(doc).encode() + b"\n" for doc in docs)


def register(r) -> None:
    r.add("GET", "/events", events)
