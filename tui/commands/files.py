"""A container's files: cp both ways, export, diff, commit."""
from __future__ import annotations

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter
from dunnage.core.images.changes import parse_changes
from dunnage.tui.commands.grammar import go_bool
from dunnage.tui.commands.output import archive_output


def cmd_cp(e: Engine, a) -> int:
    def split(x):
        if ":" in x and not x.startswith(("/", ".")):
            c, _, p = x.partition(":")
            return c, p
        return None, x
    sc, sp = split(a.src)
    dc, dp = split(a.dest)
    if (sc is None) == (dc is None):
        raise InvalidParameter("copying between containers, or between two host paths, is not supported: "
                          "one side must be CONTAINER:PATH", 1)
    if sc is not None:
        e.copy_from(sc, sp, dp)
    else:
        e.copy_to(dc, sp, dp)
    return 0


def cmd_export(e: Engine, a) -> int:
    e.export(a.container, **archive_output(a))
    return 0


def cmd_diff(e: Engine, a) -> int:
    for kind, path in e.diff(a.container):
        print(f"{kind} {path}")
    return 0


def cmd_commit(e: Engine, a) -> int:
    img = e.commit(a.container, a.reference, parse_changes(a.change), a.message or "", a.author or "",
                   pause=a.pause and not a.no_pause)
    print(img.id)
    return 0


def register(sub) -> None:
    p = sub.add_parser("cp", help="copy files between a container and the host")
    p.add_argument("src", help="CONTAINER:PATH or a host path")
    p.add_argument("dest", help="CONTAINER:PATH, a host path, or - (a tar on standard output)")
    p.set_defaults(fn=cmd_cp)

    p = sub.add_parser("export", help="a container's file system as a tar archive")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("diff", help="what a container changed in its file system")
    p.add_argument("container")
    p.set_defaults(fn=cmd_diff)

    p = sub.add_parser("commit", help="make an image of a container's changes")
    p.add_argument("-c", "--change", action="append", help="apply a Dockerfile instruction (CMD, ENV, …)")
    p.add_argument("-m", "--message")
    p.add_argument("-a", "--author")
    go_bool(p, "-p", "--pause", default=True, help="pause while committing (default true; --pause=false)")
    p.add_argument("--no-pause", action="store_true")
    p.add_argument("container")
    p.add_argument("reference", nargs="?")
    p.set_defaults(fn=cmd_commit)
