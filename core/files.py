"""A container's files: its merged root (rootfs), docker export, cp both ways, diff,
commit, and the listing of a directory with the layer each entry comes from.

Each function takes the Engine facade first (container lookup, stores) and never
imports it."""
from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from typing import Optional

from . import events
from .containers import Container
from .errors import Forbidden, NotFound, System, exit_code_of, os_kind
from .images.store import Image, ImageError
from .lifecycle import pause as pause_verb
from .runtime.linux import is_mountpoint, lazy_unmount
from .store import atomic_file


def files(engine, ref: str, path: str = "/") -> list[dict]:
    """The entries of directory PATH as the container sees it, each with where it
    comes from: "added" or "changed" by the container (its upper layer), docker's
    "init" layer, or the image layer (number from the bottom, and its diff id)."""
    import stat as _stat
    from dunnage.fuse.layers import LayerStack
    c = engine.container(ref)
    lowers = c.config.get("Lowers", [])
    img_layers = [L for L in lowers if not L.endswith("/init")]
    try:
        diff_ids = engine.images.get(c.config["Image"]).config["rootfs"]["diff_ids"]
    except (ImageError, KeyError):
        diff_ids = []
    stack = LayerStack(lowers, str(c.upper))
    rel = path.strip("/")
    out = []
    for name, layer in stack.listing(rel):
        child = f"{rel}/{name}" if rel else name
        try:
            st = os.lstat(os.path.join(layer, child))
        except OSError:
            continue
        if layer == stack.upper:
            origin = "changed" if stack.in_lowers(child) else "added"
        elif layer.endswith("/init"):
            origin = "init"
        else:
            n = len(img_layers) - img_layers.index(layer)
            did = diff_ids[n - 1] if n - 1 < len(diff_ids) else ""
            origin = f"layer {n}" + (f" {did[7:19]}" if did else "")
        kind = ("dir" if _stat.S_ISDIR(st.st_mode) else "link" if _stat.S_ISLNK(st.st_mode)
                else "file" if _stat.S_ISREG(st.st_mode) else "other")
        out.append({"Name": name, "Path": "/" + child, "Type": kind, "Size": st.st_size,
                    "Mode": _stat.filemode(st.st_mode), "Origin": origin})
    return out


def diff(engine, ref: str) -> list[tuple[str, str]]:
    """docker diff: what the container changed, from its upper layer: (A|C|D, path)."""
    import stat as _stat
    from .runtime import openat
    c = engine.container(ref)
    out = []
    # by descriptor, never through a link: a running container swaps its directories at will
    lowers = []
    up = os.open(str(c.upper), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for L in c.config.get("Lowers", []):
            try:
                lowers.append(os.open(L, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
            except FileNotFoundError:
                pass

        def walk(fd: int, rel_dir: str) -> None:
            for n in openat.listing(fd):
                rel = f"{rel_dir}/{n}" if rel_dir else n
                if n == ".wh..wh..opq" or n.startswith(".wh..dunnage-tmp."):
                    continue
                if n.startswith(".wh."):
                    out.append(("D", "/" + (f"{rel_dir}/{n[4:]}" if rel_dir else n[4:])))
                    continue
                in_lower = any(openat.lexists_beneath(L, rel) for L in lowers)
                out.append(("C" if in_lower else "A", "/" + rel))
                if openat.kind(fd, n) == _stat.S_IFDIR:
                    try:
                        sub = openat.open_dir(fd, n)
                    except OSError:  # not a directory any more
                        continue
                    try:
                        walk(sub, rel)
                    finally:
                        os.close(sub)
        walk(up, "")
    finally:
        for fd in [up, *lowers]:
            os.close(fd)
    return sorted(out, key=lambda x: x[1])


def commit(engine, ref: str, target: Optional[str] = None, changes: Optional[dict] = None, message: str = "",
           author: str = "", pause: bool = True) -> Image:
    """docker commit: the container's upper layer becomes a new image layer
    (paused meanwhile, as docker does, so the layer is consistent)."""
    c = engine.container(ref)
    parent = None
    for img in engine.images.list():
        if img.id == c.config["Image"]:
            parent = img
    if parent is None:
        raise System(f"the image of container {c.name} is gone", 1)
    paused_here = False
    if pause and c.status == "running" and c.running():
        pause_verb.pause(engine, c.id)
        paused_here = True
    try:
        if c.status == "running" and is_mountpoint(str(c.merged)):
            from dunnage.fuse.flush import write_back
            try:  # the writeback cache: what is still the kernel's reaches the upper layer
                write_back(str(c.merged))
            except OSError:
                pass  # the server is gone: the upper layer has all it will ever have
        with exit_code_of(1):
            img = engine.images.commit_layer(parent, c.upper, target, changes, comment=message, author=author,
                                           created_by=" ".join(c.config["Argv"]))
    finally:
        if paused_here:
            pause_verb.unpause(engine, c.id)
    events.emit(engine.store, "container", "commit", c.id, {"name": c.name, "image": target or img.id})
    return img


def rootfs(engine, ref: str):
    """The container's merged root as a path: its live mount when running, else a
    temporary dunnage.fuse mount of its layers (same semantics, unmounted after)."""
    import contextlib
    import subprocess
    import sys

    @contextlib.contextmanager
    def cm():
        c = engine.container(ref)
        if c.running():
            yield str(c.merged)
            return
        mnt = engine.store.tempdir("rootfs-")
        proc = subprocess.Popen([sys.executable, "-m", "dunnage.fuse", "--fsname", f"dunnage-{c.id[:12]}"]
                                + sum((["--lower", lo] for lo in c.config["Lowers"]), [])
                                + ["--upper", str(c.upper), str(mnt)], stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 20
            while not is_mountpoint(str(mnt)):
                if proc.poll() is not None or time.monotonic() > end:
                    raise System(f"cannot mount the file system of container {c.name}", 1)
                time.sleep(0.01)
            yield str(mnt)
        finally:
            if is_mountpoint(str(mnt)):
                lazy_unmount(str(mnt))
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(mnt, ignore_errors=True)
    return cm()


def export(engine, ref: str, path: Optional[str] = None, stream=None) -> None:
    """docker export: the container's whole file system as a tar, to PATH
    (appearing whole or not at all) or to STREAM."""
    import tarfile

    def write(out) -> None:
        from .runtime import openat
        with rootfs(engine, ref) as root, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            # by descriptor: a running container swapping a directory for a link to the
            # host's puts the link in the tar, never what it points to
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for n in openat.listing(fd):
                    openat.tar_add(tf, fd, n, n)
            finally:
                os.close(fd)
    if path is None:
        write(stream)
        return
    try:
        with atomic_file(path) as f:
            write(f)
    except OSError as e:
        raise System(f"export: {path}: {e.strerror}") from None


def cp_root(engine, ref: str):
    """Where cp reads and writes: a running container's own view (/proc/PID/root, so its
    volumes, bind mounts and tmpfs are there as it sees them); a stopped one's union
    root, with its volumes and bind mounts laid over it by _cp_path, as docker does."""
    import contextlib

    @contextlib.contextmanager
    def cm():
        c = engine.container(ref)
        if c.running() and c.state.get("Pid"):
            yield c, f"/proc/{c.state['Pid']}/root"
            return
        with rootfs(engine, ref) as root:
            yield c, root
    return cm()


def cp_at(c: Container, root: str, path: str, writing: bool = False) -> tuple[int, str]:
    """A descriptor of the root cp resolves PATH in (the caller closes it) and PATH in
    that root: the container's, or, when stopped, the volume or bind mount holding PATH."""
    norm = "/" + "/".join(p for p in path.split("/") if p not in ("", "."))
    if not c.running():
        best = None  # the deepest volume or bind mount holding PATH
        for m in c.config["HostConfig"].get("Mounts") or []:
            d = m["Target"].rstrip("/") or "/"
            if m["Type"] in ("bind", "volume") and m.get("Source") and (norm == d or norm.startswith(d + "/")):
                if best is None or len(d) > len(best[1]):
                    best = (m, d)
        if best is not None:
            m, d = best
            if writing and m.get("ReadOnly"):
                raise Forbidden(f"mounted volume is marked read-only: {m['Target']}", 1)
            root, path = m["Source"], norm[len(d):] + ("/" if path.endswith(("/", "/.")) else "")
    try:
        return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), path
    except OSError as e:
        raise System(f"container {c.name}: {root}: {e.strerror}", 1) from None


def cp_locate(c: Container, root: str, path: str, follow_last: bool, missing: str,
              writing: bool = False) -> tuple[int, str]:
    """PATH's parent directory as a descriptor (the caller closes it) and its last name,
    resolved inside the root cp uses (cp_at); MISSING is the NotFound message."""
    from .runtime import openat
    rootfd, rel = cp_at(c, root, path, writing=writing)
    try:
        return openat.locate(rootfd, rel, follow_last=follow_last)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(missing, 1) from None
    except OSError as e:
        raise os_kind(e)(f"{path}: {openat.message(e)}", 1) from None
    finally:
        os.close(rootfd)


def copy_from(engine, ref: str, src: str, dest: str) -> None:
    """docker cp CONTAINER:SRC DEST ('-' writes a tar to standard output); volumes and
    bind mounts included, as the container sees them.  SRC is resolved inside the
    container's root by descriptor; its last link is copied as a link unless SRC ends
    in / or /. (docker's)."""
    import sys
    import tarfile
    from .runtime import openat
    base = next((p for p in reversed(src.split("/")) if p not in ("", ".")), ".")
    base = "." if base == ".." else base
    with cp_root(engine, ref) as (c, root):
        dirfd, name = cp_locate(c, root, src, src.endswith(("/", "/.")),
                                f"Could not find the file {src} in container {ref}")
        try:
            if openat.kind(dirfd, name) is None:
                raise NotFound(f"Could not find the file {src} in container {ref}", 1)
            if dest == "-":
                with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tf:
                    openat.tar_add(tf, dirfd, name, base)
                return
            target = dest
            if os.path.isdir(dest) and base != ".":
                target = os.path.join(dest, base)
            openat.copy_out(dirfd, name, target)
        except OSError as e:
            raise os_kind(e)(f"copying {src}: {openat.message(e)}", 1) from None
        finally:
            os.close(dirfd)


def archive(engine, ref: str, src: str, stream=None) -> tuple[os.stat_result, str]:
    """The Engine API's archive (docker cp through a socket): SRC's lstat and, for a link,
    its target, as the container sees them, resolved in its root by descriptor as
    copy_from resolves it; with STREAM, its tar (named as copy_from names it) written
    there.  NotFound for what is not there."""
    import tarfile
    from .runtime import openat
    base = next((p for p in reversed(src.split("/")) if p not in ("", ".")), ".")
    base = "." if base == ".." else base
    with cp_root(engine, ref) as (c, root):
        dirfd, name = cp_locate(c, root, src, src.endswith(("/", "/.")),
                                f"Could not find the file {src} in container {ref}")
        try:
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound(f"Could not find the file {src} in container {ref}", 1) from None
            link = os.readlink(name, dir_fd=dirfd) if stat.S_ISLNK(st.st_mode) else ""
            if stream is not None:
                with tarfile.open(fileobj=stream, mode="w|") as tf:
                    openat.tar_add(tf, dirfd, name, base)
            return st, link
        except OSError as e:
            raise os_kind(e)(f"copying {src}: {openat.message(e)}", 1) from None
        finally:
            os.close(dirfd)


def copy_to(engine, ref: str, src: str, dest: str) -> None:
    """docker cp SRC CONTAINER:DEST, written through the union (copy-up, whiteouts), or into
    the volume or bind mount that holds DEST.  DEST is resolved inside the container's
    root by descriptor, its links followed there (docker's); nothing is written through
    a link."""
    import stat as _stat
    from .runtime import openat
    if not os.path.lexists(src):
        raise NotFound(f"no such file or directory: {src}", 1)
    with cp_root(engine, ref) as (c, root):
        dirfd, name = cp_locate(c, root, dest, True, f"no such directory in the container: {os.path.dirname(dest)}",
                                writing=True)
        try:
            if openat.kind(dirfd, name) == _stat.S_IFDIR:
                sub = openat.open_dir(dirfd, name)
                os.close(dirfd)
                dirfd, name = sub, os.path.basename(src.rstrip("/")) or "."
            openat.copy_in(src, dirfd, name)
        except OSError as e:
            if e.errno == errno.EROFS:
                raise Forbidden(f"mounted volume is marked read-only: {dest}", 1) from None
            raise os_kind(e)(f"copying to {dest}: {openat.message(e)}", 1) from None
        finally:
            os.close(dirfd)
