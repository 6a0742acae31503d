"""docker import, images, rmi: through the real command line, into a real store."""
from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from dunnage.core.images.demo import busybox_rootfs_tar

from conftest import cli

pytestmark = pytest.mark.timeout(120)


def tar_of(entries: list[tuple[str, bytes | None, dict]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data, kw in entries:
            ti = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def store_entries(root) -> dict:
    """What the store holds, to check that a refused import left nothing."""
    out = {}
    for sub in ("layers", "images", "blobs/sha256", "tmp", "containers"):
        d = root / sub
        out[sub] = sorted(os.listdir(d)) if d.exists() else []
    return out


def test_import_file_and_stdin_then_list_and_run(fresh_root, tmp_path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(busybox_rootfs_tar())
    r = cli(fresh_root, "import", str(tarball), "example/box:1.0")
    assert r.returncode == 0, r.stderr
    iid = r.stdout.decode().strip()
    assert iid.startswith("sha256:") and len(iid) == 71
    r = cli(fresh_root, "import", "-", "example/box2", input=tarball.read_bytes())
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in cli(fresh_root, "images", "--format", "json").stdout.splitlines()]
    byname = {(x["Repository"], x["Tag"]): x for x in rows}
    assert ("example/box", "1.0") in byname and ("example/box2", "latest") in byname
    # the same tarball gives the same layer, shared by both images
    assert len(os.listdir(fresh_root / "layers")) == 1
    assert byname[("example/box", "1.0")]["ID"] == iid[7:19]
    table = cli(fresh_root, "images").stdout.decode().splitlines()
    assert table[0].split()[:2] == ["REPOSITORY", "TAG"]
    q = cli(fresh_root, "images", "-q").stdout.decode().split()
    assert iid[7:19] in q
    # an imported image has no command, as with docker import
    r = cli(fresh_root, "run", "--rm", "example/box:1.0")
    assert r.returncode == 125 and b"No command specified" in r.stderr
    r = cli(fresh_root, "run", "--rm", "example/box:1.0", "cat", "/etc/group")
    assert r.returncode == 0 and r.stdout.startswith(b"root:x:0:")


def test_import_with_change_sets_the_command(fresh_root):
    r = cli(fresh_root, "import", "-c", 'CMD ["echo", "from-cmd"]', "-", "withcmd", input=busybox_rootfs_tar())
    assert r.returncode == 0, r.stderr
    r = cli(fresh_root, "run", "--rm", "withcmd")
    assert r.stdout == b"from-cmd\n"


def test_rmi_untags_then_deletes_and_refuses_in_use(fresh_root):
    data = busybox_rootfs_tar()
    assert cli(fresh_root, "import", "-", "a/one", input=data).returncode == 0
    assert cli(fresh_root, "import", "-", "a/two", input=data).returncode == 0
    # each import is an image of its own (docker import stamps the time); they share the layer
    r = cli(fresh_root, "rmi", "a/one")
    assert r.returncode == 0
    assert r.stdout.decode().splitlines()[0] == "Untagged: a/one:latest"
    assert r.stdout.decode().splitlines()[1].startswith("Deleted: sha256:")
    assert len(os.listdir(fresh_root / "layers")) == 1  # still used by a/two
    r = cli(fresh_root, "create", "a/two", "true")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    r = cli(fresh_root, "rmi", "a/two")
    assert r.returncode == 1 and b"(must be forced) - image is being used by stopped container" in r.stderr
    assert cli(fresh_root, "rm", cid).returncode == 0
    r = cli(fresh_root, "rmi", "a/two")
    assert r.returncode == 0
    assert r.stdout.decode().splitlines()[-1].startswith("Deleted: sha256:")
    assert os.listdir(fresh_root / "layers") == []
    assert cli(fresh_root, "images", "-q").stdout == b""
    r = cli(fresh_root, "rmi", "a/two")
    assert r.returncode == 1 and b"No such image: a/two" in r.stderr


@pytest.mark.timeout(120)
def test_rmi_force_as_docker_does(fresh_root):
    """docker: an image a running container uses cannot be removed, not even with -f; with
    only stopped containers on it, -f removes the image but the containers keep their
    layers (they still start), which go when the last such container does."""
    data = busybox_rootfs_tar()
    assert cli(fresh_root, "import", "-", "b/img", input=data).returncode == 0
    run = cli(fresh_root, "run", "-d", "--network", "none", "b/img", "sleep", "300")
    assert run.returncode == 0, run.stderr
    running = run.stdout.decode().strip()
    r = cli(fresh_root, "rmi", "-f", "b/img")
    assert r.returncode == 1 and b"(cannot be forced) - image is being used by running container" in r.stderr
    assert cli(fresh_root, "rm", "-f", running).returncode == 0
    stopped = cli(fresh_root, "create", "--network", "none", "b/img", "echo", "still-here").stdout.decode().strip()
    r = cli(fresh_root, "rmi", "-f", "b/img")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines()[0] == "Untagged: b/img:latest"
    assert cli(fresh_root, "images", "-q").stdout == b""
    assert len(os.listdir(fresh_root / "layers")) == 1  # the container stands on it
    r = cli(fresh_root, "start", "-a", stopped)
    assert r.returncode == 0 and r.stdout == b"still-here\n", r.stderr
    assert cli(fresh_root, "rm", stopped).returncode == 0
    assert os.listdir(fresh_root / "layers") == []  # the last container took the layer along


@pytest.mark.parametrize("name,payload,msg", [
    ("not-a-tar", b"this is not a tar archive at all" * 100, b"invalid layer archive"),
    ("truncated", None, b"invalid layer archive"),
    ("dotdot", tar_of([("../escape", b"x", {})]), b"unsafe entry"),
    ("absolute-link", tar_of([("etc", None, {"type": tarfile.DIRTYPE, "mode": 0o755}),
                              ("etc/evil", None, {"type": tarfile.SYMTYPE, "linkname": "/tmp"}),
                              ("etc/evil/owned", b"x", {})]), b"unsafe entry"),
    ("hardlink-out", tar_of([("h", None, {"type": tarfile.LNKTYPE, "linkname": "../../../etc/passwd"})]),
     b"unsafe entry"),
])
def test_bad_archives_are_refused_and_leave_nothing(fresh_root, tmp_path, name, payload, msg):
    cli(fresh_root, "images")  # create the empty store
    before = store_entries(fresh_root)
    if payload is None:
        payload = busybox_rootfs_tar()[:300_000]
    f = tmp_path / f"{name}.tar"
    f.write_bytes(payload)
    r = cli(fresh_root, "import", str(f), "bad/image")
    assert r.returncode == 125
    assert msg in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert store_entries(fresh_root) == before
    assert not os.path.exists("/tmp/owned")
    assert cli(fresh_root, "images", "-q").stdout == b""


@pytest.mark.parametrize("args,msg", [
    (["import", "/no/such/file.tar", "x"], b"/no/such/file.tar: No such file or directory"),
    (["import", "-", "Bad:Name:x"], b"invalid reference format"),
])
def test_import_argument_errors(fresh_root, args, msg):
    r = cli(fresh_root, *args, input=b"")
    assert r.returncode == 125
    assert msg in r.stderr


def test_import_keeps_modes_owners_times_and_links(fresh_root):
    data = tar_of([
        ("bin", None, {"type": tarfile.DIRTYPE, "mode": 0o755, "mtime": 1_000_000_000}),
        ("bin/su", b"#!/bin/sh\n", {"mode": 0o4755, "uid": 0, "mtime": 1_100_000_000}),
        ("home", None, {"type": tarfile.DIRTYPE, "mode": 0o555, "uid": 1000, "mtime": 1_200_000_000}),
        ("home/u", b"u", {"mode": 0o600, "uid": 1000, "gid": 1000}),
        ("bin/link", None, {"type": tarfile.LNKTYPE, "linkname": "bin/su"}),
        ("bin/sym", None, {"type": tarfile.SYMTYPE, "linkname": "/bin/su"}),
    ])
    r = cli(fresh_root, "import", "-", "modes", input=data)
    assert r.returncode == 0, r.stderr
    (layer,) = os.listdir(fresh_root / "layers")
    d = fresh_root / "layers" / layer / "diff"
    assert os.stat(d / "bin/su").st_mode & 0o7777 == 0o4755
    st = os.stat(d / "home/u")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o600)
    assert os.stat(d / "bin/link").st_ino == os.stat(d / "bin/su").st_ino
    assert os.readlink(d / "bin/sym") == "/bin/su"
    # a directory's owner, mode and time are the archive's even with entries made in it afterwards
    assert os.stat(d / "bin").st_mtime == 1_000_000_000
    assert os.stat(d / "bin/su").st_mtime == 1_100_000_000
    st = os.stat(d / "home")
    assert (st.st_mtime, st.st_uid, st.st_mode & 0o7777) == (1_200_000_000, 1000, 0o555)


def test_tag_history_and_prune(fresh_root):
    data = busybox_rootfs_tar()
    assert cli(fresh_root, "import", "-", "keep/me", input=data).returncode == 0
    assert cli(fresh_root, "import", "-", "drop/me", input=data).returncode == 0
    assert cli(fresh_root, "tag", "keep/me", "keep/alias:v1").returncode == 0
    r = cli(fresh_root, "tag", "no/such", "x:y")
    assert r.returncode == 1 and b"No such image" in r.stderr
    rows = {(x["Repository"], x["Tag"]) for x in map(json.loads, cli(fresh_root, "images", "--format", "json").stdout.splitlines())}
    assert rows == {("keep/me", "latest"), ("keep/alias", "v1"), ("drop/me", "latest")}
    h = cli(fresh_root, "image", "history", "keep/me").stdout.decode()
    assert "dunnage import" in h
    r = cli(fresh_root, "create", "keep/me", "true")
    assert r.returncode == 0
    # nothing is dangling: plain prune keeps everything; -a removes what no container uses
    assert cli(fresh_root, "image", "prune", "-f").stdout == b"Total reclaimed space: 0B\n"
    out = cli(fresh_root, "image", "prune", "-a", "-f").stdout.decode()
    assert "Deleted Images:\nuntagged: drop/me:latest" in out and "keep/me" not in out
    rows = {(x["Repository"], x["Tag"]) for x in map(json.loads, cli(fresh_root, "image", "ls", "--format", "json").stdout.splitlines())}
    assert rows == {("keep/me", "latest"), ("keep/alias", "v1")}


def test_file_capabilities_and_xattrs_in_layers_are_kept(fresh_root):
    """A binary with cap_net_bind_service+ep (a PAX xattr header, as GNU tar and
    podman write it) keeps it: run as an unprivileged user, it has the capability."""
    import struct
    cap = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)  # v2, effective, NET_BIND_SERVICE
    base = tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar()))
    busybox = base.extractfile("bin/busybox").read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for m in base.getmembers():
            tf.addfile(m, base.extractfile(m) if m.isfile() else None)
        ti = tarfile.TarInfo("cap/busybox")  # busybox picks its applet from its name
        ti.size, ti.mode = len(busybox), 0o755
        ti.pax_headers = {"SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape"),
                          "SCHILY.xattr.user.note": "kept"}
        tf.addfile(ti, io.BytesIO(busybox))
    r = cli(fresh_root, "import", "-", "local/caps", input=buf.getvalue())
    assert r.returncode == 0, r.stderr
    layer = next((fresh_root / "layers").iterdir()) / "diff" / "cap" / "busybox"
    assert os.getxattr(layer, "security.capability") == cap
    assert os.getxattr(layer, "user.note") == b"kept"
    r = cli(fresh_root, "run", "--rm", "--network", "none", "-u", "65534", "local/caps", "sh", "-c",
            "/cap/busybox grep CapEff /proc/self/status 2>&1; grep CapEff /proc/self/status")
    assert r.returncode == 0, r.stderr
    with_cap, without = [int(line.split()[1], 16) for line in r.stdout.decode().splitlines()]
    assert with_cap == 1 << 10 and without == 0
