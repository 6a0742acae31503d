"""The image verbs behind the Engine facade (import, tag, load, save, pull, push, login,
rmi, prune, the demo image) over the image store, the archives and the registry
client; each takes the Engine first and never imports it.  ImageError is no
EngineError yet: each verb says which of docker's exit codes its faults get (1 for
tag and rmi, 125 otherwise), left for the one-error-type work."""
from __future__ import annotations

from typing import BinaryIO, Optional

from .. import events
from ..containers import all_containers
from ..errors import EngineError
from ..lifecycle.discard import lowers_in_use
from ..store import atomic_file
from .store import Image, ImageError


def import_tarball(engine, stream: BinaryIO, ref: Optional[str], changes: Optional[dict] = None) -> Image:
    try:
        img = engine.images.import_tarball(stream, ref, changes)
    except ImageError as err:
        raise EngineError(str(err)) from None
    events.emit(engine.store, "image", "import", img.id, {"name": ref or ""})
    return img


def tag(engine, src: str, target: str) -> Image:
    try:
        img = engine.images.tag(src, target)
    except ImageError as err:
        raise EngineError(str(err), 1) from None
    events.emit(engine.store, "image", "tag", img.id, {"name": target})
    return img


def prune(engine, all_: bool = False) -> list[str]:
    in_use = {c.config["Image"] for c in all_containers(engine.store)}
    return engine.images.prune(in_use, all_, lowers_in_use(engine.store))


def load(engine, source) -> list[tuple[Image, list[str]]]:
    """docker load: docker archives and OCI layouts (a path, a directory, or a stream)."""
    from .archive import load as load_archive
    try:
        out = load_archive(engine.images, source)
    except ImageError as err:
        raise EngineError(str(err)) from None
    for img, tags in out:
        events.emit(engine.store, "image", "load", img.id, {"name": ",".join(tags)})
    return out


def credentials(engine):
    from .registry import Credentials
    return Credentials(engine.store.root / "auth.json")


def pull(engine, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None, progress=None,
         platform: Optional[str] = None) -> Image:
    """PROGRESS(layer, bytes so far, size), from the download threads, as layers come.
    PLATFORM (os/arch[/variant]) picks from a multi-platform index; this machine's by default."""
    from .registry import pull as registry_pull
    try:
        img = registry_pull(engine.images, ref, credentials(engine), tls_verify, say, progress=progress, platform=platform)
    except ImageError as err:
        raise EngineError(str(err)) from None
    events.emit(engine.store, "image", "pull", img.id, {"name": ref})
    return img


def push(engine, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None) -> str:
    from .registry import push as registry_push
    try:
        digest = registry_push(engine.images, ref, credentials(engine), tls_verify, say)
    except ImageError as err:
        raise EngineError(str(err)) from None
    events.emit(engine.store, "image", "push", ref, {"name": ref})
    return digest


def login(engine, registry: str, user: str, password: str, tls_verify: Optional[bool] = None) -> None:
    """Check the credentials against the registry's /v2/, then keep them (root-only file)."""
    from .registry import Client, Reference
    cl = Client(Reference(registry, "x/x", "latest", None), (user, password), tls_verify)
    try:
        cl.request("").close()
    except ImageError as err:
        raise EngineError(f"login to {registry} failed: {err}") from None
    credentials(engine).set(registry, user, password)


def logout(engine, registry: str) -> bool:
    return credentials(engine).remove(registry)


def save(engine, refs: list[str], path: Optional[str], fmt: str = "docker-archive", stream=None) -> None:
    """docker save: to PATH (written to a temporary name, then renamed) or to STREAM."""
    from .archive import save as save_archive
    try:
        if path is None:
            save_archive(engine.images, refs, stream, fmt)
            return
        with atomic_file(path) as f:
            save_archive(engine.images, refs, f, fmt)
    except ImageError as err:
        raise EngineError(str(err)) from None
    except OSError as err:
        raise EngineError(f"save: {path}: {err.strerror}") from None


def ls(engine) -> list[Image]:
    return sorted(engine.images.list(), key=lambda i: i.created, reverse=True)


def get(engine, ref: str) -> Image:
    try:
        return engine.images.get(ref)
    except ImageError as err:
        raise EngineError(str(err)) from None


def remove(engine, ref: str, force: bool = False) -> list[str]:
    cs = engine.containers(all_=True)
    in_use: dict[str, bool] = {}  # image id -> whether a container on it runs
    for c in cs:
        in_use[c.config["Image"]] = in_use.get(c.config["Image"], False) or c.status in (
            "running", "paused", "restarting")
    try:
        out = engine.images.remove(ref, in_use, force, lowers_in_use(engine.store))
    except ImageError as err:
        raise EngineError(str(err), 1) from None
    events.emit(engine.store, "image", "delete", ref)
    return out


def ensure_demo(engine) -> Image:
    from .demo import DEMO_IMAGE, busybox_rootfs_tar
    try:
        return engine.images.get(DEMO_IMAGE)
    except ImageError:
        pass
    import io
    return import_tarball(engine, io.BytesIO(busybox_rootfs_tar()), DEMO_IMAGE, {"Cmd": ["sh"]})
