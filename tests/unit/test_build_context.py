"""The build context (builder/context.py): a directory or a tar seen through .dockerignore,
nothing outside it reachable, and the cache's checksum of COPY sources (content and
metadata, never times).  Pure: files under tmp_path, no root needed."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from dunnage.builder.context import Context, ContextError, ContextNotFound, Entry, _feed, unpack
from dunnage.core.errors import InvalidParameter, NotFound


def tree(root, spec: dict) -> None:
    """SPEC: name -> bytes (a file), dict (a directory), ("link", target)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, v in spec.items():
        p = root / name
        if isinstance(v, dict):
            tree(p, v)
        elif isinstance(v, tuple):
            os.symlink(v[1], p)
        else:
            p.write_bytes(v)


def rels(ctx: Context, rel: str = "") -> list[str]:
    return [e.rel for e in ctx.walk(rel)]


SPEC = {
    "Dockerfile": b"FROM scratch\n",
    "a.txt": b"a",
    "b.log": b"log",
    "build": {"out.o": b"o", "keep": {"x": b"x"}, "deep": {"keep.me": b"k", "no": b"n"}},
    "src": {"main.c": b"c", "tmp.log": b"t", "lib": {"util.c": b"u"}},
    "link-in": ("link", "src/main.c"),
    "link-out": ("link", "/etc/passwd"),
    "link-up": ("link", "../outside"),
    "node_modules": {"pkg": {"index.js": b"js"}},
}


@pytest.fixture
def ctx(tmp_path):
    tree(tmp_path / "ctx", SPEC)
    (tmp_path / "outside").write_bytes(b"secret")
    return tmp_path / "ctx"


def test_walk_everything_in_byte_order(ctx):
    c = Context.from_dir(ctx)
    assert rels(c) == ["Dockerfile", "a.txt", "b.log", "build", "build/deep", "build/deep/keep.me", "build/deep/no",
                       "build/keep", "build/keep/x", "build/out.o", "link-in", "link-out", "link-up", "node_modules",
                       "node_modules/pkg", "node_modules/pkg/index.js", "src", "src/lib", "src/lib/util.c",
                       "src/main.c", "src/tmp.log"]
    assert rels(c, "src") == ["src/lib", "src/lib/util.c", "src/main.c", "src/tmp.log"]


def test_walk_through_dockerignore_with_exceptions(ctx):
    (ctx / ".dockerignore").write_text("# comment\n*.log\nbuild\n!build/keep\n!**/keep.me\nnode_modules/\n"
                                       "/.dockerignore\n")
    c = Context.from_dir(ctx)
    assert rels(c) == ["Dockerfile", "a.txt", "build", "build/deep", "build/deep/keep.me", "build/keep",
                       "build/keep/x", "link-in", "link-out", "link-up", "src", "src/lib", "src/lib/util.c",
                       "src/main.c", "src/tmp.log"]  # *.log is the root's only, as docker reads it
    assert c.excluded("b.log") and not c.excluded("src/tmp.log") and c.excluded("build/out.o")
    assert not c.excluded("build/keep/x") and c.excluded("node_modules/pkg/index.js") and not c.excluded(".")
    assert rels(c, "build") == ["build/deep", "build/deep/keep.me", "build/keep", "build/keep/x"]


def test_excluded_directory_without_exceptions_is_not_entered(ctx):
    (ctx / ".dockerignore").write_text("build\n")
    os.chmod(ctx / "build" / "deep", 0)  # would fail the walk if it were read
    try:
        assert "build/deep" not in rels(Context.from_dir(ctx))
    finally:
        os.chmod(ctx / "build" / "deep", 0o755)


def test_dockerfile_dockerignore_beside_the_dockerfile(ctx):
    (ctx / ".dockerignore").write_text("*.txt\n")
    (ctx / "Dockerfile.dockerignore").write_text("*.log\n")
    c = Context.from_dir(ctx, ctx / "Dockerfile")
    assert c.excluded("b.log") and not c.excluded("a.txt")
    assert Context.from_dir(ctx).excluded("a.txt")


def test_missing_context_directory(tmp_path):
    with pytest.raises(ContextNotFound, match="unable to prepare context"):
        Context.from_dir(tmp_path / "nope")


@pytest.mark.parametrize("src, want", [
    ("src/main.c", "src/main.c"), ("./src//lib/", "src/lib"), ("src/../a.txt", "a.txt"), ("link-in", "src/main.c"),
    ("/a.txt", "a.txt"), (".", ""), ("src/lib/../../a.txt", "a.txt"),
])
def test_resolve_inside(ctx, src, want):
    assert Context.from_dir(ctx).resolve(src) == want


@pytest.mark.parametrize("src", ["../outside", "src/../../outside", "link-out", "link-up", "..", "a/../../x"])
def test_resolve_refuses_the_way_out(ctx, src):
    with pytest.raises(ContextError, match="forbidden path outside the build context") as info:
        Context.from_dir(ctx).resolve(src)
    assert isinstance(info.value, InvalidParameter)


def test_links_not_followed_where_not_asked_and_loops_refused(ctx):
    c = Context.from_dir(ctx)
    assert c.resolve("link-out", follow_last=False) == "link-out"
    os.symlink("loop2", ctx / "loop1")
    os.symlink("loop1", ctx / "loop2")
    with pytest.raises(ContextError, match="too many levels of symbolic links"):
        c.resolve("loop1")
    os.symlink("src", ctx / "srclink")
    assert c.resolve("srclink/lib/util.c") == "src/lib/util.c"
    assert rels(c, "srclink") == ["src/lib", "src/lib/util.c", "src/main.c", "src/tmp.log"]


# -- checksum --------------------------------------------------------------------------------

def test_checksum_ignores_times_and_where_the_context_is(ctx, tmp_path):
    c = Context.from_dir(ctx)
    first = c.checksum(["src", "a.txt"])
    assert first.startswith("sha256:") and len(first) == 71
    os.utime(ctx / "src" / "main.c", (1, 1))
    os.utime(ctx / "src", (2, 2))
    assert c.checksum(["src", "a.txt"]) == first
    import shutil
    shutil.copytree(ctx, tmp_path / "elsewhere", symlinks=True)
    assert Context.from_dir(tmp_path / "elsewhere").checksum(["src", "a.txt"]) == first
    assert c.checksum(["a.txt", "src"]) != first  # the order COPY names them in counts


@pytest.mark.parametrize("change", ["content", "mode", "new file", "rename", "link target", "dir mode"])
def test_checksum_sees_content_and_metadata(ctx, change):
    c = Context.from_dir(ctx)
    before = c.checksum(["src", "link-in"])
    if change == "content":
        (ctx / "src" / "lib" / "util.c").write_bytes(b"U")
    elif change == "mode":
        os.chmod(ctx / "src" / "main.c", 0o755)
    elif change == "new file":
        (ctx / "src" / "new").write_bytes(b"")
    elif change == "rename":
        os.rename(ctx / "src" / "main.c", ctx / "src" / "main2.c")
        os.symlink("src/main2.c", ctx / "tmp")
        os.replace(ctx / "tmp", ctx / "link-in")
    elif change == "link target":
        os.symlink("lib/util.c", ctx / "src" / "l")
        before = c.checksum(["src", "link-in"])
        os.unlink(ctx / "src" / "l")
        os.symlink("main.c", ctx / "src" / "l")
    elif change == "dir mode":
        os.chmod(ctx / "src" / "lib", 0o700)
    assert c.checksum(["src", "link-in"]) != before


def test_checksum_of_a_link_source_is_its_target(ctx):
    c = Context.from_dir(ctx)
    before = c.checksum(["link-in"])
    (ctx / "src" / "main.c").write_bytes(b"changed")
    assert c.checksum(["link-in"]) != before


def test_checksum_owner_counts(ctx):
    """uid and gid are in each entry's record (a tuple of lstat with another owner)."""
    import hashlib
    e = Context.from_dir(ctx).entry("a.txt")
    sums = set()
    for uid, gid in ((0, 0), (1000, 0), (0, 1000)):
        st = os.stat_result((e.st.st_mode, e.st.st_ino, e.st.st_dev, e.st.st_nlink, uid, gid, e.st.st_size,
                             e.st.st_atime, e.st.st_mtime, e.st.st_ctime))
        h = hashlib.sha256()
        _feed(h, "a.txt", Entry("a.txt", e.path, st))
        sums.add(h.hexdigest())
    assert len(sums) == 3


def test_checksum_skips_ignored_and_refuses_missing(ctx):
    (ctx / ".dockerignore").write_text("src/tmp.log\nb.log\n")
    c = Context.from_dir(ctx)
    before = c.checksum(["src"])
    (ctx / "src" / "tmp.log").write_bytes(b"changed, but ignored")
    assert c.checksum(["src"]) == before
    with pytest.raises(ContextNotFound) as info:
        c.checksum(["b.log"])
    assert isinstance(info.value, NotFound)
    with pytest.raises(ContextNotFound):
        c.checksum(["nope"])
    with pytest.raises(ContextError):
        c.checksum(["link-out"])


# -- a context from a tar --------------------------------------------------------------------

def tar_of(members: list, mode: str = "w") -> io.BytesIO:
    """MEMBERS: (name, kind, data/target, file mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, kind, data, perm in members:
            ti = tarfile.TarInfo(name)
            ti.mode = perm
            ti.mtime = 1_000_000
            if kind == "file":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                       "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "hard"):
                ti.linkname = data
            tf.addfile(ti)
    buf.seek(0)
    return buf


def test_from_tar_unpacks_and_filters(tmp_path):
    stream = tar_of([
        ("Dockerfile", "file", b"FROM scratch\n", 0o644),
        ("bin", "dir", None, 0o755),
        ("bin/run", "file", b"#!/bin/sh\n", 0o755),
        ("bin/run-link", "sym", "run", 0o777),
        ("bin/run-hard", "hard", "bin/run", 0o755),
        ("abs-link", "sym", "/usr/bin/env", 0o777),
        ("secret.key", "file", b"k", 0o600),
        ("ro", "dir", None, 0o555),
        ("ro/f", "file", b"f", 0o444),
        ("pipe", "fifo", None, 0o644),
        (".dockerignore", "file", b"*.key\n", 0o644),
    ], "w:gz")
    c = Context.from_tar(stream, tmp_path / "ctx")
    assert rels(c) == [".dockerignore", "Dockerfile", "abs-link", "bin", "bin/run", "bin/run-hard", "bin/run-link",
                       "ro", "ro/f"]
    root = tmp_path / "ctx"
    assert (root / "bin" / "run").read_bytes() == b"#!/bin/sh\n"
    assert oct(os.stat(root / "bin" / "run").st_mode & 0o777) == oct(0o755)
    assert oct(os.stat(root / "ro").st_mode & 0o777) == oct(0o555)
    assert os.stat(root / "bin" / "run").st_mtime == 1_000_000
    assert os.readlink(root / "abs-link") == "/usr/bin/env"
    assert os.stat(root / "bin" / "run-hard").st_ino == os.stat(root / "bin" / "run").st_ino
    assert c.excluded("secret.key")
    with pytest.raises(ContextError):
        c.resolve("abs-link")
    os.chmod(root / "ro", 0o755)


def test_from_tar_dockerfile_dockerignore(tmp_path):
    stream = tar_of([("sub/app.Dockerfile", "file", b"FROM x\n", 0o644),
                     ("sub/app.Dockerfile.dockerignore", "file", b"*.bin\n", 0o644),
                     (".dockerignore", "file", b"*.txt\n", 0o644)])
    c = Context.from_tar(stream, tmp_path / "ctx", "sub/app.Dockerfile")
    assert c.excluded("a.bin") and not c.excluded("a.txt")


@pytest.mark.parametrize("members, message", [
    ([("../evil", "file", b"x", 0o644)], "leads outside it"),
    ([("a/../../evil", "file", b"x", 0o644)], "leads outside it"),
    ([("/etc/evil", "file", b"x", 0o644)], "absolute path"),
    ([("up", "sym", "..", 0o777), ("up/evil", "file", b"x", 0o644)], "goes through a link"),
    ([("out", "sym", "/tmp", 0o777), ("out/evil", "file", b"x", 0o644)], "goes through a link"),
    ([("f", "file", b"x", 0o644), ("f/evil", "file", b"x", 0o644)], "goes through a link or a file"),
    ([("h", "hard", "../../etc/passwd", 0o644)], "leads outside it"),
])
def test_from_tar_refuses_the_way_out(tmp_path, members, message):
    with pytest.raises(ContextError, match=message):
        Context.from_tar(tar_of(members), tmp_path / "a" / "ctx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert not (tmp_path / "a" / "evil").exists()


def test_from_tar_not_a_tar(tmp_path):
    with pytest.raises(ContextError, match="not a readable tar"):
        unpack(io.BytesIO(b"this is not a tar archive" * 40), tmp_path)


def test_tar_and_directory_contexts_sum_alike(tmp_path, ctx):
    """The same files sent as a tar give the same checksum as the directory (modes, owners
    and contents come through the tar; the times differ and do not count)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(ctx / "src", "src")
    buf.seek(0)
    c = Context.from_tar(buf, tmp_path / "unpacked")
    os.utime(tmp_path / "unpacked" / "src" / "main.c", (5, 5))
    assert c.checksum(["src"]) == Context.from_dir(ctx).checksum(["src"])


# -- what a COPY source names ----------------------------------------------------------------

def test_an_ignored_directory_with_a_kept_inside_is_present(ctx):
    (ctx / ".dockerignore").write_text("build\n!build/keep\n")
    c = Context.from_dir(ctx)
    assert c.present("build") and c.present("build/keep/x") and not c.present("build/out.o")
    assert c.entry("build").is_dir
    assert [e.rel for e in c.walk("build")] == ["build/keep", "build/keep/x"]
    before = c.checksum(["build"])
    (ctx / "build" / "out.o").write_bytes(b"ignored")
    assert c.checksum(["build"]) == before
    (ctx / ".dockerignore").write_text("build\n!other\n")
    assert not Context.from_dir(ctx).present("build")


@pytest.mark.parametrize("pattern, want", [
    ("*.txt", ["a.txt"]), ("*", ["Dockerfile", "a.txt", "b.log", "build", "link-in", "link-out", "link-up",
                                 "node_modules", "src"]),
    ("src/*.c", ["src/main.c"]), ("src/*/*.c", ["src/lib/util.c"]), ("*/*.c", ["src/main.c"]),
    ("src/ma?n.c", ["src/main.c"]), ("src/[lm]*", ["src/lib", "src/main.c"]), ("src/[^l]*", ["src/main.c", "src/tmp.log"]),
    ("src/[a-k]*", []), ("src/[z-a]*", []), ("build/*/keep.me", ["build/deep/keep.me"]), ("nope*", []),
    ("src/main.c", ["src/main.c"]), ("src/nope.c", []), ("./src/../a.txt", ["a.txt"]), ("link-in", ["link-in"]),
])
def test_glob(ctx, pattern, want):
    assert Context.from_dir(ctx).glob(pattern) == want


def test_glob_hides_ignored_and_refuses_ways_out(ctx):
    (ctx / ".dockerignore").write_text("*.log\nsrc/lib\n")
    c = Context.from_dir(ctx)
    assert c.glob("*.log") == [] and c.glob("src/*") == ["src/main.c", "src/tmp.log"]
    with pytest.raises(ContextError, match="forbidden path outside"):
        c.glob("../*")
    with pytest.raises(ContextError, match="syntax error in pattern"):
        c.glob("src/[")
    (ctx / "x*y").write_bytes(b"")
    assert c.glob("x\\*y") == ["x*y"] and c.glob("x[*]y") == ["x*y"]
