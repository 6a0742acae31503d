"""dunnage load: archives written by skopeo (docker-archive, oci-archive, OCI
layout directories) and podman save; hostile archives refused."""
from __future__ import annotations

import json
import os
import shutil
import tarfile

import pytest

from conftest import cli
from peers import Podman, Registry, build_layout, skopeo

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_layout(tmp_path_factory.mktemp("image"))


def check_image(root, ref):
    r = cli(root, "run", "--rm", ref, "sh", "-c", "cat /layer1 /layer2; ls /todelete 2>/dev/null; pwd")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["one", "two", "/tmp"]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_load_skopeo_archives(fresh_root, layout, tmp_path, fmt):
    arc = tmp_path / f"{fmt}.tar"
    skopeo("copy", f"oci:{layout}:1", f"{fmt}:{arc}:example/loaded:{fmt}")
    r = cli(fresh_root, "load", "-i", str(arc))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == f"Loaded image: example/loaded:{fmt}"
    check_image(fresh_root, f"example/loaded:{fmt}")
    # from standard input too
    r = cli(fresh_root, "load", input=arc.read_bytes())
    assert r.returncode == 0, r.stderr


def test_load_oci_layout_directory_untagged(fresh_root, layout):
    r = cli(fresh_root, "load", "-i", str(layout))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("Loaded image ID: sha256:")  # ref.name "1" is a tag without a name


def test_load_podman_save(fresh_root, layout, tmp_path):
    reg = Registry(tmp_path / "registry")
    podman = Podman()
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{reg.host}/test/img:1")
        r = podman("pull", "-q", "--tls-verify=false", f"{reg.host}/test/img:1")
        assert r.returncode == 0, r.stderr
        for fmt in ("docker-archive", "oci-archive"):
            arc = tmp_path / f"podman-{fmt}.tar"
            r = podman("save", "--format", fmt, "-o", str(arc), f"{reg.host}/test/img:1")
            assert r.returncode == 0, r.stderr
            r = cli(fresh_root, "load", "-i", str(arc))
            assert r.returncode == 0, r.stderr
            assert f"{reg.host}/test/img:1" in r.stdout.decode()
            check_image(fresh_root, f"{reg.host}/test/img:1")
    finally:
        podman.close()
        reg.close()


def _tar_dir(src, dest):
    with tarfile.open(dest, "w") as tf:
        for p in sorted(os.listdir(src)):
            tf.add(os.path.join(src, p), arcname=p)


def store_contents(root) -> dict:
    return {d: sorted(os.listdir(root / d)) for d in ("layers", "tmp", "blobs/sha256") if (root / d).exists()}


def test_hostile_and_broken_archives(fresh_root, layout, tmp_path):
    cli(fresh_root, "images")
    before = store_contents(fresh_root)

    def refused(path, msg):
        r = cli(fresh_root, "load", "-i", str(path))
        assert r.returncode == 125, r.stdout
        assert msg in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert store_contents(fresh_root) == before

    # a blob whose content does not match its digest
    bad = tmp_path / "bad-layout"
    shutil.copytree(layout, bad)
    idx = json.loads((bad / "index.json").read_text())
    man = json.loads((bad / "blobs/sha256" / idx["manifests"][0]["digest"][7:]).read_text())
    layer = bad / "blobs/sha256" / man["layers"][-1]["digest"][7:]
    data = bytearray(layer.read_bytes())
    data[100] ^= 0xFF
    layer.write_bytes(bytes(data))
    refused(bad, b"does not match its digest")
    # a missing layer
    layer.unlink()
    refused(bad, b"is missing")
    # a docker archive whose manifest points outside
    d = tmp_path / "escape"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps([{"Config": "../../etc/passwd", "RepoTags": ["x:y"], "Layers": []}]))
    _tar_dir(d, tmp_path / "escape.tar")
    refused(tmp_path / "escape.tar", b"outside the archive")
    # malformed JSON, truncated tar, not an archive at all
    (d / "manifest.json").write_text("{oops")
    _tar_dir(d, tmp_path / "malformed.tar")
    refused(tmp_path / "malformed.tar", b"malformed manifest.json")
    arc = tmp_path / "da.tar"
    skopeo("copy", f"oci:{layout}:1", f"docker-archive:{arc}:t/t:1")
    (tmp_path / "trunc.tar").write_bytes(arc.read_bytes()[: arc.stat().st_size // 2])
    refused(tmp_path / "trunc.tar", b"not a valid image archive")
    (tmp_path / "junk.tar").write_bytes(b"junk" * 1000)
    refused(tmp_path / "junk.tar", b"not a valid image archive")
    refused(tmp_path / "nope.tar", b"no such file")


def test_save_is_loaded_and_run_by_podman(fresh_root, layout, tmp_path):
    arc = tmp_path / "in.tar"
    skopeo("copy", f"oci:{layout}:1", f"docker-archive:{arc}:example/saved:1")
    assert cli(fresh_root, "load", "-i", str(arc)).returncode == 0
    iid = json.loads(cli(fresh_root, "inspect", "--type", "image", "example/saved:1").stdout)[0]["Id"]
    podman = Podman()
    try:
        for fmt in ("docker-archive", "oci-archive"):
            out = tmp_path / f"saved-{fmt}.tar"
            r = cli(fresh_root, "save", "--format", fmt, "-o", str(out), "example/saved:1")
            assert r.returncode == 0, r.stderr
            r = podman("load", "-i", str(out))
            assert r.returncode == 0, r.stderr
            assert b"example/saved:1" in r.stdout
            r = podman.run("example/saved:1", "cat", "/layer1", "/layer2")
            assert r.returncode == 0, r.stderr
            assert r.stdout == b"one\ntwo\n"
            assert iid.encode() in podman("images", "--no-trunc", "-q", "example/saved:1").stdout  # the very same image
            # and our own load reads it back to the same image
            other = tmp_path / f"other-{fmt}"
            r = cli(other, "load", "-i", str(out))
            assert r.returncode == 0, r.stderr
            assert json.loads(cli(other, "inspect", "--type", "image", "example/saved:1").stdout)[0]["Id"] == iid
    finally:
        podman.close()


def test_save_errors(fresh_root, tmp_path):
    r = cli(fresh_root, "save", "-o", str(tmp_path / "x.tar"), "no/such:image")
    assert r.returncode == 125 and b"No such image" in r.stderr
    assert not (tmp_path / "x.tar").exists()
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())  # no half-written archive
    r = cli(fresh_root, "save", "-o", "/no/such/dir/x.tar", "no/such:image")
    assert r.returncode == 125
