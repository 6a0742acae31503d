"""dunnage.core: the engine.  Fronts call Engine and nothing below it; what they ask
create for is a ContainerSpec (core/spec.py), which they build.

Engine and EngineError are imported on first use (PEP 562), so a process that
needs one module below, such as the FUSE server's `dunnage.core.runtime.linux`,
does not load the whole engine with it."""
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without typing: dunnage-runtime's create imports below here)

__all__ = ["ContainerSpec", "Engine", "EngineError"]

if TYPE_CHECKING:
    from .engine import Engine, EngineError
    from .spec import ContainerSpec


def __getattr__(name: str):
    if name == "ContainerSpec":
        from .spec import ContainerSpec
        return ContainerSpec
    if name in __all__:
        from . import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'dunnage.core' has no attribute {name!r}")
