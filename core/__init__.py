"""dunnage.core: the engine.  Fronts call Engine and nothing below it.

Engine and EngineError are imported on first use (PEP 562), so a process that
needs one module below, such as the FUSE server's `dunnage.core.runtime.linux`,
does not load the whole engine with it."""
from typing import TYPE_CHECKING

__all__ = ["Engine", "EngineError"]

if TYPE_CHECKING:
    from .engine import Engine, EngineError


def __getattr__(name: str):
    if name in __all__:
        from . import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'dunnage.core' has no attribute {name!r}")
