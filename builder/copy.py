"""COPY and ADD: files of the context (or of another stage's or image's file system) made
into a layer tar directly, without a container.

Docker's rules: sources relative to the context's root, globs as Go's filepath.Match
(per path component), a directory's contents copied into the destination, a file copied
to DEST/name when DEST ends in / or is a directory of the image, else to DEST; more than
one source wants a DEST ending in /; a relative DEST is under WORKDIR; missing parents
are made (0755, root); owners root unless --chown (names from the image's /etc/passwd and
/etc/group) or kept as the stage's or image's with --from, modes kept unless --chmod; mtimes kept.  A source is resolved inside the
context: `..` and links that lead out of it are refused; links inside a copied directory
are copied as links.  ADD extracts a local tar (plain, gzip, bzip2, xz) into DEST, owners
as the archive has them, and fetches a URL (0600, as docker's)."""
from __future__ import annotations

import fnmatch
import hashlib
import lzma
import os
import posixpath
import stat
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

from dunnage.core.errors import InvalidParameter, NotFound, System
from dunnage.fuse.layers import LayerStack

from . import layers

GLOB_CHARS = set("*?[")


class CopyError(InvalidParameter):
    """A COPY or ADD that cannot be done as written (a missing source, a path out of the context)."""


class SourceMissing(NotFound):
    """A COPY or ADD source that is not in the context (or was left out by .dockerignore)."""


@dataclass
class Tree:
    """A file system to copy from: a directory (the context, extracted if it came as a tar)
    or an image's layers (COPY --from), with what .dockerignore leaves out."""
    root: str = ""
    stack: Optional[LayerStack] = None
    excluded: Callable[[str], bool] = lambda rel: False
    name: str = "build context"

    def lstat(self, rel: str) -> Optional[os.stat_result]:
        if self.stack is not None:
            top = self.stack._compute_stack(rel) if rel else self.stack._compute_stack("")
            return top[0][1] if top else None
        try:
            return os.lstat(os.path.join(self.root, rel) if rel else self.root)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def real(self, rel: str) -> str:
        if self.stack is not None:
            top = self.stack._compute_stack(rel)
            return os.path.join(top[0][0], rel) if rel else top[0][0]
        return os.path.join(self.root, rel) if rel else self.root

    def listdir(self, rel: str) -> list[str]:
        if self.stack is not None:
            return [n for n, _ in self.stack.listing(rel)]
        return sorted(os.listdir(self.real(rel)))

    def resolve(self, rel: str, follow_last: bool = True) -> str:
        """REL with its links followed inside the tree; a way out of it is refused."""
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            p = parts.pop(0)
            if p == "..":
                if not done:
                    raise CopyError(f"forbidden path outside the {self.name}: {rel}")
                done.pop()
                continue
            cur = "/".join(done + [p])
            st = self.lstat(cur)
            if st is not None and stat.S_ISLNK(st.st_mode) and (parts or follow_last):
                hops += 1
                if hops > 40:
                    raise CopyError(f"too many levels of symbolic links: {rel}")
                target = os.readlink(self.real(cur))
                if target.startswith("/"):
                    if self.stack is None:
                        raise CopyError(f"forbidden path outside the {self.name}: {rel} (a link to {target})")
                    done = []
                elif self.stack is None and _escapes(done, target):
                    raise CopyError(f"forbidden path outside the {self.name}: {rel} (a link to {target})")
                parts = [q for q in target.split("/") if q not in ("", ".")] + parts
                continue
            done.append(p)
        return "/".join(done)


def _escapes(base: list[str], target: str) -> bool:
    depth = len(base)
    for q in target.split("/"):
        if q == "..":
            depth -= 1
            if depth < 0:
                return True
        elif q not in ("", "."):
            depth += 1
    return False


def _glob(tree: Tree, pattern: str) -> list[str]:
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    found = [""]
    for i, p in enumerate(parts):
        nxt = []
        for base in found:
            if not any(ch in GLOB_CHARS for ch in p):
                cand = f"{base}/{p}" if base else p
                if tree.lstat(cand) is not None:
                    nxt.append(cand)
                continue
            st = tree.lstat(base)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            rx = fnmatch.translate(p.replace("[^", "[!"))
            import re
            for n in tree.listdir(base):
                if re.match(rx, n):
                    nxt.append(f"{base}/{n}" if base else n)
        found = nxt
    return sorted(r for r in found if not tree.excluded(r))


@dataclass
class Item:
    kind: str          # "entry" (one file system entry), "tar" (ADD's archive to extract), "blob" (a fetched URL)
    src: str           # the real path to read
    arc: str           # its name in the layer
    st: Optional[os.stat_result] = None
    rel: str = ""      # the name in the tree (what the checksum names)


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)
    parents: list[tuple[str, Optional[os.stat_result]]] = field(default_factory=list)
    uid: Optional[int] = None
    gid: Optional[int] = None
    mode: Optional[int] = None
    mode_fn: Optional[Callable[[int, bool], int]] = None  # --chmod's symbolic notation (builder/chmod.py)
    keep_owners: bool = False  # COPY --from keeps the stage's owners; the context's files become root's


def image_stack(engine, config: dict) -> LayerStack:
    paths = [str(engine.store.layer_dir(c) / "diff") for c in reversed(layers.chains(config))]
    if not paths:
        return LayerStack([], "/nonexistent-dunnage-scratch")
    return LayerStack(paths[1:], paths[0])


def _ids(stack_tree: Tree, chown: str) -> tuple[int, int]:
    """--chown USER[:GROUP], names looked up in the image's /etc/passwd and /etc/group."""
    user, sep, group = chown.partition(":")

    def table(path: str) -> list[list[str]]:
        try:
            r = stack_tree.resolve(path)
            if stack_tree.lstat(r) is None:
                return []
            with open(stack_tree.real(r), errors="replace") as f:
                return [ln.split(":") for ln in f.read().splitlines() if ln and not ln.startswith("#")]
        except (OSError, CopyError):
            return []
    uid = gid = None
    if user.isdigit():
        uid = int(user)
    elif not user:  # ":GROUP" is root's uid, as BuildKit has it
        uid = gid = 0
    else:
        for f in table("etc/passwd"):
            if len(f) > 3 and f[0] == user:
                uid, gid = int(f[2]), int(f[3])
                break
        if uid is None:
            raise CopyError(f"unable to convert uid/gid chown string to host mapping: can't find uid for user {user}")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            gid = next((int(f[2]) for f in table("etc/group") if len(f) > 2 and f[0] == group), None)
            if gid is None:
                raise CopyError(f"unable to convert uid/gid chown string to host mapping: can't find gid for "
                                f"group {group}")
    elif sep:  # "USER:" is group 0, as BuildKit has it
        gid = 0
    elif gid is None:
        gid = uid
    return uid, gid


def is_archive(path: str) -> bool:
    """As BuildKit's isArchivePath: the file, decompressed if it is compressed, begins with a
    tar header (a gzip of anything else is copied as it is)."""
    try:
        with tarfile.open(path, mode="r:*") as tf:
            return tf.next() is not None
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error):
        return False


def plan(src_tree: Tree, image: Tree, srcs: list[str], dest: str, workdir: str, chown: str = "",
         chmod: str = "", add: bool = False, fetched: Optional[dict] = None, link: bool = False,
         exclude: Optional[list[str]] = None, unpack: Optional[bool] = None, keep_parents: bool = False) -> Plan:
    """What COPY/ADD SRCS DEST puts into the layer (IMAGE: the state's file system, for the
    destination's parents and --chown's names; FETCHED: URL -> downloaded file).  LINK
    (--link): copied as onto an empty file system, BuildKit's merge of `FROM scratch` + COPY
    over the state: no link of the image followed in DEST, every parent made again (0755,
    --chown's owner) and a file put where the image has a directory.  EXCLUDE (--exclude):
    .dockerignore's patterns over the paths inside each source (fsutil's copy matches them
    below a source, never the source itself).  UNPACK (ADD --unpack): False keeps a local
    archive as it is, True unpacks a fetched one too.  KEEP_PARENTS (COPY --parents): each
    source a pattern over the paths below its pivot (what precedes `/./`, else the root),
    copied with the directories that lead to it, as BuildKit copies the pivot with the
    pattern as its include pattern."""
    from .ignore import Matcher
    skip = Matcher(exclude or [])
    out = Plan(keep_owners=src_tree.stack is not None)
    if chown:
        out.uid, out.gid = _ids(image, chown)
    if link:
        image = Tree(stack=LayerStack([], "/nonexistent-dunnage-scratch"), name="image")
    if chmod and not chmod[0].isdigit():
        from .chmod import parse as parse_mode
        try:
            out.mode_fn = parse_mode(chmod)
        except ValueError:
            raise CopyError(f"invalid chmod parameter: {chmod}") from None
    elif chmod:
        try:
            out.mode = int(chmod, 8)
        except ValueError:
            raise CopyError(f"invalid chmod parameter: {chmod}") from None
        if not 0 <= out.mode <= 0o7777:
            raise CopyError(f"invalid chmod parameter: {chmod}")
    if not dest.startswith("/"):
        dest = posixpath.join(workdir or "/", dest)
    as_dir = dest.endswith("/") or dest.endswith("/.")
    dest_rel = posixpath.normpath(dest).lstrip("/")
    if dest_rel == ".":
        dest_rel = ""
    dest_rel = image.resolve(dest_rel) if dest_rel else ""
    sources: list[tuple[str, str, str]] = []  # (kind, rel with links followed or url, the name it is copied as)
    for s in srcs:
        if fetched is not None and s in fetched:
            sources.append(("url", s, s))
            continue
        norm = posixpath.normpath("/" + s).lstrip("/") if not s.startswith("/") else s.lstrip("/")
        if posixpath.normpath(s).startswith("../") or posixpath.normpath(s) == "..":
            raise CopyError(f"forbidden path outside the {src_tree.name}: {s}")
        if keep_parents:
            pivot, sep, pattern = s.partition("/./")
            if not sep:
                pivot, pattern = "", s
            pivot = posixpath.normpath("/" + pivot).lstrip("/")
            pattern = posixpath.normpath("/" + pattern).lstrip("/")
            base = src_tree.resolve(pivot) if pivot else ""
            st = src_tree.lstat(base)
            if st is None or not stat.S_ISDIR(st.st_mode):
                raise SourceMissing(f"failed to compute cache key: \"/{pivot}\": not found")
            sources.append(("parents", base, pattern))
            continue
        if any(ch in GLOB_CHARS for ch in norm):
            hits = _glob(src_tree, norm)
            sources += [("rel", src_tree.resolve(h), posixpath.basename(h)) for h in hits]
            continue
        if norm in ("", "."):
            sources.append(("rel", "", ""))
            continue
        r = src_tree.resolve(norm)
        if src_tree.lstat(r) is None or (src_tree.excluded(norm) and src_tree.stack is None):
            raise SourceMissing(f"failed to compute cache key: \"/{norm}\": not found")
        sources.append(("rel", r, posixpath.basename(norm)))
    if not sources:
        raise SourceMissing("no source files were specified" if not any(
            any(ch in GLOB_CHARS for ch in s) for s in srcs) else
            f"failed to compute cache key: no files match {' '.join(srcs)}")
    many = len(srcs) > 1 or len(sources) > 1
    if many and not as_dir:
        raise CopyError("When using COPY with more than one source file, the destination must be a directory "
                        "and end with a /")
    dst_st = image.lstat(dest_rel) if dest_rel else image.lstat("")
    dest_is_dir = as_dir or (dst_st is not None and stat.S_ISDIR(dst_st.st_mode))
    made_dirs: set[str] = set()

    def parents(rel: str) -> None:
        parts = rel.split("/")[:-1] if rel else []
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p in made_dirs:
                continue
            made_dirs.add(p)
            out.parents.append((p, image.lstat(p)))

    for kind, s, shown in sources:
        if kind == "url":
            path = fetched[s]
            name = posixpath.basename(s.split("?")[0].rstrip("/")) or "index.html"
            if unpack and is_archive(path):
                parents(dest_rel + "/x" if dest_rel else "")
                out.items.append(Item("tar", path, dest_rel, os.lstat(path), s))
                continue
            arc = posixpath.join(dest_rel, name) if dest_is_dir else dest_rel
            parents(arc)
            out.items.append(Item("blob", path, arc, os.lstat(path), s))
            continue
        if kind == "parents":
            if dest_rel:
                parents(dest_rel + "/x")
            start = len(out.items)
            _walk(src_tree, s, dest_rel, out.items, [])
            wanted = Matcher([shown])
            found = _kept(out.items[start:], s, lambda r: wanted(r) and not skip(r))
            if not found and not any(ch in GLOB_CHARS for ch in shown):
                raise SourceMissing(f"failed to compute cache key: \"/{posixpath.join(s, shown)}\": not found")
            out.items[start:] = found
            continue
        st = src_tree.lstat(s)
        if stat.S_ISDIR(st.st_mode):  # its contents; DEST made as a parent is (0755, --chown's owner)
            if dest_rel:
                parents(dest_rel + "/x")
            start = len(out.items)
            _walk(src_tree, s, dest_rel, out.items, [])
            if skip:
                out.items[start:] = _kept(out.items[start:], s, lambda r: not skip(r))
        elif add and unpack is not False and src_tree.stack is None and stat.S_ISREG(st.st_mode) \
                and is_archive(src_tree.real(s)):
            parents(dest_rel + "/x" if dest_rel else "")
            out.items.append(Item("tar", src_tree.real(s), dest_rel, st, s))
        else:
            arc = posixpath.join(dest_rel, shown) if dest_is_dir else dest_rel
            if not arc:
                raise CopyError(f"cannot copy {s} onto the root directory")
            parents(arc)
            out.items.append(Item("entry", src_tree.real(s), arc, st, s))
    for it in out.items:  # BuildKit's copy refuses to put a file where the image has a directory
        if it.kind == "entry" and not stat.S_ISDIR(it.st.st_mode):
            there = image.lstat(it.arc)
            if there is not None and stat.S_ISDIR(there.st_mode):
                raise CopyError(f"cannot replace to directory /{it.arc} with file")
    return out


def _kept(items: list[Item], base: str, keep: Callable[[str], bool]) -> list[Item]:
    """ITEMS (a walk of directory BASE) that KEEP takes by their path below BASE (--exclude's
    patterns, --parents' pattern), with the directories that lead to them."""
    def below(it: Item) -> str:
        return it.rel[len(base) + 1:] if base else it.rel
    kept = {it.rel for it in items if keep(below(it))}
    holders = {posixpath.dirname(r) for r in kept}
    for r in list(holders):
        while r and r != base:
            holders.add(r)
            r = posixpath.dirname(r)
    return [it for it in items if it.rel in kept or it.rel in holders]


def _walk(tree: Tree, rel: str, arc: str, items: list[Item], pending: list[Item]) -> None:
    """REL's entries under ARC, as BuildKit's walk filters them: an excluded directory is
    gone unless a ! exception brings back something in it, and then it comes (PENDING)
    only with what it holds."""
    for n in tree.listdir(rel):
        r = f"{rel}/{n}" if rel else n
        if tree.excluded(r) and not _has_included(tree, r):
            continue
        st = tree.lstat(r)
        if st is None:
            continue
        a = f"{arc}/{n}" if arc else n
        it = Item("entry", tree.real(r), a, st, r)
        if not tree.excluded(r):
            items.extend(pending)
            pending.clear()
            items.append(it)
        if stat.S_ISDIR(st.st_mode):
            mark = len(pending)
            if tree.excluded(r):
                pending.append(it)
            _walk(tree, r, a, items, pending)
            del pending[mark:]


def _has_included(tree: Tree, rel: str) -> bool:
    """Whether an excluded directory holds something a ! exception brings back."""
    check = getattr(tree.excluded, "may_include_under", None)
    return bool(check and check(rel))


def _digest_file(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.digest()


def checksum(p: Plan, sums: Optional["Sums"] = None) -> str:
    """The sources' content and metadata, as they will land (never their mtimes).  SUMS: the
    content digests of files already hashed, by inode, size, mtime and ctime (BuildKit's
    content cache does the same), so an unchanged context is not read again."""
    h = hashlib.sha256()
    h.update(repr((p.uid, p.gid, p.mode, [(n, None if s is None else (s.st_mode, s.st_uid, s.st_gid))
                                            for n, s in p.parents])).encode())
    for it in p.items:
        st = it.st
        link = os.readlink(it.src) if stat.S_ISLNK(st.st_mode) else None
        content = None
        if stat.S_ISREG(st.st_mode):
            content = sums.get(st) if sums is not None else None
            if content is None:
                content = _digest_file(it.src).hex()
                if sums is not None:
                    sums.put(st, content)
        h.update(repr((it.kind, it.arc, st.st_mode, st.st_uid, st.st_gid, link, content)).encode())
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


class Sums:
    """File digests by (device, inode, size, mtime, ctime): a file whose ctime has not moved
    has neither new content nor new metadata.  Kept in the store (`<root>/builder/sums.msgpack`)."""

    LIMIT = 200_000

    def __init__(self, path):
        self.path = path
        self.old: dict = {}
        self.new: dict = {}
        try:
            from dunnage.core.store import read_record
            self.old = read_record(path).get("sums") or {}
        except (OSError, ValueError, KeyError):
            self.old = {}

    @staticmethod
    def _key(st: os.stat_result) -> str:
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def get(self, st: os.stat_result) -> Optional[str]:
        k = self._key(st)
        if time.time_ns() - st.st_ctime_ns < 2_000_000_000:  # a change within the clock's grain: read it
            return None
        v = self.new.get(k) or self.old.get(k)
        if v is not None:
            self.new[k] = v
        return v

    def put(self, st: os.stat_result, digest: str) -> None:
        self.new[self._key(st)] = digest

    def save(self) -> None:
        if not self.new or all(self.old.get(k) == v for k, v in self.new.items()):
            return
        from dunnage.core.store import write_record
        merged = dict(self.new)
        for k, v in self.old.items():
            if len(merged) >= self.LIMIT:
                break
            merged.setdefault(k, v)
        try:
            write_record(self.path, {"sums": merged})
        except OSError:
            pass


def write(tw: "layers.TarWriter", p: Plan) -> None:
    """The plan's entries into the layer tar, in order (parents first)."""
    now = int(time.time()) if tw.epoch is None else tw.epoch
    for name, st in p.parents:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE
        if st is not None and stat.S_ISDIR(st.st_mode):
            ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
        else:
            ti.mode, ti.mtime = 0o755, now
            if p.uid is not None:
                ti.uid, ti.gid = p.uid, p.gid
        tw.add_info(ti)
    links: dict[tuple[int, int], str] = {}
    for it in p.items:
        if it.kind == "tar":
            _extract(tw, it)
            continue
        ti = tw.tf.gettarinfo(it.src, it.arc)
        ti.uid, ti.gid = _owner(p, ti)
        if it.kind == "blob":
            ti.mode = 0o600
        if p.mode is not None and not ti.issym():
            ti.mode = p.mode
        elif p.mode_fn is not None and not ti.issym():
            ti.mode = p.mode_fn(ti.mode, ti.isdir())
        if ti.islnk():  # hard links only within what this step copies
            key = (it.st.st_dev, it.st.st_ino)
            if key in links:
                ti.linkname = links[key]
            else:
                ti = tw.tf.gettarinfo(it.src, it.arc)
                ti.type = tarfile.REGTYPE
                ti.uid, ti.gid = _owner(p, ti)
                if p.mode is not None:
                    ti.mode = p.mode
                elif p.mode_fn is not None:
                    ti.mode = p.mode_fn(ti.mode, False)
        if ti.isreg():
            if it.st.st_nlink > 1:
                links.setdefault((it.st.st_dev, it.st.st_ino), it.arc)
            with open(it.src, "rb") as f:
                tw.add_info(ti, f)
        else:
            tw.add_info(ti)


def _owner(p: Plan, ti: tarfile.TarInfo) -> tuple[int, int]:
    if p.uid is not None:
        return p.uid, p.gid
    return (ti.uid, ti.gid) if p.keep_owners else (0, 0)


def _extract(tw: "layers.TarWriter", it: Item) -> None:
    """ADD's local archive: its members under IT.arc, names kept inside it."""
    made = set()
    try:
        with tarfile.open(it.src, mode="r:*") as src:
            for m in src:
                name = posixpath.normpath("/" + m.name).lstrip("/")
                if not name or name == ".":
                    continue
                parts = name.split("/")
                for i in range(1, len(parts)):  # directories the archive implies, made as tar makes them
                    d = "/".join(parts[:i])
                    if d not in made:
                        made.add(d)
                        ti = tarfile.TarInfo(posixpath.join(it.arc, d) if it.arc else d)
                        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, m.mtime
                        tw.add_info(ti)
                if m.isdir():
                    made.add(name)
                ti = tarfile.TarInfo(posixpath.join(it.arc, name) if it.arc else name)
                ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = m.type, m.mode, m.uid, m.gid, m.mtime
                ti.size, ti.linkname, ti.devmajor, ti.devminor = m.size, m.linkname, m.devmajor, m.devminor
                if m.islnk():
                    ln = posixpath.normpath("/" + m.linkname).lstrip("/")
                    ti.linkname = posixpath.join(it.arc, ln) if it.arc else ln
                tw.add_info(ti, src.extractfile(m) if m.isreg() else None)
    except (tarfile.TarError, EOFError) as e:
        raise CopyError(f"ADD {it.rel}: not a readable archive: {e}") from None


def fetch(url: str, into: str, checksum: Optional[str] = None) -> str:
    """ADD URL: the file downloaded into INTO; a clear line where it cannot be had, or where
    its content is not CHECKSUM's (ADD --checksum=sha256:HEX)."""
    import urllib.error
    import urllib.request
    path = os.path.join(into, "fetched-" + hashlib.sha256(url.encode()).hexdigest()[:16])
    try:
        with urllib.request.urlopen(url, timeout=30) as r, open(path, "wb") as f:
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                f.write(b)
            lm = r.headers.get("Last-Modified")
        if lm:
            from email.utils import parsedate_to_datetime
            t = parsedate_to_datetime(lm).timestamp()
            os.utime(path, (t, t))
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise System(f"failed to fetch {url}: {reason}", 1) from None
    if checksum:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
            raise CopyError(f"invalid checksum digest format: {checksum}")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        if h.hexdigest() != want:
            raise CopyError(f"digest mismatch {checksum}: sha256:{h.hexdigest()}")
    return path
