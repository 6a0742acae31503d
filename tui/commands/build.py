"""build (and `image build`): a Dockerfile and its context into an image, through
dunnage.builder; `builder prune [-a]` empties the build cache."""
from __future__ import annotations

import os
import sys

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter, exit_code_of
from dunnage.tui.commands.grammar import CONTENT_TRUST, true_only
from dunnage.tui.commands.output import confirm, err
from dunnage.tui.rows import human_size


def _pairs(items, flag: str) -> dict[str, str]:
    out = {}
    for it in items or []:
        k, eq, v = it.partition("=")
        if not k:
            raise InvalidParameter(f'invalid argument "{it}" for "{flag}" flag')
        if not eq:  # docker: --build-arg K takes K's value from this environment
            if k in os.environ:
                out[k] = os.environ[k]
            continue
        out[k] = v
    return out


def _epoch(a) -> int | None:
    text = a.source_date_epoch if a.source_date_epoch is not None else os.environ.get("SOURCE_DATE_EPOCH")
    if text is None or text == "":
        return None
    try:
        v = int(text)
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise InvalidParameter(f"invalid SOURCE_DATE_EPOCH: {text}") from None


def _secrets(items, spool) -> dict[str, str]:
    """--secret id=ID,src=FILE or id=ID,env=VAR (buildx's: with neither, the variable ID if it
    is set, else the file ID): the files RUN --mount=type=secret mounts; a variable's value is
    written to a file of SPOOL() (a directory of the store's, removed after the build)."""
    out = {}
    for it in items or []:
        f = dict(p.partition("=")[::2] for p in it.split(","))
        sid = f.get("id")
        src = f.get("src") or f.get("source")
        env = f.get("env")
        if not sid:
            raise InvalidParameter(f'invalid argument "{it}" for "--secret" flag: an id is needed')
        if src is None and env is None and f.get("type") != "file" and sid in os.environ:
            env = sid
        if src is None and env is not None:
            if env not in os.environ:
                raise InvalidParameter(f'invalid argument "{it}" for "--secret" flag: {env}: no such variable')
            path = os.path.join(spool(), f"env-{len(out)}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.environ[env])
            out[sid] = path
            continue
        src = src or sid
        if not os.path.isfile(src):
            raise InvalidParameter(f'invalid argument "{it}" for "--secret" flag: {src}: no such file')
        out[sid] = os.path.abspath(src)
    return out


def cmd_build(e: Engine, a) -> int:
    from dunnage.builder import build as B
    from dunnage.builder import request
    from dunnage.builder.progress import Plain, Progress, Tty
    if a.network not in (None, "default", "bridge", "none", "host"):
        raise InvalidParameter(f"network mode \"{a.network}\" not supported by buildkit")
    B.normalize_tags(a.tag or [])  # a bad -t is the flag's fault (125), before anything runs
    opts = B.Options(dockerfile="", tags=a.tag or [], build_args=_pairs(a.build_arg, "--build-arg"),
                     target=a.target, no_cache=a.no_cache, pull=a.pull, labels=_pairs(a.label, "--label"),
                     network=a.network, epoch=_epoch(a))
    write = lambda s: (sys.stderr.write(s), sys.stderr.flush())  # noqa: E731 - BuildKit's progress is on stderr
    tty = a.progress == "tty" or (a.progress == "auto" and sys.stderr.isatty())
    progress = Progress() if a.quiet else Tty(write) if tty else Plain(write)
    tmp = spooled = None

    def spool() -> str:
        nonlocal spooled
        if spooled is None:
            spooled = e.store.tempdir("build-secrets-")
        return str(spooled)
    try:
        opts.secrets = _secrets(a.secret, spool)
        with exit_code_of(1):
            if a.context == "-":
                if a.file == "-":
                    raise InvalidParameter("invalid argument: can't use stdin for both build context and dockerfile",
                                           125)
                data = sys.stdin.buffer
                head = data.peek(512)[:512] if hasattr(data, "peek") else b""
                if request.is_tar(head):
                    tmp = e.store.tempdir("build-ctx-")
                    request.unpack_context(data, tmp / "ctx")
                    opts.context = str(tmp / "ctx")
                    df_path = os.path.join(opts.context, a.file or "Dockerfile")
                    opts.dockerfile, _ = request.read_dockerfile(opts.context, df_path)
                    opts.excluded = request.ignore_rules(opts.context, df_path)
                else:
                    opts.dockerfile = data.read().decode("utf-8", "replace")
                    opts.context = None
            else:
                if not os.path.isdir(a.context):
                    raise InvalidParameter(f'unable to prepare context: path "{a.context}" not found', 1)
                opts.context = os.path.abspath(a.context)
                if a.file == "-":
                    opts.dockerfile, df_path = sys.stdin.read(), None
                else:
                    opts.dockerfile, df_path = request.read_dockerfile(opts.context, a.file)
                opts.excluded = request.ignore_rules(opts.context, df_path)
            img = B.build(e, opts, progress)
    finally:
        import shutil
        for d in (tmp, spooled):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
    if a.iidfile:
        try:
            with open(a.iidfile, "w") as f:
                f.write(img.id)
        except OSError as ex:
            err(f"writing {a.iidfile}: {ex.strerror}")
            return 1
    if a.quiet:
        print(img.id)
    return 0


def cmd_builder(e: Engine, a) -> int:
    from dunnage.builder.cache import Cache
    if a.sub == "prune":
        if not a.force and not confirm(f"WARNING! This will remove all {'' if a.all else 'dangling '}build cache. "
                                       "Are you sure you want to continue?"):
            print("Total reclaimed space: 0B")  # (docker's CLI: the total of nothing)
            return 0
        n, freed = Cache(e).prune(a.all)
        print(f"Total:\t{human_size(freed)}")
        return 0
    if a.sub == "du":
        items = Cache(e).usage()
        print("ID\tRECLAIMABLE\tSIZE\tDESCRIPTION")
        for it in items:
            if it["Layer"]:
                print(f"{it['ID']}\t{'false' if it['InUse'] else 'true'}\t{human_size(it['Size'])}\t"
                      f"{it['Description']}")
        return 0
    raise InvalidParameter(f"unknown builder command: {a.sub}")


def add_build_parser(sub, name: str, help: str):
    p = sub.add_parser(name, help=help)
    p.add_argument("-t", "--tag", action="append", help="name:tag for the image (repeatable)")
    p.add_argument("-f", "--file", help="the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)")
    p.add_argument("--build-arg", action="append", help="K=V: a build arg (repeatable)")
    p.add_argument("--target", help="the stage to build (default: the last)")
    p.add_argument("--no-cache", action="store_true", help="run every step, using no cached result")
    p.add_argument("--pull", action="store_true", help="pull the base images even when present")
    true_only(p, "--disable-content-trust", CONTENT_TRUST, help="taken: no image is verified by signature")
    true_only(p, "--rm", "intermediate containers are never kept", help="taken: RUN's containers are always removed")
    true_only(p, "--force-rm", "intermediate containers are never kept",
              help="taken: RUN's containers are always removed, a failed one too")
    p.add_argument("--label", action="append", help="K=V: a label on the image (repeatable)")
    p.add_argument("--network", help="RUN's network: bridge (default), none, host")
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty"], help="progress output")
    p.add_argument("--iidfile", help="write the image's id to this file")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    p.add_argument("--secret", action="append", help="id=X,src=F: a file RUN --mount=type=secret mounts")
    p.add_argument("--source-date-epoch", help="clamp file times and dates to this Unix time (SOURCE_DATE_EPOCH)")
    p.add_argument("context", help="a directory, or - for a tar (or a Dockerfile) on stdin")
    p.set_defaults(fn=cmd_build)
    return p


def register(sub) -> None:
    add_build_parser(sub, "build", "build an image from a Dockerfile")
    p = sub.add_parser("builder", help="manage the build cache (prune, du)")
    p.add_argument("sub", choices=["prune", "du"])
    p.add_argument("-a", "--all", action="store_true", help="prune: all of the cache, not only what no image uses")
    p.add_argument("-f", "--force", action="store_true", help="prune: do not ask")
    p.set_defaults(fn=cmd_builder)
