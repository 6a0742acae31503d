"""EngineError: the one error the fronts show, with docker's exit code.

Its own module so that the verbs and concept modules below the Engine facade can
raise it without importing the facade (dunnage.core.engine re-exports it)."""
from __future__ import annotations


class EngineError(Exception):
    """An error for the user: one line, and the exit code docker would give."""

    def __init__(self, msg: str, code: int = 125):
        super().__init__(msg)
        self.code = code
