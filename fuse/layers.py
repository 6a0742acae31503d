"""The layer stack of a union, without FUSE: which layer holds a path, and a
directory's merged entries, with OCI whiteouts and opaque directories.

dunnage.fuse's UnionFS serves a mount from it; the engine uses it to tell, for
each file a container sees, which layer it comes from (the dashboard's files view).
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

WH_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
TMP_PREFIX = ".wh..dunnage-tmp."
_LISTING = "\0ls\0"  # cache key prefix of a directory's merged listing
_ENTRIES = "\0en\0"  # ... and of its entries as a union mount serves them (attributes included)


class LayerStack:
    def __init__(self, lowers: list[str], upper: str):
        self.upper = os.path.abspath(upper)
        self.lowers = [os.path.abspath(p) for p in lowers]
        self.layers = [self.upper] + self.lowers  # top first
        self._cache: dict[str, list] = {}

    # ------------------------------------------------------------ resolution
    @staticmethod
    def _join(rel: str, name: str) -> str:
        return f"{rel}/{name}" if rel else name

    @staticmethod
    def _real(layer: str, rel: str) -> str:
        # REL is relative and LAYER absolute: os.path.join's checks were 64 ms of the server's
        # 1.0 s (cProfile) copying python's stdlib into the mount (cp -a: 33,000 calls)
        return f"{layer}/{rel}" if rel else layer

    def _stack(self, rel: str) -> list[tuple[str, os.stat_result]]:
        """Layers holding REL, topmost first, with their lstat (cached: lower
        entries never change; an upper top is stat'ed afresh; changes made
        through the mount forget what they touch, see _changed)."""
        hit = self._cache.get(rel)
        if hit is None:
            return self._layers_of(rel)  # computed just now: fresh
        if hit and hit[0][0] == self.upper:
            try:
                return [(self.upper, os.lstat(self._real(self.upper, rel)))] + hit[1:]
            except FileNotFoundError:
                self._cache.clear()
                return self._stack(rel)
        return hit

    def _changed(self, rel: Optional[str] = None) -> None:
        """Forget cached lookups after a change: all of them, or those of REL and the
        listing of its parent. Ancestors keep theirs: an upper top is stat'ed afresh
        on every hit, and a directory copied up is a change of its own."""
        if rel is None:
            self._cache.clear()
            return
        c = self._cache
        c.pop(rel, None)
        c.pop(_LISTING + rel, None)
        c.pop(_ENTRIES + rel, None)
        if rel:
            parent = rel.rpartition("/")[0]
            c.pop(_LISTING + parent, None)
            c.pop(_ENTRIES + parent, None)

    def _layers_of(self, rel: str) -> list[tuple[str, os.stat_result]]:
        """REL's stack as cached, upper attributes possibly stale: enough to know which
        layers hold it and whether they are directories (what a child's lookup needs)."""
        hit = self._cache.get(rel)
        if hit is None:
            hit = self._cache[rel] = self._compute_stack(rel)
        return hit

    def _compute_stack(self, rel: str) -> list[tuple[str, os.stat_result]]:
        """Layers holding REL, topmost first, with their lstat.

        For a directory this lists every layer whose copy is merged into the
        view (stopping at an opaque one); otherwise just the top entry. Built on
        the parent's stack (cached), so a lookup costs one level's system calls."""
        if not rel:
            return self._cut_opaque([(L, os.lstat(L)) for L in self.layers if os.path.isdir(L)], "")
        parent, _, name = rel.rpartition("/")
        new: list[tuple[str, os.stat_result]] = []
        for L, pst in self._layers_of(parent):
            if not stat.S_ISDIR(pst.st_mode):
                return []
            if os.path.lexists(self._real(L, self._join(parent, WH_PREFIX + name))):
                break
            try:
                st = os.lstat(self._real(L, rel))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                if e.errno != errno.ENAMETOOLONG:
                    raise
                # a name longer than NAME_MAX or a path longer than PATH_MAX: nothing a layer
                # holds is reached by it (raised, it ended a union mount's server: a process
                # that stat'ed a 256-byte name took its container's root filesystem down)
                return []
            isdir = stat.S_ISDIR(st.st_mode)
            if new and not isdir:
                break
            new.append((L, st))
            if not isdir or os.path.lexists(self._real(L, self._join(rel, OPAQUE))):
                break
        return new

    def _cut_opaque(self, stack, rel):
        out = []
        for L, st in stack:
            out.append((L, st))
            if os.path.lexists(self._real(L, self._join(rel, OPAQUE))):
                break
        return out

    def _listing(self, rel: str) -> list[tuple[str, str]]:
        """Merged directory entries of REL as (name, layer) pairs (cached like lookups)."""
        key = _LISTING + rel
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._compute_listing(rel)
        return hit

    def _compute_listing(self, rel: str) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        hidden: set[str] = set()
        for L, st in self._stack(rel):
            if not stat.S_ISDIR(st.st_mode):
                break
            try:
                names = os.listdir(self._real(L, rel))
            except OSError:
                continue
            layer_hidden = set()
            for n in names:
                if n.startswith(WH_PREFIX):
                    if n != OPAQUE and not n.startswith(TMP_PREFIX):
                        layer_hidden.add(n[len(WH_PREFIX):])
                    continue
                if n in seen or n in hidden:
                    continue
                seen[n] = L
            hidden |= layer_hidden
        return sorted(seen.items())

    def listing(self, rel: str) -> list[tuple[str, str]]:
        """The merged entries of directory REL (no leading slash) as (name, layer)."""
        return self._compute_listing(rel.strip("/"))

    def in_lowers(self, rel: str) -> bool:
        """Whether the lower layers alone show something at REL (so an upper entry
        there changed what the image had, rather than adding to it)."""
        if not self.lowers:
            return False
        return bool(LayerStack(self.lowers[1:], self.lowers[0])._compute_stack(rel.strip("/")))
