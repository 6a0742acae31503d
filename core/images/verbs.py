"""The image verbs behind the Engine facade (import, tag, load, save, pull, push, login,
rmi, prune, the demo image) over the image store, the archives and the registry
client; each takes the Engine first and never imports it.  ImageError is a
DunnageError raised where the fault is found, with its exit code (125) and status;
tag and rmi exit 1 on any fault, as docker's do."""
from __future__ import annotations

from typing import BinaryIO, Optional

from .. import events
from ..containers import all_containers
from ..errors import System, exit_code_of
from ..lifecycle.discard import lowers_in_use
from ..store import atomic_file
from .store import Image, ImageError


def import_tarball(engine, stream: BinaryIO, ref: Optional[str], changes: Optional[dict] = None) -> Image:
    img = engine.images.import_tarball(stream, ref, changes)
    events.emit(engine.store, "image", "import", img.id, {"name": ref or ""})
    return img


def tag(engine, src: str, target: str) -> Image:
    with exit_code_of(1):
        img = engine.images.tag(src, target)
    events.emit(engine.store, "image", "tag", img.id, {"name": target})
    return img


def prune(engine, all_: bool = False, select=None) -> list[str]:
    in_use = {c.config["Image"] for c in all_containers(engine.store)}
    return engine.images.prune(in_use, all_, lowers_in_use(engine.store), select)


def load(engine, source) -> list[tuple[Image, list[str]]]:
    """docker load: docker archives and OCI layouts (a path, a directory, or a stream)."""
    from .archive import load as load_archive
    out = load_archive(engine.images, source)
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
    img = registry_pull(engine.images, ref, credentials(engine), tls_verify, say, progress=progress, platform=platform)
    events.emit(engine.store, "image", "pull", img.id, {"name": ref})
    return img


def push(engine, ref: str, tls_verify: Optional[bool] = None, say=lambda s: None) -> str:
    from .registry import push as registry_push
    digest = registry_push(engine.images, ref, credentials(engine), tls_verify, say)
    events.emit(engine.store, "image", "push", ref, {"name": ref})
    return digest


def login(engine, registry: str, user: str, password: str, tls_verify: Optional[bool] = None) -> None:
    """Check the credentials against the registry's /v2/, then keep them (root-only file)."""
    from .registry import Client, Reference
    cl = Client(Reference(registry, "x/x", "latest", None), (user, password), tls_verify)
    try:
        cl.request("").close()
    except ImageError as err:
        raise ImageError(f"login to {registry} failed: {err}", status=err.status) from None
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
    except OSError as err:
        raise System(f"save: {path}: {err.strerror}") from None


def ls(engine) -> list[Image]:
    return sorted(engine.images.list(), key=lambda i: i.created, reverse=True)


def get(engine, ref: str) -> Image:
    return engine.images.get(ref)


def remove(engine, ref: str, force: bool = False) -> list[str]:
    cs = engine.containers(all_=True)
    in_use: dict[str, bool] = {}  # image id -> whether a container on it runs
    for c in cs:
        in_use[c.config["Image"]] = in_use.get(c.config["Image"], False) or c.status in (
            "running", "paused", "restarting")
    with exit_code_of(1):
        out = engine.images.remove(ref, in_use, force, lowers_in_use(engine.store))
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
