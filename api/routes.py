"""The whole API's router: each endpoint group registers its routes."""
from __future__ import annotations

from .router import Router


def build() -> Router:
    from . import archive, build as build_, containers, disk, events, exec as exec_, images, networks, stats, system
    from . import volumes
    r = Router()
    for mod in (system, events, disk, containers, stats, archive, exec_, images, networks, volumes, build_):
        mod.register(r)
    return r
