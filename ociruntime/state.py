"""The runtime's state directory: one directory per container under the global --root
(runc's layout: `<root>/<id>/state.json`, and the `exec.fifo` a created container waits on),
and the OCI state of a container, worked out from its init process and its fifo."""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Optional

from dunnage.core.errors import Conflict, InvalidParameter, NotFound

DEFAULT_ROOT = "/run/dunnage-runtime"
SPEC_VERSION = "1.1.0"
_ID = re.compile(r"^[\w+\-.]+$")


@dataclass
class State:
    id: str
    bundle: str
    rootfs: str
    pid: int
    start_time: int  # the init's start time (field 22 of /proc/PID/stat): a reused pid is not ours
    created: str  # RFC 3339
    cgroups_path: str
    annotations: dict = field(default_factory=dict)
    hooks: dict = field(default_factory=dict)
    paused: bool = False
    new_keyring: bool = False  # its processes get a session keyring of their own (keyring_name)

    def oci(self, status: str) -> dict:
        """The state the runtime spec defines (`state ID`, and the hooks' standard input)."""
        return {"ociVersion": SPEC_VERSION, "id": self.id, "status": status,
                "pid": self.pid if status != "stopped" else 0, "bundle": self.bundle, "rootfs": self.rootfs,
                "created": self.created, "owner": "", "annotations": self.annotations}


def check_id(cid: str) -> None:
    if not cid or not _ID.match(cid) or cid in (".", ".."):
        raise InvalidParameter(f"invalid container id {cid!r}: letters, digits, _ + - . only")


def keyring_name(cid: str) -> str:
    """The session keyring of container CID's processes (runc's name for it)."""
    return f"_ses.{cid}"


def container_dir(root: str, cid: str) -> str:
    check_id(cid)
    return os.path.join(root, cid)


def fifo_path(root: str, cid: str) -> str:
    return os.path.join(container_dir(root, cid), "exec.fifo")


def start_time(pid: int) -> Optional[int]:
    """PID's start time, or None if it is gone or a zombie (it has exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def save(root: str, st: State) -> None:
    d = container_dir(root, st.id)
    tmp = os.path.join(d, ".state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(asdict(st), f)
    os.rename(tmp, os.path.join(d, "state.json"))


def load(root: str, cid: str) -> State:
    path = os.path.join(container_dir(root, cid), "state.json")
    try:
        with open(path) as f:
            return State(**json.load(f))
    except FileNotFoundError:
        raise NotFound(f"container {cid} does not exist") from None


def make_dir(root: str, cid: str) -> str:
    d = container_dir(root, cid)
    os.makedirs(root, 0o711, exist_ok=True)
    try:
        os.mkdir(d, 0o711)
    except FileExistsError:
        raise Conflict(f"container with id exists: {cid}") from None
    return d


def remove_dir(root: str, cid: str) -> None:
    import shutil
    shutil.rmtree(container_dir(root, cid), ignore_errors=True)


def status(root: str, st: State) -> str:
    """created (the init waits on its fifo), running, paused, or stopped."""
    if start_time(st.pid) != st.start_time:
        return "stopped"
    if os.path.exists(fifo_path(root, st.id)):
        return "created"
    return "paused" if st.paused else "running"


def all_ids(root: str) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, "state.json"))]
