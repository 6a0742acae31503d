"""dunnage build (issue 20): Dockerfiles built for real on the demo image, RUN through
dunnage's runtime on the union filesystem, the cache, multi-stage, failures that leave
nothing behind, and reproducible digests."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid

import pytest

from conftest import _mounts, cli

BASE = "local/busybox:latest"


def write(ctx, files: dict) -> None:
    for name, content in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content) if isinstance(content, str) else p.write_bytes(content)


def build(root, ctx, *flags, input=None, timeout=180):
    return cli(root, "build", *flags, str(ctx), input=input, timeout=timeout)


def image_of(root, ref) -> dict:
    r = cli(root, "inspect", "--type", "image", ref)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def run_in(root, ref, *cmd) -> str:
    r = cli(root, "run", "--rm", ref, *cmd)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def steps(stderr: bytes) -> list[str]:
    """The plain progress's step lines and their outcome: "[1/3] RUN x" -> CACHED or DONE."""
    out, names = [], {}
    for ln in stderr.decode().splitlines():
        if not ln.startswith("#"):
            continue
        n, _, rest = ln.partition(" ")
        if rest.startswith("["):
            names[n] = rest
        elif rest in ("CACHED",) or rest.startswith("DONE") or rest.startswith("ERROR"):
            if n in names:
                out.append(f"{names[n]} => {rest.split()[0]}")
    return out


@pytest.fixture
def ctx(tmp_path):
    d = tmp_path / "ctx"
    d.mkdir()
    return d


def leftovers(root) -> dict:
    return {"containers": sorted(p.name for p in (root / "containers").iterdir()) if (root / "containers").exists()
            else [], "tmp": sorted(p.name for p in (root / "tmp").iterdir()),
            "mounts": sorted(m for m in _mounts() if m.startswith(str(root) + "/"))}


def test_single_stage_config_files_and_history(session_root, engine, ctx):
    tag = f"b1-{uuid.uuid4().hex[:8]}"
    write(ctx, {"hello.txt": "hello\n", "dir/a": "a\n", "dir/sub/b": "b\n", "x.log": "1", "y.log": "2",
                "Dockerfile": f"""FROM {BASE}
ARG WHO=world
ENV GREETING=hi PATH2="/opt/x"
WORKDIR /app
COPY hello.txt .
COPY --chown=nobody:nogroup --chmod=640 dir /app/d/
COPY *.log logs/
RUN echo "$GREETING $WHO $(id -u)" > out && pwd >> out
SHELL ["/bin/sh", "-ec"]
RUN echo shell >> out
USER nobody
ENTRYPOINT ["/bin/cat"]
CMD ["/app/out"]
EXPOSE 8080 53/udp
LABEL org.test=yes "other"="two words"
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD true
"""})
    r = build(session_root, ctx, "-t", tag, "--build-arg", "WHO=you", "--label", "built=here")
    assert r.returncode == 0, r.stderr
    assert b"#1 [1/7] FROM local/busybox:latest" in r.stderr and b"DONE" in r.stderr
    cfg = image_of(session_root, tag)["Config"]
    assert cfg["Env"][-2:] == ["GREETING=hi", "PATH2=/opt/x"]
    assert (cfg["WorkingDir"], cfg["User"], cfg["Entrypoint"], cfg["Cmd"]) == ("/app", "nobody", ["/bin/cat"],
                                                                                ["/app/out"])
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"} and set(cfg["Volumes"]) == {"/data"}
    assert cfg["Labels"] == {"org.test": "yes", "other": "two words", "built": "here"}
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert run_in(session_root, tag) == "hi you 0\n/app\nshell\n"
    r = cli(session_root, "run", "--rm", "-u", "root", "--entrypoint", "sh", tag, "-c",
            "stat -c '%n %a %u %g' /app/hello.txt /app/d /app/d/a /app/d/sub/b /app/logs/x.log /app/logs/y.log")
    assert r.stdout.decode().split("\n")[:6] == [
        "/app/hello.txt 644 0 0", "/app/d 755 65534 65534", "/app/d/a 640 65534 65534",
        "/app/d/sub/b 640 65534 65534", "/app/logs/x.log 644 0 0", "/app/logs/y.log 644 0 0"]
    hist = image_of(session_root, tag)
    lines = [h["created_by"] for h in reversed(hist["History"])]
    assert lines[0] == "HEALTHCHECK --interval=5s --retries=2 CMD true"
    assert "RUN |1 WHO=you /bin/sh -c echo \"$GREETING $WHO $(id -u)\" > out && pwd >> out # buildkit" in lines
    assert "COPY hello.txt . # buildkit" in lines
    assert len(lines) == 16 + 1 and lines[-1] == "dunnage import"
    assert [h.get("empty_layer", False) for h in hist["History"]].count(False) == 1 + 6
    assert hist["RootFS"]["Layers"][:1] == image_of(session_root, BASE)["RootFS"]["Layers"]


def test_rebuild_runs_nothing_and_a_change_rebuilds_from_its_copy(session_root, engine, ctx):
    tag = f"b2-{uuid.uuid4().hex[:8]}"
    write(ctx, {"a.txt": f"a {uuid.uuid4()}\n", "b.txt": "b\n", "Dockerfile": f"""FROM {BASE}
COPY a.txt /a.txt
RUN cat /a.txt > /copy-a
COPY b.txt /b.txt
RUN cat /b.txt > /copy-b
"""})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    first = image_of(session_root, tag)["Id"]
    assert steps(r.stderr)[1:] == ["[2/5] COPY a.txt /a.txt => DONE", "[3/5] RUN cat /a.txt > /copy-a => DONE",
                                   "[4/5] COPY b.txt /b.txt => DONE", "[5/5] RUN cat /b.txt > /copy-b => DONE"]
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert [s.split(" => ")[1] for s in steps(r.stderr)[1:]] == ["CACHED"] * 4
    assert image_of(session_root, tag)["Id"] == first
    os.utime(ctx / "a.txt", (1, 1))  # an mtime is not a change
    r = build(session_root, ctx, "-t", tag)
    assert [s.split(" => ")[1] for s in steps(r.stderr)[1:]] == ["CACHED"] * 4
    (ctx / "b.txt").write_text("b changed\n")
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert [s.split(" => ")[1] for s in steps(r.stderr)[1:]] == ["CACHED", "CACHED", "DONE", "DONE"]
    assert run_in(session_root, tag, "cat", "/copy-b") == "b changed\n"
    r = build(session_root, ctx, "-t", tag, "--no-cache")
    assert [s.split(" => ")[1] for s in steps(r.stderr)[1:]] == ["DONE"] * 4


def test_failing_run_names_step_and_code_and_leaves_nothing(session_root, engine, ctx):
    import time
    from dunnage.core import events
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN echo before > /f\nRUN echo going; exit 3\n"})
    images = cli(session_root, "images", "-q", "--no-trunc").stdout
    before = leftovers(session_root)
    t0 = time.time_ns()
    r = build(session_root, ctx, "-t", "never-made")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "going" in err
    assert err.strip().splitlines()[-1] == ('dunnage: Error: [3/3] RUN echo going; exit 3: process "/bin/sh -c '
                                            'echo going; exit 3" did not complete successfully: exit code: 3')
    assert cli(session_root, "images", "-q", "--no-trunc").stdout == images
    assert leftovers(session_root) == before
    assert cli(session_root, "inspect", "--type", "image", "never-made").returncode != 0
    made = {e["id"] for e in events.read(engine.store)[0] if e["Type"] == "container" and e["Action"] == "create"
            and e["time_ns"] >= t0}
    assert made and not [d for d in _cgroup_dirs() if any(cid in d for cid in made)]


def test_syntax_error_names_the_line(session_root, engine, ctx):
    write(ctx, {"Dockerfile": f"FROM {BASE}\n\nRUNN echo\n"})
    r = build(session_root, ctx)
    assert r.returncode == 1
    assert r.stderr.decode().strip() == "dunnage: Error: Dockerfile:3: unknown instruction: RUNN"


def test_bad_flags_and_missing_context(session_root, engine, ctx, tmp_path):
    write(ctx, {"Dockerfile": f"FROM {BASE}\n"})
    r = build(session_root, ctx, "-t", "Bad:Tag:x")
    assert r.returncode == 125 and b"invalid reference format" in r.stderr
    r = cli(session_root, "build", str(tmp_path / "nope"))
    assert r.returncode == 1 and b"unable to prepare context" in r.stderr
    r = build(session_root, ctx, "-f", str(tmp_path / "none"))
    assert r.returncode == 1 and b"failed to read dockerfile" in r.stderr


def test_copy_rules_add_tar_and_escapes(session_root, engine, ctx, tmp_path):
    tag = f"b3-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("pkg/one", b"1"), ("pkg/two", b"22")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.uid, ti.mode = len(data), 7, 0o600
            tf.addfile(ti, io.BytesIO(data))
    write(ctx, {"f.txt": "f", "src/x/y": "y", "arch.tgz": buf.getvalue(), "Dockerfile": f"""FROM {BASE}
COPY f.txt /dst/renamed
COPY f.txt /dst/
COPY src /dst/src-contents
ADD arch.tgz /unpacked/
COPY arch.tgz /kept/
"""})
    os.symlink("../outside", ctx / "leak")
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "sh", "-c", "cd / && find dst unpacked kept | sort && stat -c '%n %u %a' "
                                                 "unpacked/pkg/one")
    assert out.split() == ["dst", "dst/f.txt", "dst/renamed", "dst/src-contents", "dst/src-contents/x",
                           "dst/src-contents/x/y", "kept", "kept/arch.tgz", "unpacked", "unpacked/pkg",
                           "unpacked/pkg/one", "unpacked/pkg/two", "unpacked/pkg/one", "7", "600"]
    for bad, msg in (("COPY ../etc/passwd /x", b"outside the build context"),
                     ("COPY leak /x", b"outside the build context"),
                     ("COPY nothing-here /x", b"not found"),
                     ("COPY f.txt src /notadir", b"must be a directory"),
                     ("ADD http://127.0.0.1:9/x /x", b"failed to fetch http://127.0.0.1:9/x")):
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\n{bad}\n")
        r = build(session_root, ctx)
        assert r.returncode == 1 and msg in r.stderr, (bad, r.stderr)
        assert b"Traceback" not in r.stderr


def test_multi_stage_target_and_only_needed_stages(session_root, engine, ctx):
    tag = f"b4-{uuid.uuid4().hex[:8]}"
    write(ctx, {"Dockerfile": f"""FROM {BASE} AS base
RUN echo base > /base

FROM base AS builder
RUN echo built > /artifact

FROM {BASE} AS unused
RUN echo never-run; exit 9

FROM {BASE}
COPY --from=builder /artifact /from-builder
COPY --from=0 /base /from-base
COPY --from={BASE} /etc/passwd /from-image
"""})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert b"never-run" not in r.stderr and b"[unused" not in r.stderr
    assert run_in(session_root, tag, "cat", "/from-builder", "/from-base") == "built\nbase\n"
    assert run_in(session_root, tag, "head", "-c", "4", "/from-image") == "root"
    r = build(session_root, ctx, "-t", tag + "-b", "--target", "builder")
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, tag + "-b", "cat", "/artifact", "/base") == "built\nbase\n"
    r = build(session_root, ctx, "--target", "nosuch")
    assert r.returncode == 1 and b"nosuch" in r.stderr


def test_stdin_contexts(session_root, engine, ctx):
    tag = f"b5-{uuid.uuid4().hex[:8]}"
    write(ctx, {"in.txt": "from tar\n", "Dockerfile": f"FROM {BASE}\nCOPY in.txt /in.txt\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(ctx, arcname=".")
    r = cli(session_root, "build", "-t", tag, "-", input=buf.getvalue(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, tag, "cat", "/in.txt") == "from tar\n"
    r = cli(session_root, "build", "-t", tag + "-df", "-", input=f"FROM {BASE}\nRUN echo x > /y\n".encode(),
            timeout=120)
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, tag + "-df", "cat", "/y") == "x\n"
    r = cli(session_root, "build", "-t", tag + "-f", "-f", "-", str(ctx),
            input=f"FROM {BASE}\nCOPY in.txt /z\n".encode(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, tag + "-f", "cat", "/z") == "from tar\n"


def _tree(root) -> dict:
    """Every entry under ROOT: type and mode, owner, mtime, content or link target, xattrs,
    and which entry first had its inode (hard links)."""
    import hashlib
    out, first = {}, {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            data = None
            if os.path.islink(p):
                data = os.readlink(p)
            elif os.path.isfile(p):
                data = hashlib.sha256(open(p, "rb").read()).hexdigest()
            xattrs = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False))
            rel = os.path.relpath(p, root)
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, data, xattrs,
                        first.setdefault(st.st_ino, rel))
    st = os.lstat(root)
    out["."] = (st.st_mode, st.st_uid, st.st_gid)
    return out


def test_a_layers_tree_made_with_its_tar_is_what_unpacking_the_tar_makes(tmp_path):
    """COPY and RUN make the layer's tree while writing its tar (builder/layers.py Mirror),
    so the store moves it in instead of unpacking the tar: it must be the same tree, and
    where it cannot be (a fifo), no tree is offered and the store unpacks the tar."""
    from dunnage.builder import layers
    from dunnage.core.images.unpack import unpack_layer
    src = tmp_path / "src"
    (src / "d/sub").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "d/a").write_text("hi\n")
    os.link(src / "d/a", src / "d/hard")
    os.symlink("../d/a", src / "d/sub/link")
    os.symlink("/nowhere", src / "abs")
    (src / "suid").write_text("s\n")
    os.chmod(src / "suid", 0o4755)
    os.chown(src / "d/a", 1000, 1001)
    os.setxattr(src / "suid", "user.y", b"v2")
    os.setxattr(src / "d/sub", "user.x", b"val")
    (src / ".wh.gone").touch()
    (src / "d/.wh..wh..opq").touch()
    os.chmod(src / "empty", 0o1777)
    os.utime(src / "d", (978307200, 978307200))
    for epoch in (None, 1_000_000):
        out = tmp_path / f"out-{epoch}"
        out.mkdir()
        tw = layers.TarWriter(out / "layer.tar", epoch, mirror=out / "tree")
        layers.tar_tree(tw, str(src))
        diff_id = tw.close()
        tree, size = tw.tree()
        with open(out / "layer.tar", "rb") as f:
            assert unpack_layer(f, out / "unpacked") == (diff_id, size)
        assert _tree(tree) == _tree(out / "unpacked")
    os.mkfifo(src / "fifo")
    tw = layers.TarWriter(tmp_path / "f.tar", None, mirror=tmp_path / "f-tree")
    layers.tar_tree(tw, str(src))
    tw.close()
    assert tw.tree() is None and not (tmp_path / "f-tree").exists()


def test_layer_headers_are_tarfiles_bytes():
    """TarWriter makes the plain header blocks itself (layers._header); wherever it does,
    they are the bytes tarfile's PAX format gives (the same tars, the same diff ids)."""
    import random
    from dunnage.builder import layers
    rnd = random.Random(20)
    made = 0
    for i in range(8000):
        ti = tarfile.TarInfo(rnd.choice(["a", "dir/x.py", "é/ü", "n" * rnd.choice([99, 100, 101]), "d/"])
                             + rnd.choice(["", "/sub", "/" + "p" * rnd.randrange(120)]))
        ti.type = rnd.choice([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                              tarfile.FIFOTYPE])
        ti.mode = rnd.choice([0o644, 0o755, 0o4755, 0o1777, 0o100644, 0])
        ti.uid, ti.gid = (rnd.choice([0, 1000, 65534, 8 ** 7 - 1, 8 ** 7, 2 ** 32 - 2]) for _ in range(2))
        ti.size = rnd.choice([0, 1, 511, 512, 8 ** 11 - 1, 8 ** 11]) if ti.type == tarfile.REGTYPE else 0
        ti.mtime = rnd.choice([0, 1_700_000_000, 8 ** 11 - 1, 8 ** 11, -5, 1.5])
        ti.linkname = rnd.choice(["", "target", "t" * rnd.choice([100, 101]), "ü"]) if ti.type in (
            tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
        ti.uname = ti.gname = rnd.choice(["", "", "root"])
        ti.devmajor, ti.devminor = rnd.randrange(300), rnd.randrange(300)
        if rnd.random() < 0.2:
            ti.pax_headers = {"SCHILY.xattr.user.x": "v"}
        fast = layers._header(ti)
        if fast is not None:
            made += 1
            assert fast == ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"), (ti.name, ti.type, ti.uid, ti.mtime)
    assert made > 300


def test_reproducible_with_source_date_epoch(session_root, engine, ctx):
    write(ctx, {"f": "content\n", "Dockerfile": f"FROM {BASE}\nCOPY f /f\nRUN echo made > /made && touch /now\n"
                                              "ENV X=1\n"})
    ids = []
    for i in range(2):
        iid = ctx.parent / f"iid{i}"
        r = build(session_root, ctx, "--no-cache", "--iidfile", str(iid), "--source-date-epoch", "1700000000")
        assert r.returncode == 0, r.stderr
        ids.append(iid.read_text())
    assert ids[0] == ids[1] and ids[0].startswith("sha256:")
    info = image_of(session_root, ids[0])
    assert info["Created"].startswith("2023-11-14T22:13:20")
    r = cli(session_root, "run", "--rm", ids[0], "stat", "-c", "%Y", "/now", "/f")
    assert r.stdout.decode().split() == ["1700000000", "1700000000"]
    r = build(session_root, ctx, "--no-cache", "-q", "--build-arg", "SOURCE_DATE_EPOCH=1700000000")
    assert r.returncode == 0 and r.stdout.decode().strip() == ids[0]  # BuildKit's build arg says the same
    assert b"not consumed" not in r.stderr
    r = build(session_root, ctx, "--no-cache", "-q")
    assert r.returncode == 0 and r.stdout.decode().strip() != ids[0]  # without the epoch: today's times


def test_builder_prune_and_df(session_root, engine, ctx):
    write(ctx, {"f": uuid.uuid4().hex, "Dockerfile": f"FROM {BASE} AS first\nRUN echo {uuid.uuid4()} > /only-cached\n"
                                                      f"FROM {BASE}\nCOPY f /f\nRUN cp /f /g\n"
                                                      "COPY --from=first /only-cached /\n"})
    def cache_count() -> int:
        r = cli(session_root, "system", "df", "--format", "{{.Type}}={{.TotalCount}}")
        return int(dict(ln.split("=") for ln in r.stdout.decode().splitlines())["Build Cache"])
    cli(session_root, "builder", "prune", "-a", "-f")
    assert cache_count() == 0
    assert build(session_root, ctx).returncode == 0
    assert cache_count() == 4  # the first stage's RUN, the COPYs' and the RUN's layers
    layers = set(os.listdir(session_root / "layers"))
    r = cli(session_root, "builder", "prune", "-a", "-f")
    assert r.returncode == 0 and r.stdout.startswith(b"Total:") and not r.stdout.startswith(b"Total:\t0B")
    assert cache_count() == 0
    assert len(layers - set(os.listdir(session_root / "layers"))) == 1  # only the first stage's was the cache's
    r = build(session_root, ctx)
    assert [s.split(" => ")[1] for s in steps(r.stderr)][-4:] == ["DONE"] * 4



def test_dockerignore_heredocs_and_run_network(session_root, engine, ctx):
    tag = f"b6-{uuid.uuid4().hex[:8]}"
    write(ctx, {"keep/a": "a", "keep/secret.key": "k", "logs/x.log": "x", "logs/keep.log": "kept",
                ".dockerignore": "**/*.key\nlogs\n!logs/keep.log\n", "Dockerfile": f"""FROM {BASE}
COPY . /ctx/
COPY <<EOF /etc/motd
hello from a heredoc
EOF
RUN <<EOF
echo from-run-heredoc > /run-heredoc
EOF
RUN --network=none cat /sys/class/net/*/address | wc -l > /nics
"""})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "sh", "-c", "cd /ctx && find . -type f | sort; cat /etc/motd /run-heredoc /nics")
    assert out.split("\n") == ["./.dockerignore", "./Dockerfile", "./keep/a", "./logs/keep.log",
                               "hello from a heredoc", "from-run-heredoc", "1", ""]
    r = build(session_root, ctx, "--network", "nosuch")
    assert r.returncode == 125 and b"not supported" in r.stderr


def test_run_has_buildkits_hostname_and_the_images_etc_hostname(session_root, engine, ctx):
    """As BuildKit's RUN: the hostname buildkitsandbox, no HOSTNAME in the environment, the
    image's own /etc/hostname (not bound over, so a RUN may write it and the layer keeps it)."""
    tag = f"bh-{uuid.uuid4().hex[:8]}"
    write(ctx, {"Dockerfile": f"""FROM {BASE}
RUN hostname > /h && cat /etc/hostname > /was && (printenv HOSTNAME || echo unset) > /e
RUN echo written-by-run > /etc/hostname
"""})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    base = next(open(p).read() for p in (os.path.join(d, "etc/hostname")
                                         for d in reversed(engine.images.layer_paths(engine.image(BASE))))
                if os.path.exists(p))
    out = run_in(session_root, tag, "sh", "-c", "cat /h /was /e")
    assert out == "buildkitsandbox\n" + base + "unset\n"
    with tarfile.open(fileobj=io.BytesIO(cli(session_root, "save", tag).stdout)) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        last = tarfile.open(fileobj=io.BytesIO(outer.extractfile(manifest["Layers"][-1]).read()))
        assert last.getnames() == ["etc", "etc/hostname"]
        assert last.extractfile("etc/hostname").read() == b"written-by-run\n"


def test_a_run_without_network_resolves_its_hostname_on_loopback(session_root, ctx):
    """BuildKit's /etc/hosts in a RUN (executor/oci/hosts.go) names buildkitsandbox on 127.0.0.1, so
    what looks its own host name up (sudo, hostname -i) finds it with no network too."""
    tag = f"bn-{uuid.uuid4().hex[:8]}"
    write(ctx, {"Dockerfile": f"""FROM {BASE}
RUN --network=none grep -w buildkitsandbox /etc/hosts > /hosts
"""})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, tag, "cat", "/hosts") == "127.0.0.1\tlocalhost buildkitsandbox\n"


def test_ctrl_c_stops_the_build_and_cleans_up(session_root, engine, ctx):
    import signal
    from conftest import DUNNAGE, wait_for
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN echo started; sleep 60\n"})
    before = leftovers(session_root)
    running = {c.id for c in engine.containers()}
    p = subprocess.Popen([DUNNAGE, "--root", str(session_root), "build", "--no-cache", "-t", "interrupted",
                          str(ctx)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        cid = wait_for(lambda: next((c.id for c in engine.containers() if c.id not in running), None), timeout=60)
        wait_for(lambda: engine.container(cid).running(), timeout=30)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    assert p.returncode == 130
    wait_for(lambda: leftovers(session_root) == before, timeout=20)
    assert not [d for d in _cgroup_dirs() if cid in d]
    assert cli(session_root, "inspect", "--type", "image", "interrupted").returncode != 0


def _cgroup_dirs() -> list[str]:
    from peers import cgroup_roots
    out = []
    for r in cgroup_roots():
        d = os.path.join(r, "dunnage")
        if os.path.isdir(d):
            out += os.listdir(d)
    return out


def test_build_from_a_registry_image(fresh_root, session_root, engine, ctx, tmp_path):
    from peers import Registry
    reg = Registry(tmp_path / "registry")
    ref = f"{reg.host}/test/busybox:1"
    try:
        assert cli(session_root, "tag", BASE, ref).returncode == 0
        r = cli(session_root, "push", ref, timeout=120)
        assert r.returncode == 0, r.stderr
        write(ctx, {"Dockerfile": f"FROM {ref}\nRUN echo on-registry-image > /r\n"})
        r = build(fresh_root, ctx, "-t", "from-registry")
        assert r.returncode == 0, r.stderr
        assert run_in(fresh_root, "from-registry", "cat", "/r") == "on-registry-image\n"
        assert cli(fresh_root, "inspect", "--type", "image", ref).returncode == 0  # pulled by the build
        r = build(fresh_root, ctx, "-t", "from-registry")
        assert r.returncode == 0 and b"pulling" not in r.stderr, r.stderr  # present: not asked again
        r = build(fresh_root, ctx, "-t", "from-registry", "--pull")
        assert r.returncode == 0 and b"pulling " + ref.encode() in r.stderr, r.stderr
        built = f"{reg.host}/test/built:1"  # the build's image pushed and pulled as any other
        assert cli(fresh_root, "tag", "from-registry", built).returncode == 0
        r = cli(fresh_root, "push", built, timeout=120)
        assert r.returncode == 0, r.stderr
        r = cli(session_root, "pull", built, timeout=120)
        assert r.returncode == 0, r.stderr
        assert run_in(session_root, built, "cat", "/r") == "on-registry-image\n"
        assert image_of(session_root, built)["Id"] == image_of(fresh_root, "from-registry")["Id"]
        (ctx / "Dockerfile").write_text(f"FROM --platform=linux/s390x {ref}\nRUN true\n")
        r = build(fresh_root, ctx)  # present, but not of that platform: asked of the registry again
        assert r.returncode == 0 and b"pulling " + ref.encode() + b" for linux/s390x" in r.stderr, r.stderr
    finally:
        cli(session_root, "rmi", ref, f"{reg.host}/test/built:1")
        reg.close()


def test_meta_args_onbuild_entrypoint_and_add_url(session_root, engine, ctx, tmp_path):
    import http.server
    import threading
    from functools import partial
    served = tmp_path / "www"
    served.mkdir()
    (served / "remote.txt").write_text("fetched over http\n")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler,
                                                                       directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tag = f"b7-{uuid.uuid4().hex[:8]}"
    try:
        write(ctx, {"Dockerfile": f"""ARG BASE_IMAGE={BASE}
FROM $BASE_IMAGE
ONBUILD RUN echo triggered > /onbuild
CMD ["echo", "parent cmd"]
"""})
        r = build(session_root, ctx, "-t", tag + "-parent")
        assert r.returncode == 0, r.stderr
        assert image_of(session_root, tag + "-parent")["Config"]["OnBuild"] == ["RUN echo triggered > /onbuild"]
        write(ctx, {"Dockerfile": f"""FROM {tag}-parent
ADD http://127.0.0.1:{httpd.server_address[1]}/remote.txt /remote/
ENTRYPOINT ["cat"]
"""})
        r = build(session_root, ctx, "-t", tag)
        assert r.returncode == 0, r.stderr
        cfg = image_of(session_root, tag)["Config"]
        assert cfg["Entrypoint"] == ["cat"] and not cfg.get("Cmd") and not cfg.get("OnBuild")
        assert run_in(session_root, tag, "/onbuild", "/remote/remote.txt") == "triggered\nfetched over http\n"
        r = cli(session_root, "run", "--rm", "--entrypoint", "stat", tag, "-c", "%a", "/remote/remote.txt")
        assert r.stdout == b"600\n"
        r = build(session_root, ctx, "--build-arg", "UNUSED=1", "-t", tag)
        assert r.returncode == 0 and b"UNUSED" in r.stderr and b"not consumed" in r.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_run_mounts_cache_bind_secret_tmpfs(session_root, engine, ctx, tmp_path):
    tag = f"b8-{uuid.uuid4().hex[:8]}"
    cache_id = uuid.uuid4().hex
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")
    write(ctx, {"data.txt": "from the context\n", "Dockerfile": f"""FROM {BASE}
RUN --mount=type=cache,id={cache_id},target=/var/cache/x echo run >> /var/cache/x/runs && wc -l < /var/cache/x/runs > /count
RUN --mount=type=bind,source=data.txt,target=/mnt/data cp /mnt/data /from-bind
RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/data.txt && cat /ctx/data.txt > /rw
RUN --mount=type=secret,id=tok,required=true wc -c < /run/secrets/tok > /secret-size
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfs-ls
"""})
    for expected in ("1", "2"):  # the cache directory outlives the build
        r = build(session_root, ctx, "--no-cache", "-t", tag, "--secret", f"id=tok,src={secret}")
        assert r.returncode == 0, r.stderr
        assert run_in(session_root, tag, "cat", "/count").strip() == expected
    out = run_in(session_root, tag, "sh", "-c", "cat /from-bind /rw /secret-size /tmpfs-ls; ls -d /var/cache /mnt "
                                                 "/ctx /run /scratch 2>&1 | wc -l")
    assert out.split("\n") == ["from the context", "changed", "7", "x", "5", ""]
    assert (ctx / "data.txt").read_text() == "from the context\n"  # rw binds write to a copy
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 1 and b"secret tok not found" in r.stderr
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN --mount=type=bind,source=../x,target=/x true\n")
    r = build(session_root, ctx)
    assert r.returncode == 1 and b"outside the build context" in r.stderr


def test_independent_stages_run_in_parallel(session_root, engine, ctx):
    """Two stages that do not use each other meet in a shared cache directory: each waits
    for the other's mark, which only a build running both at once can give."""
    meet = uuid.uuid4().hex

    def stage(name: str, other: str) -> str:
        return (f"FROM {BASE} AS {name}\n"
                f"RUN --mount=type=cache,id={meet},target=/meet touch /meet/{name} && i=0 && "
                f"while [ ! -e /meet/{other} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done && "
                f"test -e /meet/{other} && echo {name} > /{name}\n")
    write(ctx, {"Dockerfile": stage("left", "right") + stage("right", "left") + f"""FROM {BASE}
COPY --from=left /left /l
COPY --from=right /right /r
"""})
    r = build(session_root, ctx, "--no-cache", "-q")
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, r.stdout.decode().strip(), "cat", "/l", "/r") == "left\nright\n"
    (ctx / "Dockerfile").write_text(stage("left", "never") + f"FROM {BASE} AS bad\nRUN sleep 1; exit 4\n"
                                    f"FROM {BASE}\nCOPY --from=left /left /l\nCOPY --from=bad /etc/passwd /p\n")
    before = leftovers(session_root)
    r = build(session_root, ctx, "--no-cache")
    assert r.returncode == 1 and b"exit code: 4" in r.stderr  # the other stage was stopped, not waited out
    assert leftovers(session_root) == before


def test_cache_outlives_rmi_and_image_prune(session_root, engine, ctx):
    write(ctx, {"f": uuid.uuid4().hex, "Dockerfile": f"FROM {BASE}\nCOPY f /f\nRUN cp /f /g\n"})
    tag = f"b9-{uuid.uuid4().hex[:8]}"
    assert build(session_root, ctx, "-t", tag).returncode == 0
    assert cli(session_root, "rmi", tag).returncode == 0
    assert cli(session_root, "image", "prune", "-f").returncode == 0
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert [s.split(" => ")[1] for s in steps(r.stderr)[1:]] == ["CACHED", "CACHED"]
    assert run_in(session_root, tag, "cat", "/g") == (ctx / "f").read_text()


def test_tty_progress_shows_the_running_step_live(session_root, engine, ctx):
    from conftest import DUNNAGE, Tmux, wait_for
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN for i in 1 2 3 4 5 6 7 8 9 10; do echo tick-$i; sleep 0.3; done\n"
                              "RUN echo second\n"})
    with Tmux(f"{DUNNAGE} --root {session_root} build --no-cache {ctx}; sleep 30", w=100, h=30) as t:
        wait_for(lambda: " => => # tick-3" in t.screen(), timeout=60)
        live = t.screen()
        assert " => [2/3] RUN for i in" in live and "[+] Building" in live
        final = wait_for(lambda: "FINISHED" in t.screen() and t.screen(), timeout=60)
        assert " => [3/3] RUN echo second" in final and " => exporting to image" in final
        assert " => => # tick-" not in final  # a finished step's output is folded away


def test_copy_link_copies_onto_an_empty_file_system(session_root, engine, ctx):
    """COPY --link is BuildKit's merge of a `FROM scratch` copy over the state (the reference's
    COPY --link; dockerfile2llb's dispatchCopy): no link of the image is followed in the
    destination (a directory replaces it), every parent is made again (0755, root or --chown's
    owner) over the image's, a file goes where the image had a directory; with --chmod
    BuildKit copies as without --link."""
    tag = f"bl-{uuid.uuid4().hex[:8]}"
    write(ctx, {"a.txt": "a\n", "Dockerfile": f"""FROM {BASE}
RUN mkdir -m 700 /existing /kept && echo old > /existing/old && chown -R 3:3 /existing /kept \\
    && ln -s /kept /ex-link && mkdir -p /was-dir/sub
COPY --link --chmod=600 a.txt /ex-link/via-link
COPY --link a.txt /ex-link/
COPY --link a.txt /existing/
COPY --link a.txt /was-dir
COPY --link --chown=5:6 a.txt /deep/er/
"""})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "sh", "-c", "cd / && stat -c '%n %F %a %u:%g' kept kept/via-link ex-link "
                                                 "ex-link/a.txt existing existing/old existing/a.txt was-dir deep "
                                                 "deep/er deep/er/a.txt")
    assert out.splitlines() == [
        "kept directory 700 3:3", "kept/via-link regular file 600 0:0",
        "ex-link directory 755 0:0", "ex-link/a.txt regular file 644 0:0",
        "existing directory 755 0:0", "existing/old regular file 644 3:3", "existing/a.txt regular file 644 0:0",
        "was-dir regular file 644 0:0",
        "deep directory 755 5:6", "deep/er directory 755 5:6", "deep/er/a.txt regular file 644 5:6"]


def test_run_mount_bind_from_a_stage_and_an_image(session_root, engine, ctx):
    """RUN --mount=type=bind,from=STAGE|IMAGE: that path of the stage's (or image's) file
    system, owners and links as they are there, read-only unless rw (and then the writes
    go nowhere); the mount points leave no trace in the layer; a rebuild runs nothing and a
    change to the stage runs the RUN again."""
    tag = f"bf-{uuid.uuid4().hex[:8]}"
    dockerfile = f"""FROM {BASE} AS tools
RUN mkdir -p /out/sub && echo made-{{n}} > /out/sub/f && ln -s sub/f /out/ln && chown -R 7:8 /out/sub
FROM {BASE}
RUN --mount=type=bind,from=tools,source=/out,target=/mnt/tools cat /mnt/tools/ln > /got \\
    && stat -c '%u:%g %a' /mnt/tools/sub/f >> /got && (touch /mnt/tools/x 2>/dev/null || echo read-only >> /got)
RUN --mount=type=bind,from=tools,source=out/sub/f,target=/one,rw echo changed > /one && cat /one > /rw
RUN --mount=from={BASE},target=/img cmp /img/bin/busybox /bin/busybox && echo same > /img-same
RUN --mount=type=bind,target=/c,rw --mount=type=bind,from=tools,target=/t,rw touch /c/1 /t/1 && ls /c /t > /ls1
RUN --mount=type=bind,target=/c,rw --mount=type=bind,from=tools,target=/t,rw ls /c /t > /ls2
"""
    write(ctx, {"Dockerfile": dockerfile.format(n=1)})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "sh", "-c", "cat /got /rw /img-same; for p in /mnt/tools /one /img /c /t; do "
                                                 "[ -e $p ] && echo left $p; done; true")
    assert out.splitlines() == ["made-1", "7:8 644", "read-only", "changed", "same"]
    first, second = (run_in(session_root, tag, "cat", f).split() for f in ("/ls1", "/ls2"))
    assert first.count("1") == 2 and "out" in first and "1" not in second  # each RUN's rw binds: its own copies
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert {s.split(" => ")[1] for s in steps(r.stderr) if "] FROM " not in s} == {"CACHED"}
    write(ctx, {"Dockerfile": dockerfile.format(n=2)})
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert [s.split(" => ")[1] for s in steps(r.stderr) if s.startswith("[stage-1 2/6]")] == ["DONE"]
    assert run_in(session_root, tag, "head", "-1", "/got") == "made-2\n"


def test_run_networks_default_bridge_none_and_host(session_root, engine, ctx):
    """A RUN is on the default bridge (an eth0 and a network namespace of its own) unless the
    build's --network says none (loopback alone) or host (the host's namespace)."""
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN echo $(ls /sys/class/net) > /nics && "
                              "readlink /proc/self/ns/net > /netns\n"})
    host_ns = os.readlink("/proc/self/ns/net")
    seen = {}
    for flags in ((), ("--network", "bridge"), ("--network", "none"), ("--network", "host")):
        r = build(session_root, ctx, "-q", "--no-cache", *flags)
        assert r.returncode == 0, r.stderr
        nics, ns = run_in(session_root, r.stdout.decode().strip(), "cat", "/nics", "/netns").splitlines()
        seen[flags[1] if flags else "default"] = (nics.split(), ns == host_ns)
    assert seen == {"default": (["eth0", "lo"], False), "bridge": (["eth0", "lo"], False),
                    "none": (["lo"], False), "host": (seen["host"][0], True)}


def test_image_build_with_tags_summary_and_history(session_root, engine, ctx):
    """`image build` is build; every -t names the one image; the plain progress ends with
    BuildKit's summary (the image id, each name); `image history` shows each step."""
    a, b = f"bt-{uuid.uuid4().hex[:8]}", f"bt-{uuid.uuid4().hex[:8]}:v2"
    write(ctx, {"f": "f\n", "Dockerfile": f"FROM {BASE}\nCOPY f /f\nRUN cp /f /g\nLABEL k=v\n"})
    r = cli(session_root, "image", "build", "-t", a, "-t", b, "--progress", "plain", str(ctx), timeout=180)
    assert r.returncode == 0, r.stderr
    iid = image_of(session_root, a)["Id"]
    assert image_of(session_root, b)["Id"] == iid
    lines = r.stderr.decode().splitlines()
    tail = [ln.split(" ", 1)[1] for ln in lines[next(i for i, ln in enumerate(lines)
                                                      if ln.endswith(" exporting to image")):] if ln]
    assert tail[:4] == ["exporting to image", f"writing image {iid} done", f"naming to {a}:latest done",
                        f"naming to {b} done"] and len(tail) == 5 and tail[4].startswith("DONE ")
    h = cli(session_root, "image", "history", a)
    assert h.returncode == 0, h.stderr
    rows = h.stdout.decode().splitlines()
    assert [(by in rows[i]) for i, by in enumerate(["CREATED BY", "LABEL k=v", "RUN /bin/sh -c cp /f /g # buildkit",
                                                    "COPY f /f # buildkit"])] == [True] * 4, rows


def test_source_date_epoch_from_the_environment_clamps_history_too(session_root, engine, ctx):
    """SOURCE_DATE_EPOCH in the environment (as buildx reads it) is --source-date-epoch: two
    --no-cache builds give one id; the image's and each new history entry's dates are the epoch."""
    from conftest import DUNNAGE
    write(ctx, {"f": "f\n", "Dockerfile": f"FROM {BASE}\nCOPY f /f\nRUN touch /t\nENV X=1\n"})
    ids = []
    for _ in range(2):
        r = subprocess.run([DUNNAGE, "--root", str(session_root), "build", "--no-cache", "-q", str(ctx)],
                           capture_output=True, timeout=180, env=dict(os.environ, SOURCE_DATE_EPOCH="1600000000"))
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.decode().strip())
    assert ids[0] == ids[1]
    info = image_of(session_root, ids[0])
    base_history = len(image_of(session_root, BASE)["History"])
    assert info["Created"].startswith("2020-09-13T12:26:40")
    assert {h["created"] for h in info["History"][base_history:]} == {"2020-09-13T12:26:40Z"}
    r = cli(session_root, "run", "--rm", ids[0], "stat", "-c", "%Y", "/t", "/f")
    assert r.stdout.decode().split() == ["1600000000", "1600000000"]
    r = subprocess.run([DUNNAGE, "--root", str(session_root), "build", "-q", str(ctx)], capture_output=True,
                       timeout=180, env=dict(os.environ, SOURCE_DATE_EPOCH="soon"))
    assert r.returncode == 125 and r.stderr.decode().strip() == "dunnage: Error: invalid SOURCE_DATE_EPOCH: soon"


def test_dockerfile_elsewhere_with_its_own_dockerignore(session_root, engine, ctx, tmp_path):
    """-f FILE outside the context, with FILE.dockerignore beside it: that file's patterns,
    not the context's .dockerignore, decide what the context holds (docker's rule)."""
    tag = f"bd-{uuid.uuid4().hex[:8]}"
    write(ctx, {"app.txt": "a\n", "secret.key": "k\n", "notes.md": "n\n", ".dockerignore": "*.md\n"})
    df = tmp_path / "files" / "app.Dockerfile"
    df.parent.mkdir()
    df.write_text(f"FROM {BASE}\nCOPY . /ctx/\n")
    (tmp_path / "files" / "app.Dockerfile.dockerignore").write_text("*.key\n")
    r = build(session_root, ctx, "-t", tag, "-f", str(df))
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, tag, "ls", "-A", "/ctx").split() == [".dockerignore", "app.txt", "notes.md"]


def test_copy_exclude_add_unpack_and_checksum(session_root, engine, ctx, tmp_path):
    """COPY/ADD --exclude: .dockerignore's patterns over the paths below each source (fsutil's
    copy: never the source itself, ! exceptions keep what they name and its directories); ADD
    --unpack=false keeps a local archive, --unpack=true unpacks a fetched one; ADD --checksum
    checks what it fetched."""
    import hashlib
    import http.server
    import threading
    from functools import partial
    served = tmp_path / "www"
    served.mkdir()
    (served / "plain.txt").write_text("fetched\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("pkg/one")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"1"))
    (served / "arch.tgz").write_bytes(buf.getvalue())
    write(ctx, {"dir1/a.png": "a", "dir1/b.txt": "b", "dir2/c.txt": "c", "dir2/sub/d.png": "d", "keep/x.png": "x",
                "keep/y.md": "y", "top.txt": "t", "local.tgz": buf.getvalue()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler,
                                                                       directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    good = "sha256:" + hashlib.sha256(b"fetched\n").hexdigest()
    tag = f"bx-{uuid.uuid4().hex[:8]}"
    try:
        (ctx / "Dockerfile").write_text(f"""FROM {BASE}
COPY --exclude=**/*.png --exclude=keep/*.md --exclude=Dockerfile . /all/
COPY --exclude=*.txt dir* /dirs/
COPY --exclude=* --exclude=!sub/d.png dir2 /exc/
COPY --exclude=*.txt top.txt /single/
ADD --unpack=false local.tgz /kept/
ADD --unpack=true {url}/arch.tgz /remote-unpacked/
ADD --checksum={good} {url}/plain.txt /sum.txt
""")
        r = build(session_root, ctx, "-t", tag)
        assert r.returncode == 0, r.stderr
        out = run_in(session_root, tag, "sh", "-c", "cd / && find all dirs exc single kept remote-unpacked | sort; "
                                                     "cat sum.txt")
        assert out.split() == ["all", "all/dir1", "all/dir1/b.txt", "all/dir2", "all/dir2/c.txt", "all/dir2/sub",
                               "all/keep", "all/local.tgz", "all/top.txt", "dirs", "dirs/a.png", "dirs/sub",
                               "dirs/sub/d.png", "exc", "exc/sub", "exc/sub/d.png", "kept", "kept/local.tgz",
                               "remote-unpacked", "remote-unpacked/pkg", "remote-unpacked/pkg/one", "single",
                               "single/top.txt", "fetched"]
        for bad, msg in ((f"ADD --checksum=sha256:{'0' * 64} {url}/plain.txt /x", f"digest mismatch sha256:{'0' * 64}"),
                         (f"ADD --checksum={good} top.txt /x", "checksum requires HTTP(S) or Git sources"),
                         (f"ADD --checksum={good} {url}/plain.txt {url}/arch.tgz /x/",
                          "checksum can't be specified for multiple sources")):
            (ctx / "Dockerfile").write_text(f"FROM {BASE}\n{bad}\n")
            r = build(session_root, ctx)
            assert r.returncode == 1 and msg.encode() in r.stderr, (bad, r.stderr)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_what_dunnage_build_does_not_do_is_refused_with_one_line(session_root, engine, ctx):
    """Flags BuildKit reads that change the result are refused rather than ignored: RUN's
    entitlements (network.host unless the build's --network host grants it, security.insecure,
    device), ADD of a Git repository, a cache mount's from=."""
    for line, msg in (("RUN --network=host true", "Dockerfile:2: granting entitlement network.host is not allowed"),
                      ("RUN --security=insecure true", "granting entitlement security.insecure is not allowed"),
                      ("RUN --device=vendor.com/gpu=0 true", "granting entitlement device is not allowed"),
                      ("ADD https://127.0.0.1:9/repo.git#main /src", "ADD of a Git repository is not supported"),
                      ("ADD git@127.0.0.1:repo /src", "ADD of a Git repository is not supported"),
                      (f"RUN --mount=type=cache,from={BASE},target=/c true", "type=cache,from= is not supported")):
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\n{line}\n")
        r = build(session_root, ctx)
        err = r.stderr.decode()
        assert r.returncode == 1 and msg in err and "Traceback" not in err, (line, err)
        assert err.strip().splitlines()[-1].startswith("dunnage: Error: "), (line, err)
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN --network=host readlink /proc/self/ns/net > /ns\n")
    r = build(session_root, ctx, "-q", "--network", "host")
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, r.stdout.decode().strip(), "cat", "/ns").strip() == os.readlink("/proc/self/ns/net")


def test_copy_parents_as_the_reference_shows_it(session_root, engine, ctx):
    """COPY --parents, the reference's three examples: the sources' paths kept under DEST,
    only what follows a /./ pivot, and ** over any depth; the directories on the way keep
    their modes."""
    tag = f"bp-{uuid.uuid4().hex[:8]}"
    write(ctx, {"x/a.txt": "xa", "y/a.txt": "ya", "x/y/a.txt": "xya", "x/y/b.txt": "xyb", "x/y/c.md": "no",
                "src/a.txt": "1", "src/x/b.txt": "2", "src/x/y/c.txt": "3", "src/x/y/d.md": "no",
                "Dockerfile": f"""FROM {BASE}
COPY ./x/a.txt ./y/a.txt /no_parents/
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --parents ./x/./y/*.txt /pivot/
COPY --parents ./src/**/*.txt /deep/
"""})
    os.chmod(ctx / "x", 0o750)
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "sh", "-c", "cd / && find no_parents parents pivot deep -type f | sort | "
                                                 "while read f; do echo $f $(cat $f); done; stat -c '%n %a' parents/x")
    assert out.splitlines() == ["deep/src/a.txt 1", "deep/src/x/b.txt 2", "deep/src/x/y/c.txt 3",
                                "no_parents/a.txt ya", "parents/x/a.txt xa", "parents/y/a.txt ya",
                                "pivot/y/a.txt xya", "pivot/y/b.txt xyb", "parents/x 750"]


def test_builder_prune_without_all_keeps_what_images_use(session_root, engine, ctx):
    """`builder prune` (no -a) drops the records whose layer no image uses (a stage's that only
    the cache holds) and keeps the others: the rebuild runs that stage again, the rest is CACHED."""
    tag, mark = f"bq-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    write(ctx, {"f": uuid.uuid4().hex, "Dockerfile": f"FROM {BASE} AS first\nRUN echo {mark} > /only-cached\n"
                                                      f"FROM {BASE}\nCOPY f /f\nCOPY --from=first /only-cached /\n"})
    assert build(session_root, ctx, "-t", tag).returncode == 0
    r = cli(session_root, "builder", "prune", "-f")
    assert r.returncode == 0 and r.stdout.startswith(b"Total:") and not r.stdout.startswith(b"Total:\t0B"), r.stdout
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    assert [s for s in steps(r.stderr) if "] FROM " not in s] == [
        f"[first 2/2] RUN echo {mark} > /only-cached => DONE", "[stage-1 2/3] COPY f /f => CACHED",
        "[stage-1 3/3] COPY --from=first /only-cached / => CACHED"]


def test_run_has_dockers_default_isolation(session_root, engine, ctx):
    """A RUN is a container with docker's (and BuildKit's) default isolation: the default
    capability set, bounded by it, the default seccomp filter, and none for a USER not root."""
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status > /root-iso\n"
                              "USER nobody\nRUN grep -E '^(CapEff|Seccomp):' /proc/self/status > /tmp/user-iso\n"})
    r = build(session_root, ctx, "-q", "--no-cache")
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, r.stdout.decode().strip(), "cat", "/root-iso", "/tmp/user-iso")
    assert [ln.split() for ln in out.splitlines()] == [
        ["CapEff:", "00000000a80425fb"], ["CapBnd:", "00000000a80425fb"], ["Seccomp:", "2"],
        ["CapEff:", "0000000000000000"], ["Seccomp:", "2"]]


def test_proxy_args_are_predefined(session_root, engine, ctx):
    """The predefined proxy ARGs, as BuildKit has them: a RUN sees each in both cases without
    an ARG, the image's Env and history do not keep them, they are no unused build-arg, and
    another value runs nothing again (they are in no cache key)."""
    mark = uuid.uuid4().hex
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN echo {mark} && env | grep -i _proxy= | sort > /proxies\n"})
    r = build(session_root, ctx, "-q", "--build-arg", "HTTP_PROXY=http://127.0.0.1:9", "--build-arg", "no_proxy=x")
    assert r.returncode == 0 and b"not consumed" not in r.stderr, r.stderr
    iid = r.stdout.decode().strip()
    assert run_in(session_root, iid, "cat", "/proxies").split() == [
        "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=x", "http_proxy=http://127.0.0.1:9", "no_proxy=x"]
    info = image_of(session_root, iid)
    assert not [e for e in info["Config"]["Env"] if "proxy" in e.lower()]
    assert not [h for h in info["History"] if "127.0.0.1" in h.get("created_by", "") or "RUN |" in h["created_by"]]
    r = build(session_root, ctx, "-q", "--build-arg", "HTTPS_PROXY=http://127.0.0.1:8")
    assert r.returncode == 0 and r.stdout.decode().strip() == iid, r.stderr


def test_copy_chmod_symbolic(session_root, engine, ctx):
    """COPY --chmod in chmod(1)'s symbolic notation (dockerfile 1.14), applied to each entry's
    own mode as BuildKit's copy does (BSD setmode: X only after +); a bad one names itself."""
    tag = f"bm-{uuid.uuid4().hex[:8]}"
    write(ctx, {"run.sh": "#!/bin/sh\n", "conf": "c\n", "tree/bin/tool": "t\n", "tree/doc": "d\n",
                "Dockerfile": f"""FROM {BASE}
COPY --chmod=+x run.sh /run.sh
COPY --chmod=g=u,o= conf /conf
COPY --chmod=u=rw,u+X,go=r,go+X tree /tree/
"""})
    os.chmod(ctx / "conf", 0o640)
    os.chmod(ctx / "tree/bin/tool", 0o700)
    os.chmod(ctx / "tree/doc", 0o600)
    os.chmod(ctx / "tree/bin", 0o700)
    r = build(session_root, ctx, "-t", tag)
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "stat", "-c", "%n %a", "/run.sh", "/conf", "/tree/bin", "/tree/bin/tool",
                 "/tree/doc")
    assert out.splitlines() == ["/run.sh 755", "/conf 660", "/tree/bin 755", "/tree/bin/tool 755", "/tree/doc 644"]
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY --chmod=q+r conf /c\n")
    r = build(session_root, ctx)
    assert r.returncode == 1 and b"invalid chmod parameter: q+r" in r.stderr, r.stderr


def test_secret_mounts_as_buildkit_makes_them(session_root, engine, ctx, tmp_path):
    """RUN --mount=type=secret: the file is 0400 root unless uid, gid, mode say (BuildKit's
    secret file options), source= names the secret as id= does, and env= gives it as a
    variable of the RUN alone (no file unless a target is named), in neither the image nor
    its history."""
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    os.chmod(secret, 0o644)
    tag = f"bs-{uuid.uuid4().hex[:8]}"
    write(ctx, {"Dockerfile": f"""FROM {BASE}
RUN --mount=type=secret,id=tok stat -c '%a %u' /run/secrets/tok > /default
RUN --mount=type=secret,source=tok,target=/s,uid=65534,mode=0440 stat -c '%a %u' /s > /opts
RUN --mount=type=secret,id=tok,env=TOKEN echo "$TOKEN" > /env && (ls /run/secrets 2>/dev/null || echo nofile) >> /env
RUN --mount=type=secret,id=tok,env=TOKEN,target=/both echo "$(cat /both)" >> /env
USER nobody
RUN --mount=type=secret,id=tok (cat /run/secrets/tok 2>/dev/null || echo denied) > /tmp/as-nobody
"""})
    r = build(session_root, ctx, "-t", tag, "--secret", f"id=tok,src={secret}")
    assert r.returncode == 0, r.stderr
    out = run_in(session_root, tag, "cat", "/default", "/opts", "/env", "/tmp/as-nobody")
    assert out.splitlines() == ["400 0", "440 65534", "s3cr3t", "nofile", "s3cr3t", "denied"]
    info = image_of(session_root, tag)
    assert "s3cr3t" not in json.dumps(info["Config"]) and "s3cr3t" not in json.dumps(info["History"])


def test_secret_from_a_variable(session_root, engine, ctx):
    """--secret id=ID,env=VAR (and id=ID alone where the variable ID is set, as buildx reads
    it): the variable's value is the secret; the build leaves no copy of it in the store."""
    from conftest import DUNNAGE
    write(ctx, {"Dockerfile": f"FROM {BASE}\nRUN --mount=type=secret,id=tok,required=true "
                              "--mount=type=secret,id=OTHER,required=true "
                              "echo $(cat /run/secrets/tok) $(cat /run/secrets/OTHER) > /got\n"})
    r = subprocess.run([DUNNAGE, "--root", str(session_root), "build", "-q", "--no-cache",
                        "--secret", "id=tok,env=MYTOK", "--secret", "id=OTHER", str(ctx)],
                       capture_output=True, timeout=180, env=dict(os.environ, MYTOK="from-env", OTHER="by-id"))
    assert r.returncode == 0, r.stderr
    assert run_in(session_root, r.stdout.decode().strip(), "cat", "/got") == "from-env by-id\n"
    assert not list((session_root / "tmp").glob("build-secrets-*"))
    r = subprocess.run([DUNNAGE, "--root", str(session_root), "build", "--secret", "id=tok,env=UNSET_VAR_X", str(ctx)],
                       capture_output=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "UNSET_VAR_X"})
    assert r.returncode == 125 and b"UNSET_VAR_X: no such variable" in r.stderr, r.stderr
