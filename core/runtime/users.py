"""--user: "name", "uid", "uid:gid", "name:group", resolved against the
container's own /etc/passwd and /etc/group (read inside its root)."""
from __future__ import annotations

import os

from ..errors import InvalidParameter


class UserError(InvalidParameter, ValueError):
    """A user or group the container's files do not name: docker's exec and health
    checks exit 126 on it."""
    exit_code = 126


class User:
    """Who a process runs as (a plain class: the container's init imports this module,
    and dataclasses costs dunnage-runtime's create 10 ms of imports)."""
    __slots__ = ("uid", "gid", "groups", "home", "name")

    def __init__(self, uid: int = 0, gid: int = 0, groups: list | None = None, home: str = "/", name: str = "root"):
        self.uid, self.gid, self.groups, self.home, self.name = uid, gid, list(groups or []), home, name


def _read(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve(spec: str, root: str = "/", extra_groups: list[str] = ()) -> User:
    """Resolve SPEC as docker does: names must exist; numbers need not."""
    spec = (spec or "").strip()
    if not spec:
        spec = "0"
    upart, _, gpart = spec.partition(":")
    passwd = _read(os.path.join(root, "etc/passwd"))
    groups = _read(os.path.join(root, "etc/group"))
    u = User()
    entry = None
    if upart.isdigit():
        u.uid = int(upart)
        entry = next((e for e in passwd if len(e) >= 7 and e[2] == upart), None)
    else:
        entry = next((e for e in passwd if len(e) >= 7 and e[0] == upart), None)
        if entry is None:
            raise UserError(f"unable to find user {upart}: no matching entries in passwd file")
        u.uid = int(entry[2])
    if entry is not None:
        u.name, u.gid, u.home = entry[0], int(entry[3]), entry[5] or "/"
    else:
        u.name, u.gid, u.home = upart, 0, "/"
    if gpart:
        if gpart.isdigit():
            u.gid = int(gpart)
        else:
            g = next((e for e in groups if len(e) >= 3 and e[0] == gpart), None)
            if g is None:
                raise UserError(f"unable to find group {gpart}: no matching entries in group file")
            u.gid = int(g[2])
    # supplementary groups: those listing the user by name (unless a group was forced), plus --group-add
    sup = set()
    if not gpart and entry is not None:
        for g in groups:
            if len(g) >= 4 and u.name in g[3].split(","):
                sup.add(int(g[2]))
    for extra in extra_groups:
        if str(extra).isdigit():
            sup.add(int(extra))
        else:
            g = next((e for e in groups if len(e) >= 3 and e[0] == extra), None)
            if g is None:
                raise UserError(f"unable to find group {extra}: no matching entries in group file")
            sup.add(int(g[2]))
    u.groups = sorted(sup | {u.gid})
    return u


def switch(u: User) -> None:
    os.setgroups(u.groups)
    os.setgid(u.gid)
    os.setuid(u.uid)
