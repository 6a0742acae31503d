"""docker network ls --filter (GET /networks's filters): which networks match, as
dockerd 20.10's daemon/network/filter.go decides, and its refusals in its words.  One
place for the command line and the Engine API."""
from __future__ import annotations

from typing import Callable

from .container_filters import _go_match, _invalid, labels_match, refused

KEYS = ("driver", "type", "name", "id", "label", "scope", "dangling")
BUILTIN = ("bridge", "host", "none")


def _dangling(values: list[str]) -> bool:
    """(filters.Args.GetBoolOrDefault's words)"""
    if len(values) > 1:
        raise refused('got more than one value for filter key "dangling"')
    v = values[0].lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise refused("invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")")


def check(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in KEYS:
            raise _invalid(key)
        if key == "type":
            for v in values:
                if v not in ("custom", "builtin"):
                    raise refused(f"invalid filter: 'type'='{v}'")
        if key == "dangling" and values:
            _dangling(values)


def matcher(filters: dict[str, list[str]]) -> Callable[[dict], bool]:
    """A test of a network document (Name, Id, Driver, Scope, Labels) against FILTERS
    (checked here).  The pre-defined networks (bridge, host, none) are builtin.  dangling=
    is dockerd 20.10's: its listing counts no container on any network (the documents'
    Containers are empty there, verbose or not), so every custom network is dangling,
    containers running on it or not, and the builtin ones never are."""
    check(filters)

    def test(n: dict) -> bool:
        builtin = n["Name"] in BUILTIN
        if filters.get("driver") and n.get("Driver") not in filters["driver"]:
            return False
        if filters.get("name") and not any(_go_match(x, n["Name"]) for x in filters["name"]):
            return False
        if filters.get("id") and not any(_go_match(x, n.get("Id") or "") for x in filters["id"]):
            return False
        if not labels_match(n.get("Labels") or {}, filters.get("label", ())):
            return False
        if filters.get("scope") and (n.get("Scope") or "local") not in filters["scope"]:
            return False
        if filters.get("type") and ("builtin" if builtin else "custom") not in filters["type"]:
            return False
        if filters.get("dangling") and (not builtin) != _dangling(filters["dangling"]):
            return False
        return True
    return test
