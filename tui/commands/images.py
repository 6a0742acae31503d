"""Images: pull, push, list, remove, tag, load, save, import, and `image` with its verbs."""
from __future__ import annotations

import argparse
import os
import sys

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter, System
from dunnage.core.images.changes import parse_changes
from dunnage.tui.commands.grammar import CONTENT_TRUST, filters_of, go_bool, run_verb, tls, true_only
from dunnage.tui.commands.output import archive_output, confirm, err, print_pruned, prune_line, render
from dunnage.tui.rows import human_size, image_rows


def cmd_import(e: Engine, a) -> int:
    changes = parse_changes(a.change)
    if a.file == "-":
        img = e.import_image(sys.stdin.buffer, a.reference, changes)
    else:
        try:
            f = open(a.file, "rb")
        except OSError as ex:
            raise System(f"{a.file}: {ex.strerror}") from None
        with f:
            img = e.import_image(f, a.reference, changes)
    print(img.id)
    return 0


def cmd_pull(e: Engine, a) -> int:
    if a.quiet or not sys.stdout.isatty():
        say = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))
        e.pull(a.reference, tls(a), say, platform=a.platform)
    else:
        _pull_with_bars(e, a.reference, tls(a), a.platform)
    if a.quiet:
        print(full_name(a.reference))
    else:
        from dunnage.core.images.registry import parse_reference
        r = parse_reference(a.reference)
        print(f"Status: Downloaded newer image for {r.familiar}:{r.tag}" if r.tag else f"Status: Downloaded {a.reference}")
    return 0


def full_name(ref: str) -> str:
    """What pull -q and push -q print, as docker's CLI: the name it normalized, a tag added
    where there is none (docker.io/library/busybox:latest)."""
    from dunnage.core.images.reference import parse_reference
    r = parse_reference(ref)
    return f"{r.registry}/{r.repository}" + (f":{r.tag}" if r.tag else "") + (f"@{r.digest}" if r.digest else "")


def _pull_with_bars(e: Engine, ref: str, tls, platform=None):
    """On a terminal: a bar per layer with bytes and rate (rich's progress display)."""
    import threading
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
    lock = threading.Lock()
    tasks: dict = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=False) as bars:
        def progress(layer: str, done: int, total: int) -> None:
            with lock:
                if layer not in tasks:
                    tasks[layer] = bars.add_task(layer, total=total or None)
                bars.update(tasks[layer], completed=done, total=total or None)
        return e.pull(ref, tls, lambda s: bars.console.print(s), progress, platform=platform)


def cmd_push(e: Engine, a) -> int:
    e.push(a.reference, tls(a), (lambda s: None) if a.quiet else (lambda s: print(s, flush=True)))
    if a.quiet:
        print(full_name(a.reference))
    return 0


def cmd_tag(e: Engine, a) -> int:
    e.tag_image(a.source, a.target)
    return 0


def cmd_image(e: Engine, a) -> int:
    """image ls|rm|inspect|history|prune|tag|pull|push|load|save|import: the same verbs, grouped."""
    if a.sub == "prune":
        from dunnage.tui.commands.container import prune_parser
        b = prune_parser("image prune", all_=True).parse_args(a.args)
        filters = filters_of(b.filter)  # (docker's CLI adds dangling=true, or false with -a, to the user's)
        filters.setdefault("dangling", []).append("false" if b.all else "true")
        warning = "all images without at least one container associated to them" if b.all else "all dangling images"
        if not b.force and not confirm(f"WARNING! This will remove {warning}.\nAre you sure you want to continue?"):
            print("Total reclaimed space: 0B")  # (docker's CLI: the total of nothing)
            return 0
        lines, freed = e.prune("images", b.all, filters)
        print_pruned("Deleted Images:", [prune_line(ln) for ln in lines])
        print(f"Total reclaimed space: {human_size(freed)}")
        return 0
    mapping = {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "inspect": "inspect",
               "history": "history"}
    verb = mapping.get(a.sub, a.sub)
    return run_verb(e, a, [verb] + (["--type", "image"] if verb == "inspect" else []) + a.args)


def cmd_history(e: Engine, a) -> int:
    """docker history: an image's steps, newest first, laid out as docker's CLI does."""
    import datetime as dt
    from dunnage.core.units import human_duration
    from dunnage.tui.rows import ellipsis
    rows = []
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    for h in e.image_history(a.image):
        iid = h["Id"]
        if iid != "<missing>" and not a.no_trunc:
            iid = iid.removeprefix("sha256:")[:12]
        created = dt.datetime.fromtimestamp(h["Created"], dt.timezone.utc).astimezone()
        rfc3339 = created.isoformat().replace("+00:00", "Z")  # (Go's time.RFC3339, in local time)
        by = h["CreatedBy"].replace("\t", " ")
        rows.append({"ID": iid, "CreatedSince": human_duration(now - h["Created"]) + " ago" if a.human else rfc3339,
                     "CreatedAt": rfc3339,
                     "CreatedBy": by if a.no_trunc else ellipsis(by, 45),
                     "Size": human_size(h["Size"], 3) if a.human else str(h["Size"]), "Comment": h["Comment"]})
    render(a.format, rows, [("IMAGE", "ID"), ("CREATED", "CreatedSince") if a.human else ("CREATED AT", "CreatedAt"),
                            ("CREATED BY", "CreatedBy"), ("SIZE", "Size"), ("COMMENT", "Comment")], "ID", a.quiet)
    return 0


def cmd_load(e: Engine, a) -> int:
    src = a.input if a.input and a.input != "-" else sys.stdin.buffer
    if src is sys.stdin.buffer and os.isatty(0):
        raise InvalidParameter("requested load from stdin, but stdin is empty (use -i FILE)")
    for img, tags in e.load_images(src):  # (-q: no progress, which there is none of: dockerd says what it loaded)
        for t in tags:
            print(f"Loaded image: {t}")
        if not tags:
            print(f"Loaded image ID: {img.id}")
    return 0


def cmd_save(e: Engine, a) -> int:
    out = archive_output(a)
    e.save_images(a.images, out["path"], a.format, out["stream"])
    return 0


def cmd_images(e: Engine, a) -> int:
    """docker images [REPOSITORY[:TAG]]: the argument is one more reference= filter, a
    pattern as those (docker's CLI adds it so), any of them letting a name through."""
    filters = filters_of(a.filter)
    if a.reference:
        filters.setdefault("reference", []).append(a.reference)
    rows = [dict(r, ID=img.id) if a.no_trunc else r  # (--no-trunc: docker's sha256:HEX)
            for img in e.list_images(filters) for r in image_rows([img])]
    cols = [("REPOSITORY", "Repository"), ("TAG", "Tag")] + ([("DIGEST", "Digest")] if a.digests else [])
    render(a.format, rows, cols + [("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")], "ID", a.quiet)
    return 0


def cmd_rmi(e: Engine, a) -> int:
    rc = 0
    for ref in a.images:
        try:
            for line in e.remove_image(ref, a.force):
                print(line)
        except EngineError as ex:
            err(str(ex))
            rc = 1
    return rc


def register(sub) -> None:
    p = sub.add_parser("images", help="list images")
    p.add_argument("-a", "--all", action="store_true",
                   help="intermediate images too (there are none here: builds keep none, as BuildKit's)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--digests", action="store_true")
    p.add_argument("--no-trunc", action="store_true", help="whole image IDs (sha256:HEX)")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="dangling, label, before, since, reference (a pattern: local/*) (as docker's)")
    p.add_argument("--format")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]",
                   help="a pattern of names, as reference= (busy*, local/*, busybox:1.*)")
    p.set_defaults(fn=cmd_images)

    p = sub.add_parser("pull", help="pull an image from a registry")
    p.add_argument("-q", "--quiet", action="store_true")
    true_only(p, "--disable-content-trust", CONTENT_TRUST, help="taken: no image is verified by signature")
    p.add_argument("--platform", help="os/arch[/variant] to take from a multi-platform image (default: this machine's)")
    p.add_argument("--tls-verify", help="false: plain HTTP (loopback registries are plain HTTP already)")
    p.add_argument("reference")
    p.set_defaults(fn=cmd_pull)

    p = sub.add_parser("push", help="push an image to a registry")
    p.add_argument("-q", "--quiet", action="store_true")
    true_only(p, "--disable-content-trust", CONTENT_TRUST, help="taken: no image is signed")
    p.add_argument("--tls-verify")
    p.add_argument("reference")
    p.set_defaults(fn=cmd_push)

    p = sub.add_parser("rmi", help="remove images")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--no-prune", action="store_true",
                   help="taken: an image here has no untagged parents to delete (builds keep no intermediate images)")
    p.add_argument("images", nargs="+")
    p.set_defaults(fn=cmd_rmi)

    p = sub.add_parser("tag", help="give an image another name")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(fn=cmd_tag)

    p = sub.add_parser("load", help="load images from a docker archive or an OCI layout")
    p.add_argument("-i", "--input", help="archive file or OCI layout directory (default: stdin)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=cmd_load)

    p = sub.add_parser("save", help="write images to an archive docker and podman can load")
    p.add_argument("-o", "--output")
    p.add_argument("--format", default="docker-archive", choices=["docker-archive", "oci-archive"])
    p.add_argument("images", nargs="+")
    p.set_defaults(fn=cmd_save)

    p = sub.add_parser("import", help="make an image from a root filesystem tarball")
    p.add_argument("-c", "--change", action="append", help="apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR)")
    p.add_argument("file")
    p.add_argument("reference", nargs="?")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("history", help="an image's steps, newest first")
    go_bool(p, "-H", "--human", default=True, help="sizes and dates in human terms (-H=false: bytes and RFC 3339)")
    p.add_argument("--no-trunc", action="store_true", help="whole IDs and commands")
    p.add_argument("-q", "--quiet", action="store_true", help="the IDs alone")
    p.add_argument("--format")
    p.add_argument("image")
    p.set_defaults(fn=cmd_history)

    p = sub.add_parser("image", help="manage images (ls, rm, inspect, history, prune, tag, pull, push, load, save)")
    p.add_argument("sub", choices=["ls", "list", "rm", "remove", "inspect", "history", "prune", "tag", "pull", "push",
                                   "load", "save", "import", "build"])
    p.add_argument("args", nargs=argparse.REMAINDER)  # (each verb's flags after it, as docker's: none before)
    p.set_defaults(fn=cmd_image)
