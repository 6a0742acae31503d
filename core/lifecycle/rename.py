"""docker rename: a new name, unique under the names lock."""
from __future__ import annotations

from .. import events
from ..containers import Container, find
from ..errors import Conflict, InvalidParameter
from ..spec import valid_name


def rename(e, ref: str, new: str) -> Container:
    new = new.lstrip("/")
    if not valid_name(new):
        raise InvalidParameter(f'Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed', 1)
    with e.store.lock("names"):
        c = e.container(ref)
        other = find(e.store, new)
        if other is not None and other.name == new:
            raise Conflict(f'Error when allocating new name: Conflict. The container name "/{new}" is '
                              f'already in use by container "{other.id}".', 1)
        old = c.name
        c.config["Name"] = new
        with e.store.lock(f"c-{c.id[:16]}"):
            c.save_config()
    events.emit(e.store, "container", "rename", c.id, {"name": new, "oldName": "/" + old})
    return c
