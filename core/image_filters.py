"""docker images --filter (GET /images/json's filters): which images, and which of their
names, a listing shows, as dockerd 20.10's daemon/images/images.go decides, and its
refusals in its words.  One place for the command line and the Engine API."""
from __future__ import annotations

import dataclasses
import re

from .container_filters import _invalid, labels_match, refused
from .errors import EngineError, NotFound

KEYS = ("dangling", "label", "before", "since", "reference")


def check(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in KEYS:
            raise _invalid(key)
        if key == "dangling" and values and "true" not in values and "false" not in values:
            raise refused(f"Invalid filter 'dangling=[{' '.join(values)}]'")
        if key == "reference":
            for v in values:
                _path_pattern(v)


def _bad_pattern():
    """(path.ErrBadPattern, no errdefs kind: dockerd answers 500)"""
    return refused("syntax error in pattern", 500)


def _path_pattern(pattern: str) -> re.Pattern:
    """Go's path.Match as a regular expression: * and ? stop at /, [...] (^ negates), \\ escapes;
    a malformed one is refused with Go's words."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 >= n:
                raise _bad_pattern()
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            j = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] == "^" else i + 1)
            if j < 0:
                raise _bad_pattern()
            body = pattern[i + 1:j]
            neg = body.startswith("^")
            body = body[1:] if neg else body
            if not body:
                raise _bad_pattern()
            cls = "".join("\\" + c if c in "\\[]^" else c for c in body)
            out.append(f"[{'^' if neg else ''}{cls}]")
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _familiar_match(pattern: str, ref: str) -> bool:
    """distribution's reference.FamiliarMatch: the whole name (with tag or digest), else the name alone."""
    rx = _path_pattern(pattern)
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return bool(rx.match(ref) or rx.match(name))


def image_labels(img) -> dict:
    cfg = img.config or {}
    return (cfg.get("config") or cfg.get("Config") or {}).get("Labels") or {}


def _image(e, ref: str):
    try:
        return e.image(ref)
    except EngineError:
        tail = ref.rsplit("/", 1)[-1]
        raise NotFound(f"No such image: {ref if ':' in tail or '@' in ref else ref + ':latest'}", 1) from None


def _when(iso: str) -> float:
    """(times of different precisions compare as times, not as strings)"""
    from .units import parse_iso
    t = parse_iso(iso or "")
    return t.timestamp() if t else 0.0


def select(e, images: list, filters: dict[str, list[str]]) -> list:
    """IMAGES (core/images/store.Image) that FILTERS (checked here) let through, each with
    the tags and digests the listing shows: with reference=, those matching a pattern
    only, and an image with none of them is left out.  before= and since= name images
    (NotFound in dockerd's words if there is none); dangling=true: images without a tag."""
    check(filters)
    bounds = {}
    for key in ("before", "since"):
        for ref in filters.get(key, ()):  # (the last given, as dockerd's)
            bounds[key] = _when(_image(e, ref).created)
    dangling = filters.get("dangling")
    dangling_only = bool(dangling) and "true" in dangling
    patterns = filters.get("reference") or []
    out = []
    for img in images:
        if "before" in bounds and not _when(img.created) < bounds["before"]:
            continue
        if "since" in bounds and not _when(img.created) > bounds["since"]:
            continue
        if filters.get("label"):
            if not labels_match(image_labels(img), filters["label"]):
                continue
        tags, digests = list(img.tags or []), list(img.digests or [])
        if patterns:
            tags = [t for t in tags if any(_familiar_match(p, t) for p in patterns)]
            digests = [d for d in digests if any(_familiar_match(p, d) for p in patterns)]
        if not tags and not digests:
            if (dangling and not dangling_only) or patterns:
                continue
        elif dangling_only and tags:
            continue
        out.append(dataclasses.replace(img, tags=tags, digests=digests) if patterns else img)
    return out
