"""What the fork server's client and the server share: the socket's and lock's names and
the stamp of the code (a server serves only fronts of its own code)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

SOCK = "forkserver.sock"
LOCK = "forkserver.lock"
_PACKAGE = Path(__file__).resolve().parents[2]  # the directory holding core/ and fuse/


def code_stamp() -> str:
    """What identifies this dunnage's code: the size and mtime of its Python files and of
    its data (the default seccomp profile, which the server compiles once), in every
    package under core/, fuse/, tui/ and api/ (one added later too)."""
    import hashlib
    h = []
    todo = ["core", "fuse", "tui", "api"]
    while todo:
        sub = todo.pop()
        try:
            with os.scandir(_PACKAGE / sub) as it:
                for e in it:
                    if e.name.endswith((".py", ".json")):
                        st = e.stat()
                        h.append(f"{sub}/{e.name}:{st.st_size}:{st.st_mtime_ns}")
                    elif e.is_dir(follow_symlinks=False) and e.name != "__pycache__" and not e.name.startswith("."):
                        todo.append(f"{sub}/{e.name}")
        except OSError:
            pass
    return hashlib.sha256("\n".join(sorted(h)).encode()).hexdigest()


# in a command forked from the server: its code is the server's, whose stamp this is
SERVED_STAMP: Optional[str] = None
