"""RUN --mount: what BuildKit mounts for one RUN, as the container's --mount flags.

- type=cache: a directory of the store (`<root>/builder/cache-mounts/`, one per id, the
  target by default) that persists from build to build (id, target, mode, uid, gid);
- type=bind: a path of the context (source, default its root), read-only unless rw, and
  then a copy, so the context is never written; a way out of the context is refused;
  from= another stage (by name) or an image: a copy of that path of its file system;
- type=tmpfs: an empty tmpfs (size);
- type=secret: the file `--secret id=ID,src=FILE` named, read-only, at /run/secrets/ID by
  default (a copy, 0400 root unless uid, gid, mode say), or with env= a variable of the RUN
  (and no file unless a target is given); a missing one is an error only where required.
Mount points the image did not have are removed from the layer afterwards (BuildKit leaves
none).  type=ssh and a cache's from= are refused with one line."""
from __future__ import annotations

import csv
import hashlib
import os
import posixpath
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from dunnage.core.errors import InvalidParameter

from . import copy as _cp
from . import layers


@dataclass
class Mounts:
    flags: list[str] = field(default_factory=list)     # docker --mount values for the container
    created: list[str] = field(default_factory=list)   # targets the image lacks (scrubbed after)
    key: list[str] = field(default_factory=list)       # what the step's cache key takes from them
    env: list[str] = field(default_factory=list)       # secrets given as variables (env=), in no key


def _fields(spec: str, line: int) -> dict[str, str]:
    try:
        items = next(csv.reader([spec]))
    except (StopIteration, csv.Error):
        raise InvalidParameter(f"Dockerfile:{line}: invalid mount: {spec}", 1) from None
    out = {}
    for it in items:
        k, eq, v = it.partition("=")
        out[k.strip().lower()] = v if eq else "true"
    return out


def _octal(v: str, what: str, line: int) -> int:
    try:
        return int(v, 8)
    except ValueError:
        raise InvalidParameter(f"Dockerfile:{line}: invalid {what} {v} in a mount", 1) from None


def prepare(specs: list[str], line: int, workdir: str, store_root: Path, context: Optional[_cp.Tree],
            image: _cp.Tree, secrets: dict[str, str], tmp: Path,
            sources: Optional[Callable[[str], tuple[_cp.Tree, str]]] = None) -> Mounts:
    """SOURCES: a from= name -> that stage's or image's file system and what identifies its
    state (for the cache key)."""
    out = Mounts()
    for spec in specs:
        f = _fields(spec, line)
        typ = f.get("type", "bind")
        if typ not in ("bind", "cache", "tmpfs", "secret"):
            raise InvalidParameter(f"Dockerfile:{line}: RUN --mount=type={typ} is not supported by dunnage build", 1)
        if f.get("from") and typ == "cache":
            raise InvalidParameter(f"Dockerfile:{line}: RUN --mount=type=cache,from= is not supported by dunnage "
                                   "build", 1)
        target = f.get("target") or f.get("dst") or f.get("destination") or ""
        if typ == "secret":  # as dispatchSecret: source= or id=, else the target's name; env= alone mounts no file
            sid = f.get("source") or f.get("src") or f.get("id") or (posixpath.basename(target) if target else "")
            path = secrets.get(sid)
            if path is None:
                if f.get("required") == "true":
                    raise InvalidParameter(f"Dockerfile:{line}: secret {sid} not found: give it with "
                                           f"--secret id={sid},src=FILE", 1)
                continue
            if f.get("env") is not None:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    out.env.append(f"{f['env']}={fh.read()}")
                if not target:
                    continue
            target = target or f"/run/secrets/{posixpath.basename(sid)}"
        if not target:
            raise InvalidParameter(f"Dockerfile:{line}: mount target is required: {spec}", 1)
        if not target.startswith("/"):
            target = posixpath.join(workdir or "/", target)
        target = posixpath.normpath(target)
        rel = target.lstrip("/")
        try:
            missing = image.lstat(image.resolve(rel)) is None if rel else False
        except _cp.CopyError:
            missing = True
        ro = f.get("readonly") == "true" or f.get("ro") == "true"
        if typ == "cache":
            cid = f.get("id") or target
            d = store_root / "builder" / "cache-mounts" / hashlib.sha256(cid.encode()).hexdigest()[:32]
            try:  # made by whichever step gets there first (stages run in parallel)
                d.mkdir(parents=True, mode=0o700)
            except FileExistsError:
                pass
            else:
                os.chmod(d, _octal(f.get("mode", "755"), "mode", line))
                os.chown(d, int(f.get("uid", "0")), int(f.get("gid", "0")))
            os.chmod(d.parent, 0o700)
            out.flags.append(f"type=bind,source={d},target={target}" + (",readonly" if ro else ""))
            out.key.append(f"cache {cid} {target}")
        elif typ == "bind" and f.get("from"):
            if sources is None:
                raise InvalidParameter(f"Dockerfile:{line}: RUN --mount from= needs a stage or image", 1)
            tree, ident = sources(f["from"])
            raw = f.get("source") or f.get("src") or ""
            src = tree.resolve(posixpath.normpath("/" + raw).lstrip("/"))
            if tree.lstat(src) is None:
                raise InvalidParameter(f"Dockerfile:{line}: mount source not found in {f['from']}: {raw or '/'}", 1)
            real = _materialize(tree, src, Path(tempfile.mkdtemp(prefix="from-", dir=tmp)))
            rw = f.get("rw") == "true" or f.get("readwrite") == "true"
            out.flags.append(f"type=bind,source={real},target={target}" + ("" if rw else ",readonly"))
            out.key.append(f"bind from={ident} {src} {target} {rw}")
        elif typ == "bind":
            if context is None:
                raise InvalidParameter(f"Dockerfile:{line}: RUN --mount=type=bind needs a build context", 1)
            raw = f.get("source") or f.get("src") or ""
            if posixpath.normpath(raw).split("/")[0] == "..":
                raise _cp.CopyError(f"forbidden path outside the build context: {raw}")
            src = context.resolve(posixpath.normpath("/" + raw).lstrip("/"))
            if context.lstat(src) is None:
                raise InvalidParameter(f"Dockerfile:{line}: mount source not found in the build context: "
                                       f"{f.get('source') or f.get('src')}", 1)
            real = context.real(src)
            rw = f.get("rw") == "true" or f.get("readwrite") == "true"
            if rw:  # the context is never written: a copy takes the writes
                dst = Path(tempfile.mkdtemp(prefix="bind-", dir=tmp)) / "copy"  # one per RUN of the build
                if os.path.isdir(real):
                    shutil.copytree(real, dst, symlinks=True)
                else:
                    shutil.copy2(real, dst)
                real = str(dst)
            out.flags.append(f"type=bind,source={real},target={target}" + ("" if rw else ",readonly"))
            plan = _cp.Plan(items=[_cp.Item("entry", context.real(src), "", context.lstat(src), src)])
            if os.path.isdir(context.real(src)):
                _cp._walk(context, src, "", plan.items, [])
            out.key.append(f"bind {src} {target} {rw} {_cp.checksum(plan)}")
        elif typ == "tmpfs":
            size = f.get("size")
            out.flags.append(f"type=tmpfs,target={target}" + (f",tmpfs-size={size}" if size else ""))
            out.key.append(f"tmpfs {target} {size}")
        else:  # a copy owned and moded as BuildKit's secret file (0400 root unless uid, gid, mode say)
            copy = Path(tempfile.mkdtemp(prefix="secret-", dir=tmp)) / "s"
            shutil.copyfile(path, copy)
            os.chown(copy, int(f.get("uid", "0")), int(f.get("gid", "0")))
            os.chmod(copy, _octal(f.get("mode", "400"), "mode", line))
            out.flags.append(f"type=bind,source={copy},target={target},readonly")
        if missing:
            out.created.append(rel)
    return out


def _materialize(tree: _cp.Tree, rel: str, into: Path) -> str:
    """REL of a stage's or image's layers as a directory (or file) of its own under INTO, made
    as COPY --from makes its layer (owners, modes, links and hard links kept): what a bind
    from= mounts, so the RUN sees that file system and writes to nothing of it."""
    from dunnage.core.images.unpack import unpack_layer
    st = tree.lstat(rel)
    name = "" if stat.S_ISDIR(st.st_mode) else (posixpath.basename(rel) or "f")
    plan = _cp.Plan(keep_owners=True)
    if name:
        plan.items.append(_cp.Item("entry", tree.real(rel), name, st, rel))
    else:
        _cp._walk(tree, rel, "", plan.items, [])
    tw = layers.TarWriter(into / "layer.tar", None, mirror=into / "tree")
    try:
        _cp.write(tw, plan)
        tw.close()
    except BaseException:
        tw.abort()
        raise
    made = tw.tree()
    if made is None:  # what the mirror does not make (a fifo): the tar unpacked
        with open(into / "layer.tar", "rb") as fh:
            unpack_layer(fh, into / "tree")
    (into / "layer.tar").unlink()
    top = into / "tree"
    if not name:
        os.chmod(top, stat.S_IMODE(st.st_mode))
        os.chown(top, st.st_uid, st.st_gid)
    return str(top / name) if name else str(top)


def scrub(upper: str, created: list[str]) -> None:
    """Mount points the runtime made for RUN's mounts (and the directories made for them,
    while empty) leave the upper directory: they are not the step's changes."""
    for rel in sorted(created, key=len, reverse=True):
        p = rel
        while p:
            full = os.path.join(upper, p)
            try:
                if not os.path.lexists(full):
                    pass
                elif os.path.isdir(full) and not os.path.islink(full):
                    os.rmdir(full)
                elif os.path.lexists(full) and os.path.getsize(full) == 0:
                    os.unlink(full)
                else:
                    break
            except OSError:
                break
            p = posixpath.dirname(p)
