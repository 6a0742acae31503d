"""The on-disk store: paths, atomic versioned msgpack records, locks.

The root and its directories are 0700, records and blobs 0600: for root alone.

Every record is written to a temporary file in the same directory, fsynced,
renamed over the old one, and the directory is fsynced, so a kill -9 at any
moment leaves either the old record or the new one, and so does a power loss.
A running container's state (status, pids: written several times per start) is
not fsynced (durable=False): the rename alone keeps it whole through a kill -9,
and after a power loss no container runs anyway (the next look repairs it).  Writers that must see a
consistent view (name allocation, image index updates) take an fcntl lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import msgpack

from .errors import System

SCHEMA_VERSION = 1
DEFAULT_ROOT = "/var/lib/dunnage"
DEFAULT_RUN = "/run/dunnage"


class StoreError(System):
    """A problem with the store a user can act on."""


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: int = 0o644, durable: bool = True) -> Iterator[BinaryIO]:
    """A file that appears at PATH whole or not at all: written under a temporary
    name beside it, fsynced (if DURABLE), renamed over PATH (the directory fsynced
    too).  If the block fails, the temporary file goes and PATH is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    with atomic_file(path, mode, durable) as f:
        f.write(data)


def write_record(path: str | os.PathLike, record: dict, mode: int = 0o600, durable: bool = True) -> None:
    """Write a versioned msgpack record atomically (see the module's docstring for DURABLE)."""
    atomic_write_bytes(path, pack({"schema": SCHEMA_VERSION, "data": record}), mode, durable)


def read_record(path: str | os.PathLike) -> dict:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    raw = unpack(b"".join(chunks))
    if not isinstance(raw, dict) or "schema" not in raw:
        raise StoreError(f"{path}: not a dunnage record")
    if raw["schema"] > SCHEMA_VERSION:
        raise StoreError(f"{path}: written by a newer dunnage (schema {raw['schema']})")
    return raw["data"]


@contextlib.contextmanager
def locked(path: str | os.PathLike, shared: bool = False) -> Iterator[None]:
    """Hold an fcntl lock on PATH (created if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Store:
    """Paths of one dunnage root, and the locks that guard it."""

    def __init__(self, root: str | os.PathLike | None = None, run: str | os.PathLike | None = None):
        self.root = Path(root or os.environ.get("DUNNAGE_ROOT") or DEFAULT_ROOT).absolute()
        # runtime directory: per root, so two roots (tests) never share shims
        if run is None:
            run = os.environ.get("DUNNAGE_RUN")
        if run is None:
            run = DEFAULT_RUN if str(self.root) == DEFAULT_ROOT else self.root / "run"
        self.run = Path(run)
        # the store is root's alone (blobs hold every image and commit, events.log what
        # was run): what containers of other users read (hosts, resolv.conf, volumes)
        # reaches them through bind mounts, which do not pass through these directories
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            if os.stat(self.root).st_mode & 0o077 and os.geteuid() == 0:
                os.chmod(self.root, 0o700)  # made by an older dunnage, or by hand
        except OSError:
            pass
        for d in (self.blobs.parent, self.blobs, self.layers, self.images_dir, self.containers, self.tmp):
            d.mkdir(mode=0o700, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)

    # ---- layout ----
    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def image_index(self) -> Path:
        return self.images_dir / "index.msgpack"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def events_log(self) -> Path:
        return self.root / "events.log"

    def container_dir(self, cid: str) -> Path:
        return self.containers / cid

    def run_dir(self, cid: str) -> Path:
        return self.run / cid

    def layer_dir(self, chain_id: str) -> Path:
        return self.layers / chain_id.replace("sha256:", "")

    # ---- locks ----
    def lock(self, name: str = "global", shared: bool = False):
        return locked(self.root / f".{name}.lock", shared=shared)

    def tempdir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp))
