"""The prunes' filters (container, image, volume, network and system prune --filter; the
Engine API's POST /*/prune filters): the keys each prune takes, what until= and label=/
label!= leave to it, as dockerd 20.10's daemon/prune.go, daemon/images/image_prune.go
and volume/service decide, and its refusals in its words.  One place for the command
line and the Engine API."""
from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Optional

from .container_filters import _invalid, labels_match, refused

KEYS = {"containers": ("label", "label!", "until"), "images": ("dangling", "label", "label!", "until"),
        "volumes": ("label", "label!"), "networks": ("label", "label!", "until")}

_GO_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def _go_duration(value: str) -> Optional[float]:
    """Go's time.ParseDuration in ns (1h30m, 1.5h, 300ms, -2m), None if it is none."""
    sign, rest = (-1, value[1:]) if value[:1] == "-" else (1, value[1:] if value[:1] == "+" else value)
    if rest == "0":
        return 0.0
    total, pos = 0.0, 0
    if not rest:
        return None
    while pos < len(rest):
        m = _GO_DURATION.match(rest, pos)
        if not m or m.group(1) in ("", "."):
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def go_timestamp(value: str, now_ns: Optional[int] = None) -> int:
    """docker's timetypes.GetTimestamp (until=, and the CLI's --since/--until): a Go duration
    back from now (10m, 1h30m; the whole second), an RFC 3339 date or time (local without a zone), or a unix
    time (seconds[.fraction]), in ns since the epoch; anything else refused in its words
    (a plain error: dockerd answers 500, docker's CLI exits 1)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    d = _go_duration(value)
    if value != "0" and d is not None:
        return int((now_ns - d) // 1_000_000_000) * 1_000_000_000  # (Go's Time.Unix(): whole seconds)
    if "-" in value[1:]:
        try:
            t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000
        except ValueError:
            pass
    elif re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", value):
        sec, _, frac = value.partition(".")
        return int(sec) * 1_000_000_000 + int(frac[:9].ljust(9, "0") or 0) * (-1 if sec.startswith("-") else 1)
    raise refused(f'failed to parse value as time or duration: "{value}"', 500)


def dangling_only(filters: dict[str, list[str]]) -> bool:
    """image prune's dangling=: false (or 0) anywhere prunes unused tagged images too, true (or
    1) dangling ones only (as without it); anything else alone is refused."""
    values = filters.get("dangling")
    if not values:
        return True
    if "false" in values or "0" in values:
        return False
    if "true" in values or "1" in values:
        return True
    raise refused(f"Invalid filter 'dangling=[{' '.join(values)}]'")


class Selection:
    """What a prune of KIND ("containers", "images", "volumes", "networks") may remove under
    FILTERS, checked on creation (dockerd's refusals, before anything is removed)."""

    def __init__(self, kind: str, filters: Optional[dict[str, list[str]]]):
        self.filters = dict(filters or {})
        for key in self.filters:
            if key not in KEYS[kind]:
                raise _invalid(key)
        if kind == "images":
            dangling_only(self.filters)
        self.until: Optional[int] = None
        untils = self.filters.get("until")
        if untils is not None:
            if len(untils) > 1:
                raise refused("more than one until filter specified", 500)
            self.until = go_timestamp(untils[0] if untils else "")

    def __bool__(self) -> bool:
        return bool(self.filters)

    def lets_go(self, labels: Optional[dict], created: str = "") -> bool:
        """Whether a thing with LABELS, made at CREATED (ISO), may go: every label= among its
        labels, not every label!= (dockerd's matchLabels), and made no later than until=."""
        labels = labels or {}
        if self.filters.get("label") and not (labels and labels_match(labels, self.filters["label"])):
            return False
        if self.filters.get("label!") and labels and labels_match(labels, self.filters["label!"]):
            return False
        if self.until is not None:
            try:
                t = _dt.datetime.fromisoformat((created or "").replace("Z", "+00:00"))
            except ValueError:
                return False
            if t.timestamp() * 1e9 > self.until:
                return False
        return True
