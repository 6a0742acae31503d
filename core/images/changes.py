"""Dockerfile instructions given as changes to an image's config (`commit -c`, `import -c`,
the Engine API's `changes`): CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, STOPSIGNAL, VOLUME, EXPOSE."""
from __future__ import annotations

import json
import shlex

from dunnage.core.errors import InvalidParameter


def _name_values(k: str, v: str) -> list[tuple[str, str]]:
    """A Dockerfile ENV or LABEL: NAME=VALUE pairs, quoted as a shell quotes, or the
    old NAME VALUE form (one pair, the rest of the line its value)."""
    try:
        words = shlex.split(v)
    except ValueError as ex:
        raise InvalidParameter(f"{k} {v}: {ex}") from None
    if words and "=" in words[0]:
        pairs = [tuple(w.split("=", 1)) for w in words]
        if any("=" not in w or not w.split("=", 1)[0] for w in words):
            raise InvalidParameter(f"{k} {v}: NAME=VALUE pairs expected")
        return pairs
    name, _, value = v.strip().partition(" ")
    if not name or not value.strip():
        raise InvalidParameter(f"{k} must have two arguments")
    return [(name, value.strip())]


def parse_changes(items) -> dict:
    """Dockerfile instructions given with -c/--change."""
    changes: dict = {}
    for ch in items or []:
        k, _, v = ch.partition(" ")
        if v.strip().startswith("["):
            try:
                json.loads(v)
            except ValueError:
                raise InvalidParameter(f"invalid JSON in change: {ch}") from None
        if k.upper() == "CMD":
            changes["Cmd"] = json.loads(v) if v.strip().startswith("[") else ["/bin/sh", "-c", v]
        elif k.upper() == "ENTRYPOINT":
            changes["Entrypoint"] = json.loads(v) if v.strip().startswith("[") else ["/bin/sh", "-c", v]
        elif k.upper() == "ENV":
            changes.setdefault("Env", []).extend(f"{n}={x}" for n, x in _name_values("ENV", v))
        elif k.upper() == "WORKDIR":
            changes["WorkingDir"] = v
        elif k.upper() == "USER":
            changes["User"] = v
        elif k.upper() == "LABEL":
            changes.setdefault("Labels", {}).update(_name_values("LABEL", v))
        elif k.upper() == "STOPSIGNAL":
            changes["StopSignal"] = v
        elif k.upper() in ("VOLUME", "EXPOSE"):
            items = json.loads(v) if v.strip().startswith("[") else v.split()
            if k.upper() == "EXPOSE":
                items = [x if "/" in x else x + "/tcp" for x in items]
            changes.setdefault("Volumes" if k.upper() == "VOLUME" else "ExposedPorts", {}).update(
                {x: {} for x in items})
        else:
            raise InvalidParameter(f"{k} is not a valid change command")
    return changes
