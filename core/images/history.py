"""docker history (GET /images/{name}/history): an image's steps, newest first, as
dockerd's ImageHistoryResponseItem: the image's own id and tags on the top step,
"<missing>" below it (no parent images are kept here, as with BuildKit's builds),
each step's creation time, command, comment and the size of the layer it made."""
from __future__ import annotations

import os
import stat

from ..units import parse_iso


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def apparent_size(path) -> int:
    """dockerd's DiffSize of a layer directory (pkg/directory.Size): the sizes of what is
    not a directory, each inode once, 0 if PATH is gone.  Walked by directory descriptor,
    never through a symbolic link: a running container's upper directory (ps -s, inspect
    -s) may change under the walk, and a directory swapped for a link to the host's must
    not be counted.  Only the chain being walked holds descriptors (a tree deeper than the
    descriptors left is counted down to there)."""
    seen: set[int] = set()
    total = 0
    try:
        top = os.open(path, _DIR)
    except OSError:
        return 0
    stack = [(top, os.scandir(top))]
    try:
        while stack:
            fd, it = stack[-1]
            entry = next(it, None)
            if entry is None:
                it.close()
                os.close(fd)
                stack.pop()
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(entry.name, _DIR, dir_fd=fd)
                except OSError:
                    continue
                try:
                    stack.append((sub, os.scandir(sub)))
                except OSError:
                    os.close(sub)
            elif st.st_size and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    finally:
        for fd, it in stack:
            it.close()
            os.close(fd)
    return total


def _epoch(when: str) -> int:
    t = parse_iso(when) if when else None
    return int(t.timestamp()) if t is not None else 0


def history(e, ref: str) -> list[dict]:
    """IMAGE's history, newest step first (NotFound as image lookups say it)."""
    img = e.image(ref)
    steps = img.config.get("history") or []
    layer_dirs = list(reversed(e.images.layer_paths(img)))  # bottom first, as the steps come
    if not steps:  # (an image without history: one step per layer, as dockerd makes up)
        steps = [{"created": img.config.get("created", "")} for _ in layer_dirs]
    out = []
    layer = 0
    for h in steps:
        size = 0
        if not h.get("empty_layer"):
            if layer < len(layer_dirs):
                size = apparent_size(layer_dirs[layer])
            layer += 1
        out.append({"Id": "<missing>", "Created": _epoch(h.get("created", "")), "CreatedBy": h.get("created_by", ""),
                    "Tags": None, "Size": size, "Comment": h.get("comment", "")})
    out.reverse()
    if out:
        out[0].update(Id=img.id, Tags=list(img.tags) or None)
    return out
