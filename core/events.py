"""The events log: one msgpack record per lifecycle event, appended atomically.

Fronts follow it to refresh at once when another front changes something; `query`
gives docker's event documents from it, with docker's since/until and filters, for
the command line's `events` and the Engine API's GET /events alike."""
from __future__ import annotations

import os
import time
from typing import Iterator, Optional

import msgpack

from .container_filters import labels_match
from .errors import InvalidParameter
from .store import Store, pack

BUFFERED = 256  # dockerd keeps its last 256 events: what --until without --since reads of the past


def emit(store: Store, type_: str, action: str, id_: str, attrs: Optional[dict] = None) -> None:
    rec = {"time_ns": time.time_ns(), "Type": type_, "Action": action, "id": id_, "Attributes": attrs or {}}
    fd = os.open(store.events_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)  # root's alone
    try:
        os.write(fd, pack(rec))  # one write() with O_APPEND: records never interleave
    finally:
        os.close(fd)


def read(store: Store, offset: int = 0) -> tuple[list[dict], int]:
    """Records from byte OFFSET on, and the offset after the last whole record."""
    try:
        with open(store.events_log, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    up = msgpack.Unpacker(raw=False)
    up.feed(data)
    out = []
    consumed = 0
    for rec in up:
        out.append(rec)
        consumed = up.tell()
    return out, offset + consumed


def follow(store: Store, since_ns: int = 0, poll: float = 0.2) -> Iterator[dict]:
    off = 0
    while True:
        recs, off = read(store, off)
        for r in recs:
            if r["time_ns"] >= since_ns:
                yield r
        time.sleep(poll)


def document(rec: dict) -> dict:
    """docker's event message for one log record."""
    t = rec["time_ns"]
    attrs = dict(rec.get("Attributes") or {})
    out = {"Type": rec["Type"], "Action": rec["Action"], "Actor": {"ID": rec["id"], "Attributes": attrs},
           "scope": "local", "time": t // 1_000_000_000, "timeNano": t}
    if rec["Type"] in ("container", "image"):  # the fields docker keeps for old clients (empty ones left out)
        out = {"status": rec["Action"], **({"id": rec["id"]} if rec["id"] else {}),
               **({"from": attrs["image"]} if "image" in attrs else {}), **out}
    return out


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
            ok = labels_match(attrs, values)
        elif key == "scope":
            ok = "local" in values
        else:  # (a key dockerd 20.10 does not know selects nothing away: it takes any)
            ok = True
        if not ok:
            return False
    return True


def _form(ns: int) -> str:
    """A time as docker's CLI sends it (timetypes.GetTimestamp's): seconds, or seconds.nanoseconds."""
    s, n = divmod(ns, 1_000_000_000)
    return f"{s}.{n:09d}" if n else str(s)


def check_query(since_ns: Optional[int], until_ns: Optional[int], filters: dict) -> None:
    """dockerd's refusals of an events query, in its words.  Its filters are not among them:
    dockerd 20.10 takes any key (one it does not know selects by nothing) and any type=
    (one that is none matches no event)."""
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        raise InvalidParameter(f"`since` time ({_form(since_ns)}) cannot be after `until` time ({_form(until_ns)})", 1)


def query(e, since_ns: Optional[int], until_ns: Optional[int], filters: dict,
          gone=lambda: False, poll: float = 0.1) -> Iterator[dict]:
    """docker events: the documents of events from SINCE_NS on (None: only those from
    now, or with UNTIL_NS the last BUFFERED before it, as dockerd reads its buffer), those
    matching FILTERS, until UNTIL_NS has passed (None: until GONE() says the reader left).  A container's events carry its labels and image as docker's do.
    Checked (check_query) before the first document is asked for."""
    check_query(since_ns, until_ns, filters)
    labels: dict[str, dict] = {}

    def container_attrs(rec: dict) -> dict:
        cid = rec["id"]
        if cid not in labels:
            try:
                c = e.container(cid)
                labels[cid] = {**((c.config.get("Config") or {}).get("Labels") or {}),
                               "image": c.config.get("ImageName") or c.config.get("Image", "")}
            except Exception:  # noqa: BLE001 - removed meanwhile: it keeps what it logged
                labels[cid] = {}
        return {**labels[cid], **(rec.get("Attributes") or {})}

    start = read(e.store, 0)[1] if since_ns is None and until_ns is None else 0  # (from now on, asked now)

    def body() -> Iterator[dict]:
        off = start
        first = since_ns is None and until_ns is not None
        while True:
            recs, off = read(e.store, off)
            if first:
                recs, first = recs[-BUFFERED:], False
            for r in recs:
                t = r["time_ns"]
                if since_ns is not None and t < since_ns:
                    continue
                if until_ns is not None and t > until_ns:
                    return
                if r["Type"] == "container" and r["id"]:  # (a prune's event is of no one container)
                    r = {**r, "Attributes": container_attrs(r)}
                doc = document(r)
                if matches(doc, filters):
                    yield doc
            if until_ns is not None and time.time_ns() > until_ns:
                return
            if gone():
                return
            time.sleep(poll)
    return body()
