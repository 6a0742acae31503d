"""DunnageError: the one error the engine raises for its fronts, with docker's exit
code and the HTTP status the Engine API answers with.

The kinds are moby's errdefs (errdefs/defs.go, mapped to statuses by
errdefs/http_helpers.go): NotFound 404, Conflict 409, InvalidParameter 400,
NotModified 304, Forbidden 403, System 500.  The error is raised with its kind where
the fault is found (each concept's own error class is a subclass of one kind) and is
never re-wrapped on its way up: the command line shows `Error: MESSAGE` and exits with
exit_code, the Engine API answers status and {"message": MESSAGE}.

The exit code is docker's CLI's, which depends on the command more than on the kind:
125 for bad flags and values and for `run`/`create` (the default), 1 for most other
verbs (given where raised), 126/127 for a command that cannot run.  A verb whose
faults all get one code says so with exit_code_of(), which sets it on the same error.

Its own module so that the verbs and concept modules below the Engine facade can
raise it without importing the facade (dunnage.core.engine re-exports it)."""
from __future__ import annotations

import errno

TYPE_CHECKING = False  # (no typing at run time: dunnage-runtime's create imports this module)
if TYPE_CHECKING:
    from typing import Optional


class DunnageError(Exception):
    """An error for the user: one line, docker's exit code and the API's status.

    STATUS None is "not classified where raised": the Engine API then infers it from
    the message (api/errors.py); each kind below and each concept's error class has its own."""

    exit_code: int = 125
    status: Optional[int] = None

    def __init__(self, message: str, exit_code: Optional[int] = None, status: Optional[int] = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        if status is not None:
            self.status = status

    @property
    def code(self) -> int:
        """The exit code, by the name the fronts have read it."""
        return self.exit_code

    @code.setter
    def code(self, value: int) -> None:
        self.exit_code = value


EngineError = DunnageError  # the name the verbs and fronts raise and catch it by


class NotFound(DunnageError):
    """No such container, image, network, volume, exec, ... (404)."""
    status = 404


class Conflict(DunnageError):
    """A clash with the state of things: a name in use, a running container removed (409)."""
    status = 409


class InvalidParameter(DunnageError):
    """A bad flag or value (400; docker's exit 125)."""
    status = 400


class NotModified(DunnageError):
    """Nothing to do: start of a running container, stop of a stopped one (304)."""
    status = 304


class Forbidden(DunnageError):
    """Allowed to no one, whatever the values (403)."""
    status = 403


class System(DunnageError):
    """The host failed us: the kernel, the store, a registry (500)."""
    status = 500


KINDS = (NotFound, Conflict, InvalidParameter, NotModified, Forbidden, System)


def os_kind(err: OSError) -> type[DunnageError]:
    """The kind of a fault the kernel reported inside a container's files, as moby's
    archive code gives it: a missing path is NotFound, a path through a file where a
    directory must be is a bad value, anything else the host's fault."""
    if err.errno == errno.ENOENT:
        return NotFound
    if err.errno == errno.ENOTDIR:
        return InvalidParameter
    return System


def run_failure(message: str, exit_code: int) -> DunnageError:
    """A command that could not run in a container (start, exec): docker's 126/127
    (cannot execute, not found) are the request's fault (400), other codes the host's."""
    kind = InvalidParameter if exit_code in (126, 127) else System
    return kind(message, exit_code)


class exit_code_of:
    """Every DunnageError raised inside exits with CODE (docker's `tag`, `rmi`, `update`
    exit 1 whatever went wrong): the same error, kind and message, raised on.  (A class,
    not contextlib's decorator: contextlib brings collections and functools, 2-3 ms of the
    imports dunnage-runtime's create makes in the caller's process.)"""

    def __init__(self, code: int):
        self.code = code

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, tb) -> bool:
        if isinstance(err, DunnageError):
            err.exit_code = self.code
        return False
