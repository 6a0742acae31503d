"""dunnage build against its peers (issue 20): the same Dockerfiles, FROM the demo image
(saved by dunnage and loaded into each peer, offline), built by `dunnage build`, by
`podman build` (tests/peers.py Podman) and by BuildKit (`DOCKER_BUILDKIT=1 docker build`
on a dockerd of the test's own).  Each image is saved and its layers flattened; the files
(type, mode, owner, content, link target) and the config (Env, Cmd, Entrypoint,
WorkingDir, User, ExposedPorts, Volumes, Labels, Healthcheck, StopSignal, Shell) are
compared entry by entry.  Where the peers agree dunnage must agree with them; where they
differ from each other, dunnage must take one of their answers, and BuildKit's (the
reference) unless BUILDKIT_0_8 names why this old BuildKit's answer is not today's.  An image built here and
saved runs the same under `podman load`."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import cli
from peers import Dockerd, Podman

BASE = "local/busybox:latest"
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                 "Healthcheck", "StopSignal", "Shell", "OnBuild")
PEER_LABELS = ("io.buildah.version",)  # buildah stamps its own version on every image


# ------------------------------------------------------------------ images as comparable views
def _entry_name(name: str) -> str:
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return "" if name == "." else name.rstrip("/")


def flatten(layers: list[bytes]) -> dict[str, tuple]:
    """The filesystem the layers make, applied in order with their whiteouts: each path to
    (type, mode, uid, gid, content digest or link target); hard links become the file
    they share (one builder may write a second copy where another writes a link)."""
    tree: dict[str, tuple] = {}

    def drop(path: str, children_only: bool = False) -> None:
        for p in [p for p in tree if p.startswith(path + "/") or (not children_only and p == path)]:
            del tree[p]

    for blob in layers:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tf:
            for m in tf:
                path = _entry_name(m.name)
                if not path:
                    continue
                head, _, base = path.rpartition("/")
                if base == ".wh..wh..opq":
                    drop(head, children_only=True)
                    continue
                if base.startswith(".wh."):
                    drop((head + "/" if head else "") + base[4:])
                    continue
                if m.islnk():
                    tree[path] = tree[_entry_name(m.linkname)]
                    continue
                if not m.isdir():
                    drop(path, children_only=True)
                if m.isfile():
                    what = ("file", hashlib.sha256(tf.extractfile(m).read()).hexdigest()[:16])
                elif m.issym():
                    what = ("symlink", m.linkname)
                elif m.isdir():
                    what = ("dir", None)
                else:
                    what = ("special", m.type.decode(), m.devmajor, m.devminor)
                tree[path] = (*what, oct(m.mode & 0o7777), m.uid, m.gid)
    return tree


def view(archive: Path) -> dict:
    """A docker-archive (save's output) as {"config": {...}, "files": {...}}."""
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config = json.load(outer.extractfile(manifest["Config"]))
        layers = [outer.extractfile(name).read() for name in manifest["Layers"]]
    c = config.get("config") or {}
    cfg = {k: (c.get(k) or None) for k in CONFIG_FIELDS}
    if cfg["Labels"]:
        cfg["Labels"] = {k: v for k, v in cfg["Labels"].items() if k not in PEER_LABELS} or None
    return {"config": cfg, "files": flatten(layers)}


def differences(ours: dict, peers: dict[str, dict]) -> dict[str, tuple]:
    """Every entry ("config:Field" or "files:path") where dunnage's value is not every
    peer's: (dunnage's value, {peer: its value})."""
    out = {}
    for part in ("config", "files"):
        for k in sorted(set(ours[part]).union(*(p[part] for p in peers.values()))):
            mine = ours[part].get(k, "<absent>")
            theirs = {n: p[part].get(k, "<absent>") for n, p in peers.items()}
            if any(v != mine for v in theirs.values()):
                out[f"{part}:{k}"] = (mine, theirs)
    return out


def shown(diffs: dict) -> str:
    return "\n".join(f"{k}: dunnage={mine!r} " + " ".join(f"{n}={v!r}" for n, v in theirs.items())
                     for k, (mine, theirs) in diffs.items())


# ------------------------------------------------------------------ the three builders
class Builders:
    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.dockerd = self.podman = None
        self.tags: list[str] = []

    def start(self) -> None:
        tar = self.work / "busybox.tar"
        r = cli(self.root, "save", "-o", str(tar), BASE, timeout=120)
        assert r.returncode == 0, r.stderr
        self.dockerd = Dockerd()
        self.dockerd.ok("load", "-i", str(tar), timeout=120)
        self.podman = Podman()
        r = self.podman("load", "-i", str(tar))
        assert r.returncode == 0, r.stderr

    def close(self) -> None:
        for t in self.tags:
            cli(self.root, "rmi", "-f", t, timeout=60)
        for peer in (self.dockerd, self.podman):
            if peer is not None:
                peer.close()

    def build(self, who: str, ctx: Path, *flags: str, tag: str = "") -> Path:
        """Builds CTX with WHO (as TAG), saves the image; the archive's path."""
        tag = tag or f"peers-{who}-{uuid.uuid4().hex[:8]}"
        out = self.work / f"{who}-{uuid.uuid4().hex[:8]}.tar"
        common = ["--network", "none", "-t", tag, *flags, str(ctx)]
        if who == "dunnage":
            self.tags.append(tag)
            r = cli(self.root, "build", "--progress", "plain", *common, timeout=300)
            assert r.returncode == 0, r.stderr.decode()
            r = cli(self.root, "save", "-o", str(out), tag, timeout=120)
        elif who == "buildkit":
            r = subprocess.run([Dockerd.DOCKER, "-H", f"unix://{self.dockerd.sock}", "build", "--progress", "plain",
                                *common], capture_output=True, timeout=300,
                               env={**os.environ, "DOCKER_BUILDKIT": "1"})
            assert r.returncode == 0, r.stderr.decode()
            r = self.dockerd("save", "-o", str(out), tag, timeout=120)
        else:
            r = self.podman("build", *Podman.RUN[2:], "--format", "docker", "--pull=never", *common, timeout=300)
            assert r.returncode == 0, r.stderr.decode()
            r = self.podman("save", "--format", "docker-archive", "-o", str(out), tag)
        assert r.returncode == 0, r.stderr.decode()
        return out


@pytest.fixture(scope="module")
def builders(session_root, tmp_path_factory):
    b = Builders(session_root, tmp_path_factory.mktemp("build-peers"))
    try:
        b.start()
        yield b
    finally:
        b.close()


def write(ctx: Path, files: dict) -> None:
    def late(kv) -> int:  # links after what they name, directories' modes after their contents
        return {"hardlink": 1, "dir": 2}.get(kv[1][0], 0) if isinstance(kv[1], tuple) else 0

    for name, content in sorted(files.items(), key=late):
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple) and content[0] == "dir":
            p.mkdir(exist_ok=True)
            os.chmod(p, content[1])
            continue
        if isinstance(content, tuple) and content[0] == "symlink":
            os.symlink(content[1], p)
            continue
        if isinstance(content, tuple) and content[0] == "gzip":
            import gzip
            content = (gzip.compress(content[1], mtime=0), 0o644)
        if isinstance(content, tuple) and content[0] == "raw":
            content = (content[1], 0o644)
        if isinstance(content, tuple) and content[0] in ("bz2", "xz"):
            content = (_compressed(content[0], tarball(content[1])), 0o644)
        if isinstance(content, tuple) and content[0] == "hardlink":
            os.link(ctx / content[1], p)
            continue
        mode = 0o644
        if isinstance(content, tuple):
            content, mode = content
        p.write_text(content) if isinstance(content, str) else p.write_bytes(content)
        os.chmod(p, mode)


def _compressed(kind: str, data: bytes) -> bytes:
    import bz2
    import lzma
    return bz2.compress(data) if kind == "bz2" else lzma.compress(data)


def _tar_with_links() -> bytes:
    """A tar with a hard link, a symlink out of it, a directory only implied, and an
    entry for the directory after its contents."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, extra, mode in (("implied/deep/f", tarfile.REGTYPE, b"data", 0o640),
                                        ("implied/deep/hard", tarfile.LNKTYPE, "implied/deep/f", 0o640),
                                        ("implied/abs", tarfile.SYMTYPE, "/etc/passwd", 0o777),
                                        ("implied", tarfile.DIRTYPE, None, 0o700)):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = kind, mode, 1_600_000_000
            if kind == tarfile.REGTYPE:
                ti.size = len(extra)
                tf.addfile(ti, io.BytesIO(extra))
            else:
                ti.linkname = extra or ""
                tf.addfile(ti)
    return buf.getvalue()


def tarball(entries: list[tuple], gz: bool = False) -> bytes:
    """A tar of (name, data | None for a directory | ("->", target) for a symlink, mode, uid)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data, mode, uid in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, uid, 1_600_000_000
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif isinstance(data, tuple):
                ti.type, ti.linkname = tarfile.SYMTYPE, data[1]
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


# ------------------------------------------------------------------ the Dockerfiles
CASES = {
    "multistage_config": ({}, ("--build-arg", "VERSION=2.5"), """\
ARG BASE=local/busybox:latest
ARG VERSION=1.0
FROM ${BASE} AS builder
ARG VERSION
ARG UNSET
ENV APP=demo
ENV DIR=/opt/${APP} ALT=${UNSET:-fallback} PLUS=${APP:+set} NONE=${UNSET:+x} SAME=$APP-v${VERSION} APP=changed \\
    SEEN=$APP
WORKDIR $DIR
RUN echo "$VERSION $APP $SEEN" > version.txt && mkdir -p out/deep && cp version.txt out/ \\
    && ln -s version.txt link && chmod 600 out/version.txt && chown 12:34 out/deep
RUN rm -f /opt/demo/link && echo gone > /etc/removed-later
RUN rm /etc/removed-later

FROM ${BASE}
ARG VERSION
ARG EMPTY
LABEL version=$VERSION "multi word"="a b" empty=${EMPTY:-none}
LABEL org.example.escaped="quote \\" and \\$dollar"
COPY --from=builder /opt/demo /app
COPY --from=builder /opt/demo/out/version.txt /app/copied/
COPY --from=0 /opt/demo/out /app/out-again
COPY --from=local/busybox:latest /bin/busybox /app/bb
WORKDIR /app
WORKDIR sub
ENV PATH=/app/bin:$PATH
USER nobody:nogroup
WORKDIR /home/app
RUN id > /tmp/who && pwd >> /tmp/who
EXPOSE 8080 53/udp 9000/tcp
VOLUME ["/data", "/cache"]
VOLUME /more
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD wget -q -O- http://127.0.0.1:8080/ || exit 1
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo $APP
ONBUILD RUN echo child
"""),
    "copy_semantics": ({
        "a.txt": "a\n", "b.txt": "b\n", "c.md": "c\n", "exec.sh": ("#!/bin/sh\necho x\n", 0o755),
        "private": ("p\n", 0o600), "dir/x": "x\n", "dir/sub/y": ("y\n", 0o640), "dir/.hidden": "h\n",
        "link": ("symlink", "a.txt"), "dir/rel": ("symlink", "sub/y"), "dir/dangling": ("symlink", "/nowhere"),
        "arch.tar": tarball([("pkg", None, 0o750, 0), ("pkg/one", b"1", 0o600, 7), ("pkg/ln", ("->", "one"), 0o777, 0),
                             ("pkg/sub", None, 0o700, 9), ("pkg/sub/two", b"22", 0o4755, 0)]),
        "arch.tar.gz": tarball([("gz/file", b"gz", 0o644, 0)], gz=True),
        "mode700/f": "f\n", "mode700": ("dir", 0o700), "mode700/in": ("dir", 0o750),
    }, (), """\
FROM local/busybox:latest
COPY a.txt /dst/renamed
COPY a.txt b.txt /multi/
COPY *.txt /glob/
COPY [ab].txt c.* /globs/
COPY dir /contents/
COPY dir /nested/dir/
COPY dir/ /slash
COPY exec.sh private /perms/
COPY link /links/
COPY dir/rel /rel-top
COPY --chown=nobody:nogroup dir /owned/
COPY --chown=1234:5678 a.txt /numeric
COPY --chown=nobody b.txt /user-only
COPY --chmod=0600 a.txt /chmod-file
COPY --chmod=750 dir /chmod-dir/
ADD arch.tar /unpacked/
ADD arch.tar.gz /unpacked-gz
ADD a.txt /added/
ADD --chmod=640 b.txt /added-chmod
ADD --chown=nobody:nogroup arch.tar /unpacked-owned/
COPY arch.tar /kept/
COPY d?r/sub /qmark/
WORKDIR /work
COPY a.txt .
COPY b.txt rel/
COPY mode700 /fresh700/
RUN mkdir -m 711 /exists && chown 5:5 /exists
COPY mode700 /exists/
COPY --chmod=750 mode700 /chmod700/
COPY --chown=nobody:nogroup mode700 /chown700
COPY --chmod=700 mode700/f /exists/f2
"""),
    "run_changes": ({}, ("--label", "from.flag=yes"), """\
FROM local/busybox:latest
RUN rm -f /bin/vi && mkdir -p /var/spool/x/deep && echo a > /var/spool/x/f && echo d > /var/spool/x/deep/d
RUN rm -rf /var/spool/x && mkdir /var/spool/x && echo b > /var/spool/x/g
RUN ln /bin/busybox /hardlink && ln -s /nowhere /dangling && mkfifo /fifo && chmod 4755 /hardlink \\
    && touch /etc/passwd && chmod 600 /etc/group
RUN mkdir -m 1777 /sticky && umask 077 && echo s > /sticky/private && mkdir /sticky/d
ENV OLD value with spaces
ENV A="quoted value" B=unquoted\\ escaped C='single $quote' D=${OLD}
EXPOSE 7000-7002/tcp 80
USER 1000
HEALTHCHECK CMD ["/bin/true"]
ENTRYPOINT echo shell form entry $A
STOPSIGNAL 9
LABEL a=1 \\
      b=2
LABEL a=3
"""),
    "run_replaces_types": ({}, (), """\
FROM local/busybox:latest
RUN rm -rf /var && echo file > /var
RUN rm /linuxrc && ln -s /bin/sh /linuxrc
RUN rm -rf /home && ln -s /tmp /home
RUN echo data > /tmp/f && ln /tmp/f /tmp/g && rm /tmp/f && echo gone > /tmp/h && rm /tmp/h
RUN mkdir -p /a/b/c && touch /a/b/c/f
RUN rm -rf /a/b && mkdir /a/b && touch /a/b/new
RUN touch /bin && chmod 700 /root && chown 5:5 /tmp && chmod 1777 /tmp
RUN rm -rf /var && mkdir -m 700 /var
"""),
    "config_forms": ({"a.txt": "a\n", "b.txt": "b\n"}, (), """\
FROM local/busybox:latest AS stage
RUN mkdir -p /out && echo 1 > /out/one.txt && echo 2 > /out/two.txt && echo 3 > /out/three.log
FROM local/busybox:latest
ENV MULTI="a b" ESC=\\$NOTVAR PORT=8080
LABEL "with space"="x=y" spaced="a  b" unicode="é ✓" empty=""
EXPOSE $PORT 80/UDP 443/tcp
CMD [not json
STOPSIGNAL sigkill
USER root:root
HEALTHCHECK --interval=30s --timeout=10s CMD ["/bin/check", "--json", "é"]
COPY --from=stage /out/*.txt /got/
COPY --from=stage /out/t* /got-t/
COPY *.txt /top-glob/
ENTRYPOINT ["/bin/echo", "\\u00e9", "tab\\there"]
"""),
    "from_stage_links": ({}, (), """\
FROM local/busybox:latest AS stage
RUN mkdir -p /real/d && echo f > /real/d/f && ln -s /real/d /abslink && ln -s d /real/rel && ln /real/d/f /real/d/hard \\
    && ln -s f /real/d/ln && chown -R 7:8 /real && chmod 4711 /real/d/f
FROM local/busybox:latest
COPY --from=stage /abslink/f /through-abs
COPY --from=stage /real/rel /through-rel/
COPY --from=stage /abslink /abslink-copied
COPY --from=stage /real /real-copy
COPY --from=stage --chown=1:2 /real /real-owned
COPY --from=stage /real/d/ln /ln-top
"""),
    "add_archives": ({
        "noext": tarball([("n/one", b"1", 0o644, 0)]),
        "plain.gz": ("gzip", b"not a tar, only gzip\n"),
        "links.tar": ("raw", _tar_with_links()),
    }, (), """\
FROM local/busybox:latest
ADD noext /by-content/
ADD plain.gz /gz-kept/
ADD links.tar /links/
ADD links.tar /etc/
"""),
    "scratch_and_paths": ({"a.txt": "a\n", "d/f": "f\n"}, (), """\
FROM local/busybox:latest AS tools
RUN mkdir -p /rootfs/bin && cp /bin/busybox /rootfs/bin/ && ln -s busybox /rootfs/bin/sh
FROM scratch
COPY --from=tools /rootfs /
COPY a.txt d /
ENV PATH=/bin PATH=$PATH:/extra
ENV PATH=$PATH:/more
WORKDIR work
WORKDIR ../other/./x/
USER 1234:5678
RUN ["/bin/sh", "-c", "pwd > /tmp-pwd 2>&1 || true"]
"""),
    "onto_existing": ({"a.txt": ("a\n", 0o600), "group": "g:x:1:\n", "d/f": "f\n", "d/etc-not": "t\n"}, (), """\
FROM local/busybox:latest
RUN mkdir -m 700 /existing && echo old > /existing/f && chown -R 3:3 /existing && ln -s /existing /ex-link
COPY a.txt /tmp
COPY group /etc/group
COPY d /existing
COPY d/f /ex-link
COPY a.txt /existing/sub/deeper/
COPY d /
"""),
    "healthcheck_none_and_cmd_kept": ({}, (), """\
FROM local/busybox:latest AS first
HEALTHCHECK --interval=1m CMD echo hi
FROM first
HEALTHCHECK NONE
USER nobody:65534
WORKDIR relative/then
CMD ["sh", "-c", "exit 0"]
ENTRYPOINT []
"""),
    "args_and_paths": ({
        "a.txt": "a\n", "sp ace.txt": "space\n", "unicodé.txt": "u\n", "emptydir": ("dir", 0o711),
        "hard1": ("h\n", 0o640), "hard2": ("hardlink", "hard1"), "sub/hard3": ("hardlink", "hard1"),
        "long/" + "d" * 60 + "/" + "e" * 60 + "/" + "f" * 90 + ".txt": "long\n",
        "long/ln": ("symlink", "d" * 60 + "/" + "e" * 60 + "/" + "f" * 90 + ".txt"),
    }, ("--build-arg", "FROMCLI=cli", "--build-arg", "UNDECLARED=u", "--build-arg", "GLOBAL=g2"), """\
ARG GLOBAL=g1
ARG BASE_TAG=latest
FROM local/busybox:${BASE_TAG}
ARG GLOBAL
ARG LOCAL=${GLOBAL}-local
ARG FROMCLI
ARG TARGETPLATFORM
ARG TARGETARCH
ENV E1=$LOCAL E2=${FROMCLI:-nocli} PLATFORM=$TARGETPLATFORM ARCH=$TARGETARCH
ARG E1=argvalue
ENV E3=$E1
RUN echo "$GLOBAL $LOCAL $FROMCLI $E1 $UNDECLARED $BASE_TAG" > /args
RUN ["/bin/sh", "-c", "echo exec form $E1 > /exec"]
SHELL ["/bin/sh", "-xc"]
RUN echo with-x > /shell 2>/dev/null
WORKDIR /w/$E1
COPY ${SRC_FILE:-a.txt} ./
COPY ["sp ace.txt", "/quoted dest/"]
COPY --chown=:nogroup a.txt /group-only
COPY --chown=65534:root a.txt /uid-groupname
COPY --chown=nobody: a.txt /user-colon
COPY unicodé.txt emptydir /uni/
COPY emptydir /emptydir
COPY hard1 hard2 sub /hard/
COPY long /long/
USER 4242
WORKDIR /as-4242
VOLUME /vol/$E2
STOPSIGNAL ${SIG:-SIGQUIT}
LABEL "${LABEL_KEY:-k}"=v$E2
"""),
    "links_volumes_archives": ({
        "a.txt": "a\n",
        "arch.tar.bz2": ("bz2", [("bz/one", b"1", 0o640, 3)]), "arch.tar.xz": ("xz", [("xz/two", b"2", 0o600, 0)]),
    }, (), """\
FROM local/busybox:latest
RUN mkdir -p /real/dir /vol && ln -s /real/dir /linkdir && ln -s real /rel && ln -s /real/dir/new /dangling-dest
VOLUME /vol
RUN echo after > /vol/after-volume
COPY a.txt /linkdir/
COPY a.txt /rel/dir/through-rel
COPY a.txt /dangling-dest
WORKDIR /linkdir/wd
COPY a.txt .
ADD arch.tar.bz2 arch.tar.xz /unpacked/
COPY --from=local/busybox:latest /etc/passwd /etc/group /from-image/
COPY --from=local/busybox:latest /bin /bin-copy
"""),
    "dockerignore_patterns": ({
        "abs/f": "1", "sub/abs/f": "2", "a/x/y/b/f": "3", "a/b/f": "4", "a/c/f": "5", "deep/keepme.txt": "6",
        "deep/other.txt": "7", "x/temp1": "8", "x/y/temp2": "9", "temp1": "10", "tempXX": "11", "a.md": "12",
        "b.md": "13", "d.md": "14", "spaced": "15", "dir/sub/one.keep": "16", "dir/sub/two": "17", "dir/top": "18",
        "ext/a.txt": "19", "ext/b.bin": "20",
        ".dockerignore": "/abs\na/**/b\ndeep\n!**/keep*\n*/temp*\ntemp?\n[a-c].md\n   spaced   \n../outside\n"
                         "dir\n!dir/sub/*.keep\next/*\n!ext/*.txt\n",
    }, (), """\
FROM local/busybox:latest
COPY . /ctx/
"""),
    "dockerignore": ({
        "app.py": "app\n", "debug.log": "d\n", "important.log": "i\n", "build/out.o": "o\n", "build/keep/k": "k\n",
        "src/a.tmp": "t\n", "src/a.py": "a\n", "src/deep/b.tmp": "t\n", "src/deep/c.py": "c\n",
        "secret.txt": "s\n", "secrets/x": "x\n", "docs/readme": "r\n", "docs/skip.md": "m\n",
        ".dockerignore": "# comment\n*.log\n!important.log\nbuild/\n!build/keep/\n**/*.tmp\nsecret*\n"
                         "docs/*.md\n.dockerignore\nDockerfile\n",
    }, (), """\
FROM local/busybox:latest
COPY . /ctx/
COPY src /src-only/
"""),
    "escape_directive": ({"a.txt": "a\n"}, (), """\
# escape=`
FROM local/busybox:latest
ENV WIN=C:\\dir\\sub DOLLAR=`$HOME SPACED=a` b
RUN echo one `
# a comment inside the continuation
    two > /c && echo "back\\slash $WIN" > /b
COPY a.txt `
     /dst/
"""),
}


HEREDOC = """\
# syntax=docker/dockerfile:1
FROM local/busybox:latest
RUN <<EOF
echo one > /h1
echo two >> /h1
EOF
COPY <<EOF /etc/motd
hello ${HOME:-x}
EOF
COPY <<-EOT /tabbed
	indented
	EOT
RUN <<EOF sh -c 'cat > /h2'
data
EOF
RUN cat <<EOF > /h3
plain $PATH
EOF
"""


CASES["multistage_target"] = ({}, ("--build-arg", "VERSION=3", "--target", "builder"), CASES["multistage_config"][2])


def build_all(builders, tmp_path, name: str) -> dict[str, dict]:
    files, flags, dockerfile = CASES[name]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    write(ctx, {**files, "Dockerfile": dockerfile})
    return {who: view(builders.build(who, ctx, *flags)) for who in ("dunnage", "buildkit", "podman")}


# Where dunnage gives today's BuildKit's answer and this old one (BuildKit 0.8 in dockerd 20.10) does not:
# (case, entry) -> why.
WHO = ("`id` under USER u:g: BuildKit 0.8 sets no supplementary groups; runc through podman, and containerd's "
       "WithAdditionalGIDs since CVE-2023-25173's fix, list the primary group")
WILDCARD_EXCEPTION = ("fsutil's walk since 2022 goes into an excluded directory when any ! exception has a wildcard "
                      "(onlyPrefixExcludeExceptions), so !**/keep* brings back deep/keepme.txt; BuildKit 0.8's "
                      "and buildah's walks skip it")
MOUNT_STUBS = ("a RUN on an image without /etc: today's Dockerfile frontend sets removeMountStubsRecursive on every "
               "RUN, so the /etc made only for the /etc/hosts and /etc/resolv.conf mount points goes with them; "
               "BuildKit 0.8 removed the files and left the directory, as buildah does")
BUILDKIT_0_8 = {
    ("scratch_and_paths", "files:etc"): MOUNT_STUBS,
    ("multistage_config", "files:tmp/who"): WHO,
    ("dockerignore_patterns", "files:ctx/deep"): WILDCARD_EXCEPTION,
    ("dockerignore_patterns", "files:ctx/deep/keepme.txt"): WILDCARD_EXCEPTION,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_image_as_the_peers(builders, tmp_path, name):
    """The same as both where they agree, one of theirs where they do not, and BuildKit's
    (the reference) except where BUILDKIT_0_8 says why not."""
    views = build_all(builders, tmp_path, name)
    diffs = differences(views["dunnage"], {k: v for k, v in views.items() if k != "dunnage"})
    print("where a peer differs:\n" + shown(diffs))
    known = {k for case, k in BUILDKIT_0_8 if case == name}
    assert known <= {k for k, d in diffs.items() if d[1]["buildkit"] != d[0]}, "BUILDKIT_0_8 names a difference gone"
    both = {k: d for k, d in diffs.items() if all(v != d[0] for v in d[1].values()) and k not in known}
    assert not both, "dunnage differs from both peers:\n" + shown(both)
    not_buildkit = {k: d for k, d in diffs.items() if d[1]["buildkit"] != d[0] and k not in known}
    assert not not_buildkit, "dunnage differs from BuildKit:\n" + shown(not_buildkit)

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_heredocs_as_buildkit_reads_them(builders, tmp_path):
    """Neither peer here builds a heredoc: dockerd 20.10's built-in frontend predates them
    (the body's lines are read as instructions: unknown instruction ECHO) and `# syntax=`
    would fetch a newer one from a registry, and podman 4.3's buildah 1.28 reads them the
    same way.  So the files are checked against what BuildKit's frontend (dockerfile 1.4+,
    dispatchCopy and dispatchRun) makes: COPY's document expanded with the stage's
    variables, written 0644 root, <<- stripping leading tabs; RUN <<EOF alone runs the
    document as the script; any other RUN hands the whole text, documents and all, to the
    shell."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    write(ctx, {"Dockerfile": HEREDOC})
    v = view(builders.build("dunnage", ctx))
    path = next(e for e in v["config"]["Env"] if e.startswith("PATH="))[5:]
    expect = {"h1": "one\ntwo\n", "etc/motd": "hello x\n", "tabbed": "indented\n", "h2": "data\n",
              "h3": f"plain {path}\n"}
    got = {k: v["files"].get(k) for k in expect}
    assert got == {k: ("file", _sha(text), "0o644", 0, 0) for k, text in expect.items()}


def test_built_here_runs_the_same_under_podman_load(builders, session_root, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    write(ctx, {"Dockerfile": """\
FROM local/busybox:latest AS build
RUN mkdir -p /out/sub && echo built > /out/a && ln -s a /out/l && chown -R 12:34 /out && chmod 750 /out/sub
FROM local/busybox:latest
COPY --from=build /out /srv
ENV GREETING=hello
WORKDIR /srv
USER nobody
ENTRYPOINT ["/bin/sh", "-c", "echo \\"$GREETING $(id -u):$(id -g) $(pwd) $*\\"; ls -ln /srv | sed 1d; cat /srv/l", "ep"]
CMD ["arg1", "arg2"]
"""})
    archive = builders.build("dunnage", ctx)
    tag = builders.tags[-1]
    ours = cli(session_root, "run", "--rm", "--network", "none", tag, timeout=60)
    assert ours.returncode == 0, ours.stderr
    r = builders.podman("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    name = r.stdout.decode().split("Loaded image", 1)[1].split(":", 1)[1].strip().split()[0]
    theirs = builders.podman("run", "--rm", *Podman.RUN, name, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout.decode() == theirs.stdout.decode()
    lines = ours.stdout.decode().splitlines()
    assert lines[0] == "hello 65534:65534 /srv arg1 arg2" and lines[-1] == "built"
    assert [(f[0], f[2], f[3], f[-1]) for f in map(str.split, lines[1:-1])] == [
        ("-rw-r--r--", "12", "34", "a"), ("lrwxrwxrwx", "12", "34", "a"), ("drwxr-x---", "12", "34", "sub")]


def test_onbuild_triggers_as_the_peers(builders, tmp_path):
    """ONBUILD: the parent keeps the triggers in its config; a child FROM it runs them
    first, with the child's context, and does not pass them on."""
    parent, child = tmp_path / "parent", tmp_path / "child"
    parent.mkdir()
    child.mkdir()
    write(parent, {"Dockerfile": """\
FROM local/busybox:latest
ONBUILD ARG FLAVOUR=plain
ONBUILD ENV FROM_TRIGGER=$FLAVOUR
ONBUILD COPY conf/ /etc/app/
ONBUILD RUN cat /etc/app/* > /triggered && echo "$FROM_TRIGGER" >> /triggered
ONBUILD WORKDIR /srv
"""})
    write(child, {"conf/a.conf": "a=1\n", "conf/b.conf": ("b=2\n", 0o600), "Dockerfile": """\
FROM peers-onbuild-parent:1
RUN pwd > /where
"""})
    tag = "peers-onbuild-parent:1"
    views = {}
    for who in ("dunnage", "buildkit", "podman"):
        views[who] = {"parent": view(builders.build(who, parent, tag=tag)),
                      "child": view(builders.build(who, child, "--build-arg", "FLAVOUR=spicy"))}
    for part in ("parent", "child"):
        diffs = differences(views["dunnage"][part], {k: v[part] for k, v in views.items() if k != "dunnage"})
        print(f"{part}: where a peer differs:\n" + shown(diffs))
        assert not {k: d for k, d in diffs.items() if d[1]["buildkit"] != d[0]}, shown(diffs)
    assert views["dunnage"]["child"]["config"]["OnBuild"] is None
    assert views["dunnage"]["parent"]["config"]["OnBuild"][-1] == "WORKDIR /srv"


def test_run_may_replace_etc_hostname_as_buildkit(builders, tmp_path):
    """BuildKit binds only /etc/hosts and /etc/resolv.conf into a RUN and sets the hostname
    itself, so a RUN may replace the image's /etc/hostname (podman binds it: EBUSY)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    write(ctx, {"Dockerfile": "FROM local/busybox:latest\nRUN rm /etc/hostname && mkdir /etc/hostname\n"})
    v = view(builders.build("dunnage", ctx))
    assert v["files"]["etc/hostname"][0] == "dir"


def test_a_file_does_not_replace_a_directory(builders, tmp_path):
    """COPY of a directory whose file lands where the image has a directory: BuildKit
    refuses (podman replaces the directory); dunnage refuses as BuildKit does, leaving no image."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    write(ctx, {"d/tmp": "t\n", "Dockerfile": "FROM local/busybox:latest\nCOPY d /\n"})
    for who in ("dunnage", "buildkit"):
        with pytest.raises(AssertionError, match="cannot replace to directory .*tmp with file"):
            builders.build(who, ctx)
