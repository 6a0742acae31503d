"""dunnage.api: the Docker Engine API on a unix socket (`dunnage system service`).

A front beside the command line and the dashboard: thin over the Engine facade, so
what one front does the others see at once.  The engine imports nothing of it."""
from __future__ import annotations

from .version import API_VERSION, MIN_API_VERSION  # noqa: F401


def serve(root, uri, idle: float = 5.0) -> None:
    from .server import serve as _serve
    _serve(root, uri, idle)
