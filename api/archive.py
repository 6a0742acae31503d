"""A container's files through the API: archive (docker cp both ways: HEAD and GET
/containers/{id}/archive with docker's X-Docker-Container-Path-Stat header, PUT to
extract a tar into a directory), export and changes, over the engine's cp, export
and diff (paths resolved in the container's root by descriptor)."""
from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import posixpath
import shutil
from typing import Iterator
import stat
import tarfile
import tempfile
import threading

from .errors import ApiError, not_found
from .router import qbool, qstr
from .responses import Response, Stream

CHUNK = 1 << 16
_GO_TYPE = {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFIFO: 1 << 25, stat.S_IFSOCK: 1 << 24,
            stat.S_IFBLK: 1 << 26, stat.S_IFCHR: (1 << 26) | (1 << 21)}


def go_mode(mode: int) -> int:
    """A st_mode as Go's os.FileMode, which docker's clients read (the type and
    set-id bits in high bits of their own)."""
    out = (mode & 0o777) | _GO_TYPE.get(stat.S_IFMT(mode), 0)
    for bit, go in ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20)):
        if mode & bit:
            out |= go
    return out


def path_stat(path: str, st: os.stat_result, link: str) -> str:
    """docker's X-Docker-Container-Path-Stat: base64 of the JSON of a container path's stat."""
    name = posixpath.basename(path.rstrip("/")) or "/"
    if link and not link.startswith("/"):
        link = posixpath.normpath(posixpath.join(posixpath.dirname("/" + path.strip("/")), link))
    t = _dt.datetime.fromtimestamp(st.st_mtime_ns // 10**9, _dt.timezone.utc)
    mtime = t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{st.st_mtime_ns % 10**9:09d}".rstrip("0").rstrip(".")) + "Z"
    doc = {"name": name, "size": st.st_size, "mode": go_mode(st.st_mode), "mtime": mtime, "linkTarget": link}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _engine_and_id(req):
    from dunnage.core import EngineError
    e = req.engine()
    try:
        return e, e.container(req.params["id"]).id
    except EngineError:
        raise not_found("container", req.params["id"]) from None


def _path(req) -> str:
    p = qstr(req.query, "path")
    if not p:
        raise ApiError(400, "path is required: the path of a file or directory in the container")
    return p


def _stat(e, cid: str, path: str, ref: str):
    from dunnage.core import EngineError
    try:
        return e.archive(cid, path)
    except EngineError as ex:
        if getattr(ex, "status", None) == 404:
            raise ApiError(404, f"Could not find the file {path} in container {ref}") from None
        raise


def piped(write) -> Iterator[bytes]:
    """WRITE(file) run in a thread into a pipe, its output read as it comes: a big tar
    is never held whole; a client that hangs up closes the pipe and the writer stops."""
    r, w = os.pipe()

    def run():
        try:
            with open(w, "wb") as f:
                write(f)
        except Exception:  # noqa: BLE001 - a broken pipe or a fault mid-way: the tar ends short
            pass
    t = threading.Thread(target=run, name="api-tar", daemon=True)
    t.start()

    def items():
        with open(r, "rb") as f:
            while True:
                data = f.read1(CHUNK) if hasattr(f, "read1") else f.read(CHUNK)
                if not data:
                    break
                yield data
        t.join()
    return items()


def archive_head(req):
    e, cid = _engine_and_id(req)
    path = _path(req)
    st, link = _stat(e, cid, path, req.params["id"])
    return Response(200, None, {"X-Docker-Container-Path-Stat": path_stat(path, st, link),
                                "Content-Type": "application/x-tar"})


def archive_get(req):
    if req.method == "HEAD":
        return archive_head(req)
    e, cid = _engine_and_id(req)
    path = _path(req)
    st, link = _stat(e, cid, path, req.params["id"])
    return Stream(piped(lambda f: e.archive(cid, path, f)), "application/x-tar",
                  headers={"X-Docker-Container-Path-Stat": path_stat(path, st, link)})


def archive_put(req):
    """Extract the body's tar into directory PATH of the container: unpacked first in
    the store's staging directory (tarfile's tar filter: nothing outside it, no
    device files' owners' bits), then copied in entry by entry by the engine's cp."""
    e, cid = _engine_and_id(req)
    path = _path(req)
    st, _ = _stat(e, cid, path.rstrip("/") + "/" if path != "/" else path, req.params["id"])
    if not stat.S_ISDIR(st.st_mode):
        raise ApiError(400, f"extraction point is not a directory: {path}")
    no_overwrite = qbool(req.query, "noOverwriteDirNonDir")
    os.makedirs(e.store.tmp, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="api-cp.", dir=e.store.tmp)
    try:
        try:
            body = req.body_file()
            if body is None:
                raise tarfile.TarError("the body is empty")
            with tarfile.open(fileobj=body, mode="r:*") as tf:
                tf.extractall(tmp, filter="tar")
        except (tarfile.TarError, OSError, EOFError) as ex:
            raise ApiError(400, f"the body is not a tar archive that can be extracted: {ex}") from None
        for name in sorted(os.listdir(tmp)):
            if no_overwrite:
                try:
                    there, _ = e.archive(cid, posixpath.join(path, name))
                    if stat.S_ISDIR(there.st_mode) != os.path.isdir(os.path.join(tmp, name)):
                        raise ApiError(400, f"cannot overwrite {'non-' if stat.S_ISDIR(there.st_mode) else ''}"
                                            f"directory {posixpath.join(path, name)} with "
                                            f"{'' if stat.S_ISDIR(there.st_mode) else 'non-'}directory")
                except ApiError:
                    raise
                except Exception:  # noqa: BLE001 - not there: nothing overwritten
                    pass
            e.copy_to(cid, os.path.join(tmp, name), path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Response(200, None)


archive_put.archive_body = True


def export(req):
    e, cid = _engine_and_id(req)
    return Stream(piped(lambda f: e.export(cid, stream=f)), "application/x-tar")


def changes(req):
    e, cid = _engine_and_id(req)
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": p, "Kind": kinds[k]} for k, p in e.diff(cid)]


def register(r) -> None:
    r.add("GET", "/containers/{id}/archive", archive_get)
    r.add("PUT", "/containers/{id}/archive", archive_put)
    r.add("GET", "/containers/{id}/export", export)
    r.add("GET", "/containers/{id}/changes", changes)
