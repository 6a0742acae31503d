"""docker ps --filter (GET /containers/json's filters): which containers match, as
dockerd's daemon/list.go decides, and dockerd's refusals of a filter, in its words.
One place for the command line and the Engine API."""
from __future__ import annotations

import re
from typing import Callable, Optional

from .errors import InvalidParameter

KEYS = ("id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network", "health",
        "publish", "expose", "isolation", "is-task")
STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH = ("starting", "healthy", "unhealthy", "none")


def refused(message: str, status: int = 400) -> InvalidParameter:
    """A filter dockerd refuses, in its words: an error of the daemon's, on which docker's
    CLI exits 1 (not 125: the flag itself was well formed)."""
    return InvalidParameter(message, 1, status)


def _invalid(key: str, value: Optional[str] = None) -> InvalidParameter:
    """(dockerd 20.10's words, capitalised so)"""
    return refused(f"Invalid filter '{key}" + (f"={value}'" if value is not None else "'"))


def labels_match(labels: dict, wanted: list[str]) -> bool:
    """moby's filters.MatchKVList: each of WANTED (KEY or KEY=VALUE) among LABELS."""
    for v in wanted:
        k, eq, val = v.partition("=")
        if k not in labels or (eq and labels[k] != val):
            return False
    return True


def _go_match(pattern: str, text: str) -> bool:
    """moby's filters.Match: equal, or PATTERN a regular expression found in TEXT (a
    pattern that is no regular expression matches nothing)."""
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _port_range(spec: str, key: str) -> tuple[int, int, str]:
    port, _, proto = spec.partition("/")
    lo, dash, hi = port.partition("-")
    try:
        a, b = int(lo), int(hi) if dash else int(lo)
    except ValueError:
        raise _invalid(key, spec) from None
    return a, b, proto or "tcp"


def check(filters: dict[str, list[str]]) -> None:
    """dockerd's refusals: an unknown key, a status, exit code or health that is none."""
    for key, values in filters.items():
        if key not in KEYS:
            raise _invalid(key)
        for v in values:
            if key == "status" and v not in STATES:
                raise _invalid(key, v)
            if key == "health" and v not in HEALTH:
                raise refused(f"Unrecognised filter value for health: {v}")
            if key == "exited" and not v.lstrip("-").isdigit():
                raise refused(f'strconv.Atoi: parsing "{v}": invalid syntax')  # (dockerd's, as is)
            if key in ("publish", "expose"):
                _port_range(v, key)


def matcher(e, filters: dict[str, list[str]]) -> Callable:
    """A test of a container (core/containers.Container) against FILTERS (checked here):
    each key any of its values, every key at once.  before= and since= name containers
    (NotFound if there is none); ancestor= an image by name or id (not its descendants)."""
    check(filters)
    created = {key: e.container(ref).config.get("Created", "")  # (the last given, as dockerd's)
               for key in ("before", "since") for ref in filters.get(key, ())}
    images: set[str] = set()
    for ref in filters.get("ancestor", ()):
        try:
            images.add(e.image(ref).id)
        except Exception:  # noqa: BLE001 - an image that is not there: only its name can match
            pass
    nets: set[str] = set()
    for ref in filters.get("network", ()):
        nets |= {r["Name"] for r in e.networks() if r["Name"] == ref or r["Id"].startswith(ref)} | {ref}

    def ports_ok(key: str, have: list[tuple[int, str]]) -> bool:
        for spec in filters[key]:
            lo, hi, proto = _port_range(spec, key)
            if any(lo <= p <= hi and pr == proto for p, pr in have):
                return True
        return False

    def test(c) -> bool:
        cfg, st = c.config, c.state
        conf = cfg.get("Config") or {}
        for key, values in filters.items():
            if not values:
                continue
            if key == "id":
                ok = any(_go_match(v, c.id) for v in values)
            elif key == "name":
                ok = any(_go_match(v, "/" + c.name) or _go_match(v, c.name) for v in values)
            elif key == "label":
                ok = labels_match(conf.get("Labels") or {}, values)
            elif key == "status":
                ok = c.status in values
            elif key == "exited":
                ok = c.status == "exited" and str(st.get("ExitCode", 0)) in {str(int(v)) for v in values}
            elif key == "ancestor":
                ok = cfg.get("Image") in images or (cfg.get("ImageName") or "") in values
            elif key == "before":
                ok = cfg.get("Created", "") < created["before"]
            elif key == "since":
                ok = cfg.get("Created", "") > created["since"]
            elif key == "volume":
                mounts = (cfg.get("HostConfig") or {}).get("Mounts") or []
                ok = any(m.get("Name") == v or m.get("Target") == v or m.get("Source") == v
                         for m in mounts for v in values)
            elif key == "network":
                mine = set(cfg.get("NetworkConfigs") or {}) or {(cfg.get("HostConfig") or {}).get("NetworkMode")}
                ok = bool(mine & nets)
            elif key == "health":
                hs = (st.get("Health") or {}).get("Status") if conf.get("Healthcheck") else None
                ok = (hs or "none") in values
            elif key == "publish":
                have = [(int(b.get("HostPort") or 0), k.partition("/")[2] or "tcp")
                        for k, binds in (e.published_ports(c) or {}).items() for b in binds or []]
                ok = ports_ok(key, have)
            elif key == "expose":
                have = [(int(k.partition("/")[0]), k.partition("/")[2] or "tcp")
                        for k in (conf.get("ExposedPorts") or {})]
                ok = ports_ok(key, have)
            elif key == "is-task":
                ok = "false" in values
            else:  # isolation: one kind here
                ok = "default" in values
            if not ok:
                return False
        return True
    return test
