"""The build executor's pure parts (issue 20): COPY's plan by docker's rules, the layer tars'
fixed form, the cache keys, BuildKit's plain progress.  No root, no containers."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from dunnage.builder import cache, copy, layers
from dunnage.builder.mounts import scrub
from dunnage.builder.progress import Classic, Plain


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    for name, data in {"a.txt": "a", "b.txt": "b", "dir/x": "x", "dir/sub/y": "y", "logs/keep.log": "k",
                       "logs/drop.log": "d"}.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data)
    os.symlink("a.txt", root / "link")
    os.symlink("../../etc/passwd", root / "dir" / "out")
    return root


@pytest.fixture
def image(tmp_path):
    top = tmp_path / "image"
    (top / "usr" / "bin").mkdir(parents=True)
    os.symlink("usr/bin", top / "bin")
    (top / "etc").mkdir()
    (top / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (top / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    return copy.Tree(stack=copy.LayerStack([], str(top)), name="image")


def arcs(ctx, image, srcs, dest, **kw):
    p = copy.plan(copy.Tree(root=str(ctx)), image, srcs, dest, kw.pop("workdir", "/"), **kw)
    return [n for n, _ in p.parents], [i.arc for i in p.items], p


def test_copy_rules(ctx, image):
    assert arcs(ctx, image, ["a.txt"], "/dst/renamed")[:2] == (["dst"], ["dst/renamed"])
    assert arcs(ctx, image, ["a.txt"], "/dst/")[:2] == (["dst"], ["dst/a.txt"])
    assert arcs(ctx, image, ["a.txt"], "/usr")[1] == ["usr/a.txt"]  # an image directory
    assert arcs(ctx, image, ["a.txt"], "/bin/")[1] == ["usr/bin/a.txt"]  # through the image's link
    assert arcs(ctx, image, ["dir"], "/d")[1] == ["d/out", "d/sub", "d/sub/y", "d/x"]  # its contents
    assert arcs(ctx, image, ["*.txt"], "/g/")[1] == ["g/a.txt", "g/b.txt"]
    assert arcs(ctx, image, ["link"], "/l/")[1] == ["l/link"]  # followed, its own name kept
    assert arcs(ctx, image, ["a.txt"], "rel", workdir="/work")[1] == ["work/rel"]
    with pytest.raises(copy.CopyError, match="must be a directory"):
        arcs(ctx, image, ["a.txt", "b.txt"], "/notadir")
    with pytest.raises(copy.CopyError, match="outside the build context"):
        arcs(ctx, image, ["../x"], "/x")
    with pytest.raises(copy.CopyError, match="outside the build context"):
        arcs(ctx, image, ["dir/out"], "/x")
    with pytest.raises(copy.SourceMissing):
        arcs(ctx, image, ["nothing"], "/x")


def test_copy_link_plans_onto_an_empty_file_system(ctx, image):
    """--link: the image's link in DEST is not followed, its directories are made again
    (no stat of theirs kept), and DEST without a slash is a file even where the image has a
    directory (BuildKit merges a scratch copy over the state); --chown's names still come
    from the image."""
    assert arcs(ctx, image, ["a.txt"], "/bin/", link=True)[:2] == (["bin"], ["bin/a.txt"])
    parents, items, p = arcs(ctx, image, ["a.txt"], "/usr/bin/", link=True, chown="app")
    assert (parents, items, [st for _, st in p.parents]) == (["usr", "usr/bin"], ["usr/bin/a.txt"], [None, None])
    assert (p.uid, p.gid) == (1000, 1001)
    assert arcs(ctx, image, ["a.txt"], "/usr", link=True)[1] == ["usr"]


@pytest.mark.parametrize("srcs, exclude, want", [
    (["."], ["*.txt"], ["link", "dir", "dir/out", "dir/sub", "dir/sub/y", "dir/x", "logs", "logs/drop.log",
                        "logs/keep.log"]),
    (["dir"], ["sub"], ["out", "x"]),
    (["dir"], ["*", "!sub/y"], ["sub", "sub/y"]),
    (["logs", "a.txt"], ["*.log", "a.txt"], ["a.txt"]),  # a source itself is never matched
    (["."], ["**/*.log", "dir/*"], ["a.txt", "b.txt", "link", "dir", "logs"]),
])
def test_copy_exclude_matches_below_each_source(ctx, image, srcs, exclude, want):
    got = arcs(ctx, image, srcs, "/d/", exclude=exclude)[1]
    assert sorted(got) == sorted("d/" + w for w in want)


@pytest.mark.parametrize("srcs, want", [
    (["./dir/x", "./logs/keep.log"], ["dir", "dir/x", "logs", "logs/keep.log"]),
    (["dir/./sub/y"], ["sub", "sub/y"]),
    (["./**/*.log"], ["logs", "logs/drop.log", "logs/keep.log"]),
    (["dir"], ["dir", "dir/out", "dir/sub", "dir/sub/y", "dir/x"]),
    (["*.txt"], ["a.txt", "b.txt"]),
])
def test_copy_parents_keeps_the_path_below_the_pivot(ctx, image, srcs, want):
    assert sorted(arcs(ctx, image, srcs, "/p/", keep_parents=True)[1]) == sorted("p/" + w for w in want)


def test_copy_parents_wants_what_it_names_without_wildcards(ctx, image):
    with pytest.raises(copy.SourceMissing):
        arcs(ctx, image, ["dir/nothing"], "/p/", keep_parents=True)
    assert arcs(ctx, image, ["dir/*.none"], "/p/", keep_parents=True)[1] == []
    with pytest.raises(copy.CopyError, match="outside the build context"):
        arcs(ctx, image, ["../x/./y"], "/p/", keep_parents=True)


def test_chown_names_and_ignored_directories(ctx, image):
    _, _, p = arcs(ctx, image, ["a.txt"], "/x", chown="app:staff", chmod="600")
    assert (p.uid, p.gid, p.mode) == (1000, 50, 0o600)
    assert arcs(ctx, image, ["a.txt"], "/x", chown="app")[2].gid == 1001
    with pytest.raises(copy.CopyError, match="can't find uid for user nobody"):
        arcs(ctx, image, ["a.txt"], "/x", chown="nobody")

    class Rules:  # logs/ ignored, logs/keep.log brought back
        def __call__(self, rel):
            return rel.startswith("logs") and rel != "logs/keep.log"

        def may_include_under(self, rel):
            return rel == "logs"
    p = copy.plan(copy.Tree(root=str(ctx), excluded=Rules()), image, ["."], "/c/", "/")
    assert [i.arc for i in p.items if i.arc.startswith("c/logs")] == ["c/logs", "c/logs/keep.log"]


def test_layer_tar_is_fixed_and_clamped(tmp_path, ctx):
    def one(epoch):
        tw = layers.TarWriter(tmp_path / f"l{epoch}.tar", epoch)
        layers.tar_tree(tw, str(ctx))
        return tw.close(), (tmp_path / f"l{epoch}.tar").read_bytes()
    d1, b1 = one(1000)
    os.utime(ctx / "a.txt", (5, 5))
    os.utime(ctx / "b.txt", (5, 5))
    d2, b2 = one(1000)
    with tarfile.open(fileobj=io.BytesIO(b2)) as tf:
        members = tf.getmembers()
    assert [m.name for m in members][:3] == ["a.txt", "b.txt", "dir"]  # sorted
    assert all(m.uname == "" and m.gname == "" and m.mtime <= 1000 for m in members)
    assert {m.name: m.mtime for m in members}["a.txt"] == 5
    assert d1 != d2 and d1 == "sha256:" + __import__("hashlib").sha256(b1).hexdigest()
    os.utime(ctx / "a.txt", (2000, 2000))
    os.utime(ctx / "b.txt", (3000, 3000))
    assert one(1000)[0] == one(1000)[0]


def test_cache_keys_change_with_what_the_step_reads():
    k = cache.key_of("sha256:parent", "RUN x", {"A": "1"})
    assert k == cache.key_of("sha256:parent", "RUN x", {"A": "1"})
    assert len({k, cache.key_of("sha256:other", "RUN x", {"A": "1"}), cache.key_of("sha256:parent", "RUN y", {"A": "1"}),
                cache.key_of("sha256:parent", "RUN x", {"A": "2"}),
                cache.key_of("sha256:parent", "RUN x", {"A": "1"}, sources="sha256:s")}) == 5


def test_checksum_ignores_times_not_content(ctx, image):
    def sums():
        return copy.checksum(copy.plan(copy.Tree(root=str(ctx)), image, ["dir"], "/d", "/"))
    before = sums()
    os.utime(ctx / "dir" / "x", (1, 1))
    assert sums() == before
    (ctx / "dir" / "x").write_text("X")
    assert sums() != before
    os.chmod(ctx / "dir" / "x", 0o600)
    (ctx / "dir" / "x").write_text("x")
    assert sums() != before


def test_plain_and_classic_progress():
    out = []
    p = Plain(out.append)
    n = p.vertex("[1/2] RUN echo hi")
    p.output(n, b"hi\npart")
    p.done(n)
    m = p.vertex("[2/2] COPY a /a")
    p.cached(m)
    text = "".join(out)
    assert text.startswith("#1 [1/2] RUN echo hi\n#1 ") and " hi\n" in text and " part\n#1 DONE " in text
    assert text.endswith("#2 [2/2] COPY a /a\n#2 CACHED\n\n")
    got = []
    c = Classic(got.append)
    c.result("sha256:" + "ab" * 32, ["x:latest"])
    assert got == ["Successfully built abababababab\n", "Successfully tagged x:latest\n"]


def test_scrub_takes_out_only_empty_mount_points(tmp_path):
    up = tmp_path / "upper"
    (up / "run" / "secrets").mkdir(parents=True)
    (up / "run" / "secrets" / "tok").write_text("")
    (up / "var" / "cache").mkdir(parents=True)
    (up / "var" / "kept").write_text("data")
    scrub(str(up), ["run/secrets/tok", "var/cache/x"])
    assert sorted(os.listdir(up)) == ["var"] and os.listdir(up / "var") == ["kept"]
