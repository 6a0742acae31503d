"""docker volume ls --filter (GET /volumes's filters): which volumes match, as dockerd
20.10's volume/service/convert.go decides, and its refusals in its words.  One place
for the command line and the Engine API."""
from __future__ import annotations

from typing import Callable

from .container_filters import _go_match, _invalid, labels_match, refused

KEYS = ("dangling", "name", "driver", "label")


def _dangling(values: list[str]) -> bool:
    """dockerd's: true or 1 wins over false or 0; anything else is refused."""
    if "true" in values or "1" in values:
        return True
    if "false" in values or "0" in values:
        return False
    raise refused(f"Invalid filter 'dangling=[{' '.join(values)}]'")


def check(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in KEYS:
            raise _invalid(key)
        if key == "dangling" and values:
            _dangling(values)


def matcher(filters: dict[str, list[str]], used: Callable[[str], bool]) -> Callable[[dict], bool]:
    """A test of a volume record (Name, Driver, Labels) against FILTERS (checked here);
    USED(name): whether a container refers to the volume (dangling= asks it)."""
    check(filters)

    def test(v: dict) -> bool:
        if filters.get("driver") and (v.get("Driver") or "local") not in filters["driver"]:
            return False
        if filters.get("name") and not any(_go_match(x, v["Name"]) for x in filters["name"]):
            return False
        if not labels_match(v.get("Labels") or {}, filters.get("label", ())):
            return False
        if filters.get("dangling") and used(v["Name"]) == _dangling(filters["dangling"]):
            return False
        return True
    return test
