"""Docker's error answers: a status code and {"message": ...}.

Pure: an engine error carries its status, raised with its kind where the fault is found
(core/errors.py; tests/unit/test_errors.py holds every EngineError raise to one).  The
guess from docker's own wording (No such container, is already in use, ...) and the exit
code is a fallback for an error raised without one (none in core/, api/ or the command
line: that test walks them)."""
from __future__ import annotations

import json


class ApiError(Exception):
    """An answer other than success: STATUS and docker's one-line MESSAGE."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"message": self.message}).encode() + b"\n"


class NotModified(ApiError):
    """304: start of a running container, stop of a stopped one; docker sends no body."""

    def __init__(self):
        super().__init__(304, "")


def not_found(kind: str, ref: str) -> ApiError:
    return ApiError(404, f"No such {kind}: {ref}")


def container_of(e, ref: str):
    """The container REF of engine E, or docker's 404 for it."""
    from dunnage.core import EngineError
    try:
        return e.container(ref)
    except EngineError:
        raise not_found("container", ref) from None


_NOT_FOUND = ("no such ", "not found", "does not exist")
_CONFLICT = ("already in use", "is already", "conflict", "is running", "you cannot remove", "is paused",
             "is not running", "is not paused", "in use", "has active endpoints")


def status_of(message: str, code: int = 125) -> int:
    """The status docker gives for an engine error with MESSAGE and exit code CODE:
    404 for what does not exist, 409 for a clash with the state of things, 400 for a
    bad value (code 125, docker's for bad flags and values), else 500."""
    m = message.lower()
    if any(s in m for s in _NOT_FOUND):
        return 404
    if any(s in m for s in _CONFLICT):
        return 409
    if code == 125 or "invalid" in m:
        return 400
    return 500


def from_engine(err: Exception) -> ApiError:
    """The status the error was raised with (core/errors.py's kinds), else inferred."""
    msg = str(err) or type(err).__name__
    return ApiError(getattr(err, "status", None) or status_of(msg, getattr(err, "code", 1)), msg)
