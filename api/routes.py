"""The whole API's router: each endpoint group registers its routes."""
from __future__ import annotations

from .router import Router


def build() -> Router:
    from . import archive, containers, disk, events, exec as exec_, images, networks, stats, system, volumes
    r = Router()
    for mod in (system, events, disk, containers, stats, archive, exec_, images, networks, volumes):
        mod.register(r)
    return r
