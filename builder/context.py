"""A build context: the directory (or the tar a client sent, unpacked safely) COPY and ADD
read from, seen through its .dockerignore, with no way out of it.

Context.from_dir(dir, dockerfile) takes a directory as it is; Context.from_tar(stream,
into, dockerfile_name) unpacks a tar stream (plain or compressed) into INTO first, refusing
absolute names, `..` and writes through links (a member under a link is never written
outside INTO).  Either way:

- excluded(rel): whether .dockerignore leaves REL out; present(rel): whether the build
  sees REL (an ignored directory counts where a `!` exception keeps something in it);
- glob(pattern): the paths a COPY source names (Go's filepath.Match per component);
- resolve(rel): REL inside the context with its links followed; `..` above the root and
  links leading out of the context (absolute, or climbing above it) are a ContextError;
- walk(rel): the entries a COPY of directory REL sees, in order, as BuildKit's fsutil
  filters them (an excluded directory left out unless a `!` exception brings back
  something inside it, then only its way to that);
- checksum(paths): what the cache keys a COPY/ADD on: a sha256 over each source's entries'
  names, modes, owners, link targets and contents; never their times."""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from dunnage.core.errors import InvalidParameter, NotFound

from . import ignore


class ContextError(InvalidParameter):
    """A path that would leave the build context, or a context tar that cannot be unpacked."""


class ContextNotFound(NotFound):
    """A path the context does not have (or .dockerignore leaves out)."""


@dataclass
class Entry:
    """One file system entry of the context: REL its path from the root (slash-separated),
    PATH the real path, ST its lstat, LINK the target of a symlink."""
    rel: str
    path: str
    st: os.stat_result
    link: Optional[str] = None

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


_MAX_HOPS = 40


class Context:
    """A build context rooted at ROOT, filtered by MATCHER (its .dockerignore)."""

    def __init__(self, root: Path, matcher: Optional[ignore.Matcher] = None, name: str = "build context"):
        self.root = Path(root)
        self.matcher = matcher if matcher is not None else ignore.Matcher([])
        self.name = name

    @classmethod
    def from_dir(cls, directory: Path | str, dockerfile: Optional[Path | str] = None) -> "Context":
        """DIRECTORY as the context, with the ignore file for DOCKERFILE (ignore.ignore_file)."""
        root = Path(directory)
        if not root.is_dir():
            raise ContextNotFound(f"unable to prepare context: path {str(directory)!r} not found", 1)
        return cls(root, ignore.load(root, Path(dockerfile) if dockerfile is not None else None))

    @classmethod
    def from_tar(cls, stream: BinaryIO, into: Path | str, dockerfile_name: str = "Dockerfile") -> "Context":
        """The tar on STREAM (plain, gzip, bzip2 or xz) unpacked into INTO (made, empty) as
        the context, with the ignore file it holds for DOCKERFILE_NAME (relative to its root)."""
        root = Path(into)
        root.mkdir(parents=True, exist_ok=True)
        unpack(stream, root)
        df = safe_rel(dockerfile_name.lstrip("/")) if dockerfile_name else None
        return cls(root, ignore.load(root, root / df if df else None))

    # -- paths ---------------------------------------------------------------------------------

    def real(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else str(self.root)

    def lstat(self, rel: str) -> Optional[os.stat_result]:
        try:
            return os.lstat(self.real(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def excluded(self, rel: str) -> bool:
        """Whether .dockerignore leaves REL (slash-separated, from the root) out."""
        rel = ignore.go_clean(rel.lstrip("/"))
        return rel != "." and self.matcher.matches(rel)

    def resolve(self, rel: str, follow_last: bool = True) -> str:
        """REL (as a COPY source names it) as a path from the root with its links followed
        inside the context ("" for the root); a ContextError where `..` or a link leads out."""
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            p = parts.pop(0)
            if p == "..":
                if not done:
                    raise ContextError(f"forbidden path outside the {self.name}: {rel}")
                done.pop()
                continue
            cur = "/".join(done + [p])
            st = self.lstat(cur)
            if st is not None and stat.S_ISLNK(st.st_mode) and (parts or follow_last):
                hops += 1
                if hops > _MAX_HOPS:
                    raise ContextError(f"too many levels of symbolic links: {rel}")
                target = os.readlink(self.real(cur))
                if target.startswith("/") or _climbs(done, target):
                    raise ContextError(f"forbidden path outside the {self.name}: {rel} (a link to {target})")
                parts = [q for q in target.split("/") if q not in ("", ".")] + parts
                continue
            done.append(p)
        return "/".join(done)

    def present(self, rel: str) -> bool:
        """Whether REL is in the context as the build sees it: there and not ignored, or an
        ignored directory that a `!` exception keeps something below (sent as its way there)."""
        st = self.lstat(rel)
        if st is None:
            return False
        if not rel or not self.excluded(rel):
            return True
        return (stat.S_ISDIR(st.st_mode) and self.matcher.may_include_below(ignore.go_clean(rel))
                and next(self.walk(rel), None) is not None)

    def entry(self, rel: str) -> Entry:
        """The entry at REL (not followed), ContextNotFound where missing or ignored."""
        if not self.present(rel):
            raise ContextNotFound(f"{rel or '.'}: not found in the {self.name}")
        path = self.real(rel)
        st = os.lstat(path)
        return Entry(rel, path, st, os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)

    def glob(self, pattern: str) -> list[str]:
        """The paths (from the root, sorted) a COPY source PATTERN names, matched one path
        component at a time as Go's filepath.Match (`*` and `?` never match `/`; [classes];
        \\ escapes; dot files not special), links in the way followed inside the context,
        ignored paths left out; [] where nothing matches.  A ContextError for a malformed
        pattern or a way out."""
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        found = [""]
        for part in parts:
            nxt: list[str] = []
            if part == ".." or not _has_magic(part):
                for base in found:
                    cand = f"{base}/{part}" if base else part
                    if part == ".." or self.lstat(self.resolve(cand, follow_last=False)) is not None:
                        nxt.append(cand)
            else:
                rx = _component_regex(part)
                for base in found:
                    try:
                        real = self.resolve(base) if base else ""
                    except ContextError:
                        if ".." in base.split("/"):
                            raise
                        continue  # a link leading out is no directory to look in
                    st = self.lstat(real)
                    if st is None or not stat.S_ISDIR(st.st_mode):
                        continue
                    for n in sorted(os.listdir(self.real(real)), key=os.fsencode):
                        if rx.fullmatch(n):
                            nxt.append(f"{base}/{n}" if base else n)
            found = nxt
        out = []
        for f in found:
            rel = self.resolve(f, follow_last=False)
            if self.present(rel):
                out.append(rel)
        return sorted(set(out), key=os.fsencode)

    # -- walking -------------------------------------------------------------------------------

    def walk(self, rel: str = "") -> Iterator[Entry]:
        """The entries below directory REL (REL itself not included) that .dockerignore
        keeps, depth first, names in byte order; a directory that is left out but holds
        something a `!` exception keeps comes just before that."""
        base = self.resolve(rel, follow_last=True) if rel else ""
        st = self.lstat(base)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        info = None
        if base:
            parts = base.split("/")
            for i in range(len(parts)):
                _, info = self.matcher.matches_with_parent("/".join(parts[:i + 1]), info)
        yield from self._walk(base, info, [])

    def _walk(self, rel: str, info: Optional[list[bool]], pending: list[list]) -> Iterator[Entry]:
        """Entries below REL; PENDING the excluded directories above, each [entry, shown],
        shown once something below them is kept."""
        try:
            names = sorted(os.listdir(self.real(rel)), key=os.fsencode)
        except OSError as err:
            raise ContextError(f"cannot read {rel or '.'} in the {self.name}: {err.strerror}") from None
        for n in names:
            child = f"{rel}/{n}" if rel else n
            st = self.lstat(child)
            if st is None:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.matcher:
                out, child_info = self.matcher.matches_with_parent(child, info)
            else:
                out, child_info = False, None
            path = self.real(child)
            e = Entry(child, path, st, os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)
            if out:
                if is_dir and self.matcher.may_include_below(child):
                    yield from self._walk(child, child_info, pending + [[e, False]])
                continue
            for cell in pending:
                if not cell[1]:
                    cell[1] = True
                    yield cell[0]
            yield e
            if is_dir:
                yield from self._walk(child, child_info, [])

    # -- the cache's checksum ------------------------------------------------------------------

    def checksum(self, paths: list[str]) -> str:
        """sha256 over each source in PATHS (as COPY names them, a link given as a source
        followed) and everything .dockerignore keeps below it: names, file types and
        permission bits, uid/gid, link targets and file contents, never times.  The same
        files give the same sum wherever the context lies; ContextNotFound for a missing
        or ignored source, ContextError for one leading out."""
        h = hashlib.sha256()
        for src in paths:
            name = ignore.go_clean(src.lstrip("/"))
            name = "" if name == "." else name
            rel = self.resolve(name, follow_last=True)
            top = self.entry(rel)
            _feed(h, name or ".", top)
            if top.is_dir:
                for e in self.walk(rel):
                    _feed(h, (name + "/" if name else "") + e.rel[len(rel) + 1 if rel else 0:], e)
        return "sha256:" + h.hexdigest()


def _has_magic(part: str) -> bool:
    return any(c in part for c in "*?[\\")


def _class_char(part: str, i: int) -> tuple[str, int]:
    if part[i] == "\\":
        i += 1
    return part[i], i + 1


def _component_regex(part: str):
    """Go's filepath.Match for one path component as a regex (its syntax checked first)."""
    import re
    try:
        ignore._check_syntax(part)
    except ignore.PatternError:
        raise ContextError(f"syntax error in pattern: {part!r}") from None
    out = []
    i = 0
    while i < len(part):
        c = part[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            out.append(re.escape(part[i]))
            i += 1
        elif c == "[":
            neg = part[i] == "^"
            i += 1 if neg else 0
            items, n = [], 0
            while not (part[i] == "]" and n):
                lo, i = _class_char(part, i)
                hi = lo
                if part[i] == "-":
                    hi, i = _class_char(part, i + 1)
                n += 1
                if lo <= hi:  # a reversed range matches nothing in Go, it is no error
                    items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
            i += 1
            if items:
                out.append("[" + ("^" if neg else "") + "".join(items) + "]")
            else:
                out.append("[^/]" if neg else "(?!)")
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.S)


def _feed(h, name: str, e: Entry) -> None:
    st = e.st
    content = _digest(e.path) if stat.S_ISREG(st.st_mode) else ""
    rdev = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else ""
    rec = "\0".join([name, oct(st.st_mode), str(st.st_uid), str(st.st_gid), e.link or "", content, rdev])
    h.update(os.fsencode(rec) + b"\n")


def _digest(path: str) -> str:
    d = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                d.update(b)
    except OSError as err:
        raise ContextError(f"cannot read {path}: {err.strerror}") from None
    return d.hexdigest()


def _climbs(base: list[str], target: str) -> bool:
    """Whether relative link TARGET, read in directory BASE, climbs above the root."""
    depth = len(base)
    for q in target.split("/"):
        if q == "..":
            depth -= 1
            if depth < 0:
                return True
        elif q not in ("", "."):
            depth += 1
    return False


def safe_rel(name: str) -> str:
    """NAME (a tar member's or a path's) as a clean relative path; a ContextError where it is
    absolute or climbs out with `..`."""
    if name.startswith("/"):
        raise ContextError(f"the build context is refused: absolute path {name!r}")
    clean = posixpath.normpath(name) if name else "."
    if clean == ".." or clean.startswith("../"):
        raise ContextError(f"the build context is refused: {name!r} leads outside it")
    return "" if clean == "." else clean


def _dir_fd(root_fd: int, parts: list[str], make: bool) -> int:
    """An fd of directory ROOT/PARTS, each component opened without following a link (so
    nothing is ever written through one); missing ones made (0755) where MAKE."""
    fd = os.dup(root_fd)
    try:
        for p in parts:
            try:
                nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not make:
                    raise
                os.mkdir(p, 0o755, dir_fd=fd)
                nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ContextError(f"the build context is refused: {'/'.join(parts)} goes through a link "
                                       "or a file") from None
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _remove(dfd: int, name: str) -> None:
    try:
        st = os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        return
    os.unlink(name, dir_fd=dfd)


def unpack(stream: BinaryIO, root: Path) -> None:
    """The tar on STREAM unpacked into ROOT: regular files, directories, symlinks (as they
    are: a link is never followed here), hard links to earlier members; modes and times as
    the tar has them, owners where we may set them; devices and fifos left out.  A member
    named absolute or with `..` out, or under a link, is a ContextError."""
    is_root = os.geteuid() == 0
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tf:
            for m in tf:
                rel = safe_rel(m.name)
                if not rel:
                    if m.isdir():
                        dirs.append(("", m))
                    continue
                parent, _, leaf = rel.rpartition("/")
                dfd = _dir_fd(root_fd, parent.split("/") if parent else [], True)
                try:
                    if m.isdir():
                        try:
                            os.mkdir(leaf, 0o700, dir_fd=dfd)
                        except FileExistsError:
                            st = os.lstat(leaf, dir_fd=dfd)
                            if not stat.S_ISDIR(st.st_mode):
                                os.unlink(leaf, dir_fd=dfd)
                                os.mkdir(leaf, 0o700, dir_fd=dfd)
                        dirs.append((rel, m))
                        continue
                    _remove(dfd, leaf)
                    if m.isreg():
                        src = tf.extractfile(m)
                        fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o600, dir_fd=dfd)
                        with os.fdopen(fd, "wb") as out:
                            while True:
                                b = src.read(1 << 20)
                                if not b:
                                    break
                                out.write(b)
                    elif m.issym():
                        os.symlink(m.linkname, leaf, dir_fd=dfd)
                    elif m.islnk():
                        target = safe_rel(m.linkname)
                        tparent, _, tleaf = target.rpartition("/")
                        tfd = _dir_fd(root_fd, tparent.split("/") if tparent else [], False)
                        try:
                            os.link(tleaf, leaf, src_dir_fd=tfd, dst_dir_fd=dfd, follow_symlinks=False)
                        finally:
                            os.close(tfd)
                        continue
                    else:
                        continue
                    _meta(dfd, leaf, m, is_root, link=m.issym())
                finally:
                    os.close(dfd)
        for rel, m in reversed(dirs):
            parent, _, leaf = rel.rpartition("/")
            if not rel:
                _meta(root_fd, ".", m, is_root)
                continue
            dfd = _dir_fd(root_fd, parent.split("/") if parent else [], False)
            try:
                _meta(dfd, leaf, m, is_root)
            finally:
                os.close(dfd)
    except ContextError:
        raise
    except (tarfile.TarError, EOFError) as err:
        raise ContextError(f"the build context is not a readable tar: {err}") from None
    except OSError as err:
        raise ContextError(f"the build context cannot be unpacked: {err.strerror or err}") from None
    finally:
        os.close(root_fd)


def _meta(dfd: int, leaf: str, m: tarfile.TarInfo, is_root: bool, link: bool = False) -> None:
    if is_root:
        os.chown(leaf, m.uid, m.gid, dir_fd=dfd, follow_symlinks=False)
    if not link:
        os.chmod(leaf, m.mode & 0o7777, dir_fd=dfd)
    os.utime(leaf, (m.mtime, m.mtime), dir_fd=dfd, follow_symlinks=False)
