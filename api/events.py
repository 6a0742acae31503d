"""GET /events: the root's events log as docker's stream of event documents.

The log is the one every front appends to (core/events.py), so what the command line
or the dashboard does shows here at once.  Without `since` only new events come;
`until` ends the stream once its time has passed (docker events --until 0s reads the
past and leaves)."""
from __future__ import annotations

import json
import time

from .errors import ApiError
from .responses import Stream
from .router import qfilters, qstr

_FILTERS = ("type", "container", "event", "label", "image", "network", "volume", "scope", "daemon")
_TYPES = ("container", "image", "volume", "network", "daemon", "plugin", "service", "node", "secret", "config")
POLL = 0.1


def parse_time(v, name: str):
    """docker's since/until: seconds since the epoch with optional nanoseconds
    ("1700000000.123456789"), as the docker CLI sends them; None when absent."""
    if v is None or v == "":
        return None
    sec, dot, frac = v.partition(".")
    try:
        ns = int(sec) * 1_000_000_000
        if dot:
            if not frac.isdigit():
                raise ValueError
            ns += int(frac[:9].ljust(9, "0"))
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {v!r}: a unix time (seconds[.nanoseconds]) expected") from None
    return ns


def document(rec: dict) -> dict:
    """docker's event message for one log record."""
    t = rec["time_ns"]
    attrs = dict(rec.get("Attributes") or {})
    out = {"Type": rec["Type"], "Action": rec["Action"], "Actor": {"ID": rec["id"], "Attributes": attrs},
           "scope": "local", "time": t // 1_000_000_000, "timeNano": t}
    if rec["Type"] in ("container", "image"):  # the fields docker keeps for old clients
        out = {"status": rec["Action"], "id": rec["id"], **({"from": attrs["image"]} if "image" in attrs else {}),
               **out}
    return out


def _labels_match(attrs: dict, wanted: list[str]) -> bool:
    for v in wanted:
        k, eq, val = v.partition("=")
        if k not in attrs or (eq and attrs[k] != val):
            return False
    return True


def matches(doc: dict, filters: dict) -> bool:
    """docker's event filters: each key any of its values, all keys at once."""
    actor = doc["Actor"]
    attrs = actor["Attributes"]
    for key, values in filters.items():
        if key == "type":
            ok = doc["Type"] in values
        elif key == "event":
            ok = any(doc["Action"] == v or doc["Action"].split(":")[0] == v for v in values)
        elif key in ("container", "network", "volume"):
            ok = doc["Type"] == key and any(attrs.get("name") == v or actor["ID"].startswith(v) for v in values)
        elif key == "image":
            ok = any(attrs.get("image") == v or (doc["Type"] == "image" and
                                                  (actor["ID"].startswith(v) or attrs.get("name") == v))
                     for v in values)
        elif key == "label":
            ok = _labels_match(attrs, values)
        elif key == "scope":
            ok = "local" in values
        else:
            ok = True
        if not ok:
            return False
    return True


def events(req):
    q = req.query
    since, until = parse_time(qstr(q, "since"), "since"), parse_time(qstr(q, "until"), "until")
    filters = qfilters(q)
    for k, vs in filters.items():
        if k not in _FILTERS:
            raise ApiError(400, f"invalid filter '{k}'")
        if k == "type" and any(v not in _TYPES for v in vs):
            raise ApiError(400, f"invalid filter 'type={next(v for v in vs if v not in _TYPES)}'")
    if since is not None and until is not None and until < since:
        raise ApiError(400, "since must be before until")
    e = req.engine()
    labels: dict[str, dict] = {}

    def container_attrs(rec: dict) -> dict:
        """A container event's attributes with its labels and image, as docker's carry
        them (looked up once per container; one already gone keeps what it logged)."""
        cid = rec["id"]
        if cid not in labels:
            try:
                c = e.container(cid)
                labels[cid] = {**((c.config.get("Config") or {}).get("Labels") or {}),
                               "image": c.config.get("ImageName") or c.config.get("Image", "")}
            except Exception:  # noqa: BLE001 - removed meanwhile
                labels[cid] = {}
        return {**labels[cid], **(rec.get("Attributes") or {})}

    start = e.events_since(0)[1] if since is None else 0  # only what happens from now on, asked now

    def body():
        off = start
        while True:
            recs, off = e.events_since(off)
            for r in recs:
                t = r["time_ns"]
                if since is not None and t < since:
                    continue
                if until is not None and t > until:
                    return
                if r["Type"] == "container":
                    r = {**r, "Attributes": container_attrs(r)}
                doc = document(r)
                if matches(doc, filters):
                    yield json.dumps(doc).encode() + b"\n"
            if until is not None and time.time_ns() > until:
                return
            if req.gone():
                return
            time.sleep(POLL)
    return Stream(body())


def register(r) -> None:
    r.add("GET", "/events", events)
