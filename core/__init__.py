"""dunnage.core: the engine.  Fronts call Engine and nothing below it."""
from .engine import Engine, EngineError

__all__ = ["Engine", "EngineError"]
