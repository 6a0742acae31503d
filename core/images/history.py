"""docker history (GET /images/{name}/history): an image's steps, newest first, as
dockerd's ImageHistoryResponseItem: the image's own id and tags on the top step,
"<missing>" below it (no parent images are kept here, as with BuildKit's builds),
each step's creation time, command, comment and the size of the layer it made."""
from __future__ import annotations

import os
import stat

from ..units import parse_iso


def apparent_size(path) -> int:
    """dockerd's DiffSize of a layer directory (pkg/directory.Size): the sizes of what is
    not a directory, each inode once, 0 if PATH is gone."""
    seen: set[int] = set()
    total = 0
    stack = [os.fspath(path)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                elif st.st_size and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
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
