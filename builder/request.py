"""What the fronts hand the builder: the context (a directory, or a tar unpacked into the
build's staging directory) and the Dockerfile in it or beside it, with its .dockerignore
(`<Dockerfile>.dockerignore` first, then the context's), shared by `dunnage build` and the
Engine API's POST /build."""
from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from dunnage.core.errors import InvalidParameter, NotFound


def ignore_rules(context: Optional[str], dockerfile_path: Optional[str]) -> Callable[[str], bool]:
    """The predicate .dockerignore makes (builder/ignore.py): whether a path relative to the
    context is left out."""
    if not context:
        return lambda rel: False
    from . import ignore
    return ignore.load(Path(context), Path(dockerfile_path) if dockerfile_path else None)


def read_dockerfile(context: Optional[str], name: Optional[str]) -> tuple[str, str]:
    """The Dockerfile's text and path: NAME (relative to the current directory, as docker's
    -f), else `Dockerfile` in the context."""
    path = name if name else os.path.join(context or ".", "Dockerfile")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(), path
    except FileNotFoundError:
        raise NotFound(f"failed to read dockerfile: open {path}: no such file or directory", 1) from None
    except OSError as e:
        raise InvalidParameter(f"failed to read dockerfile: {path}: {e.strerror}", 1) from None


def is_tar(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or (
        len(head) >= 262 and head[257:262] == b"ustar")


def unpack_context(stream: BinaryIO, into: Path) -> None:
    """A context tar (plain or compressed) unpacked into INTO by builder/context.py: nothing
    written outside it, no link followed."""
    from .context import unpack
    into.mkdir(parents=True, exist_ok=True)
    try:
        unpack(stream, into)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise InvalidParameter(f"the build context is not a readable tar: {e}", 1) from None
