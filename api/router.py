"""Paths to handlers: docker's /v1.xx/ prefixes and unversioned paths alike.

Pure (no engine, no sockets): a route is a method and a pattern whose {name} parts
match one path segment (container ids, names; image references may hold slashes and
take {name:path})."""
from __future__ import annotations

import re
from typing import Callable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from .version import API_VERSION, MIN_API_VERSION
from .errors import ApiError

_VERSION = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def _vkey(v: str) -> tuple[int, int]:
    a, b = v.split(".")
    return int(a), int(b)


def split_version(path: str) -> tuple[Optional[str], str]:
    """(the version asked for or None, the path without its prefix).  A version older
    than MIN_API_VERSION is refused as docker does (400); a newer one than ours too."""
    m = _VERSION.match(path)
    if not m:
        return None, path
    v = f"{int(m.group(1))}.{int(m.group(2))}"
    if _vkey(v) < _vkey(MIN_API_VERSION):
        raise ApiError(400, f"client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, "
                            "please upgrade your client to a newer version")
    if _vkey(v) > _vkey(API_VERSION):
        raise ApiError(400, f"client version {v} is too new. Maximum supported API version is {API_VERSION}")
    return v, m.group(3)


def _compile(pattern: str) -> re.Pattern:
    out = ""
    for part in re.split(r"(\{[a-z_]+(?::path)?\})", pattern):
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            out += f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}$")


class Router:
    def __init__(self):
        self.routes: list[tuple[str, re.Pattern, Callable]] = []

    def add(self, method: str, pattern: str, handler: Callable) -> None:
        self.routes.append((method, _compile(pattern), handler))

    def route(self, method: str, pattern: str):
        def deco(fn):
            self.add(method, pattern, fn)
            return fn
        return deco

    def match(self, method: str, target: str) -> tuple[Callable, dict, dict, Optional[str]]:
        """(handler, path parameters, query as lists, API version) for METHOD TARGET;
        ApiError 404 for a path nothing serves, 405 for a method it does not take."""
        parts = urlsplit(target)
        version, path = split_version(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        allowed = False
        for m, rx, fn in self.routes:
            hit = rx.match(path)
            if hit is None:
                continue
            if m == method or (method == "HEAD" and m == "GET"):
                return fn, {k: unquote(v) for k, v in hit.groupdict().items()}, query, version
            allowed = True
        if allowed:
            raise ApiError(405, f"method {method} not allowed for {path}")
        raise ApiError(404, f"page not found")


def qbool(query: dict, name: str, default: bool = False) -> bool:
    """docker's boolean query values: 1/true/True/yes are true, 0/false/"" false."""
    v = query.get(name)
    if not v:
        return default
    s = v[-1].strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ApiError(400, f"invalid value for {name}: {v[-1]!r}")


def qint(query: dict, name: str, default: Optional[int] = None) -> Optional[int]:
    v = query.get(name)
    if not v or v[-1] == "":
        return default
    try:
        return int(v[-1])
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {v[-1]!r}") from None


def qstr(query: dict, name: str, default: Optional[str] = None) -> Optional[str]:
    v = query.get(name)
    return v[-1] if v else default


def qfilters(query: dict) -> dict[str, list[str]]:
    """docker's filters parameter: {"name": ["x"]} or the older {"name": {"x": true}}."""
    import json
    raw = qstr(query, "filters")
    if not raw:
        return {}
    try:
        f = json.loads(raw)
    except ValueError:
        raise ApiError(400, "invalid filter: the filters parameter is not JSON") from None
    if not isinstance(f, dict):
        raise ApiError(400, "invalid filter: the filters parameter is not a JSON object")
    out = {}
    for k, v in f.items():
        if isinstance(v, dict):
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            out[k] = v
        else:
            raise ApiError(400, f"invalid filter '{k}'")
    return out
