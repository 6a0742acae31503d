"""Hostile image archives (issue 16, items 1, 13 and 15): `import` and `load` of layers
and docker archives built to write or link outside the store, decompression bombs, and
the modes of what the store keeps.  Everything through the real command line into a
fresh store; a canary directory beside the store shows whether anything got out."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile

import pytest

from dunnage.core.images.demo import busybox_rootfs_tar

from conftest import cli

pytestmark = pytest.mark.timeout(180)

PATH_MAX = 4096
# mkdtemp's names: tmp/layer-XXXXXXXX/diff for a layer, tmp/load-XXXXXXXX/archive for a load
LAYER_DEST = "/tmp/layer-12345678/diff"
LOAD_DEST = "/tmp/load-12345678/archive"


def tar_bytes(entries: list[dict]) -> bytes:
    """A tar of ENTRIES: dicts of TarInfo attributes, with "data" for a file's content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for e in entries:
            e = dict(e)
            data = e.pop("data", None)
            ti = tarfile.TarInfo(e.pop("name"))
            ti.mode = 0o755 if e.get("type") == tarfile.DIRTYPE else 0o644
            for k, v in e.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def cve_2025_4517(dest_len: int, up: int, target: str) -> list[dict]:
    """The realpath overflow of CVE-2025-4517 (cpython's test_realpath_limit_attack): sixteen
    nested directories with names long enough that their path nearly fills PATH_MAX, one-letter
    symlinks to each, and a symlink in the last one that os.path.realpath cannot expand (the
    expanded path is too long) while the kernel can.  "escape" leads (for the kernel) UP levels
    above the extraction directory, then to TARGET; a hard link and files go through it."""
    steps = "abcdefghijklmnop"
    comp = "d" * ((PATH_MAX - dest_len - 1) // (len(steps) + 1))
    out, path, step_path = [], "", ""
    for s in steps:
        out.append({"name": os.path.join(path, comp), "type": tarfile.DIRTYPE, "mode": 0o777})
        out.append({"name": os.path.join(path, s), "type": tarfile.SYMTYPE, "linkname": comp})
        path, step_path = os.path.join(path, comp), os.path.join(step_path, s)
    long_link = os.path.join(step_path, "l" * 254)
    out.append({"name": long_link, "type": tarfile.SYMTYPE, "linkname": "/".join([".."] * len(steps))})
    out.append({"name": "escape", "type": tarfile.SYMTYPE, "linkname": long_link + "/.." * up + "/" + target})
    out.append({"name": "flaglink", "type": tarfile.LNKTYPE, "linkname": "escape/flag"})
    out.append({"name": "flaglink", "data": b"overwritten"})
    out.append({"name": "escape/newfile", "data": b"new"})
    return out


def docker_archive(layer: bytes, tag: str = "evil/image:latest") -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}])
    return tar_bytes([{"name": "layer.tar", "data": layer}, {"name": "config.json", "data": config.encode()},
                      {"name": "manifest.json", "data": manifest.encode()}])


def store_entries(root) -> dict:
    return {sub: sorted(os.listdir(root / sub)) if (root / sub).exists() else []
            for sub in ("layers", "images", "blobs/sha256", "tmp", "containers")}


@pytest.fixture
def canary(tmp_path):
    """A host directory beside the store with one file in it."""
    d = tmp_path / "canary"
    d.mkdir()
    (d / "flag").write_bytes(b"host file")
    return d


def assert_untouched(canary) -> None:
    assert sorted(os.listdir(canary)) == ["flag"]
    st = os.stat(canary / "flag")
    assert (canary / "flag").read_bytes() == b"host file"
    assert st.st_nlink == 1, "a host file was hard-linked into the store"


def refused(root, *args, input: bytes, msg: bytes, code: int = 125) -> None:
    cli(root, "images")  # the empty store
    before = store_entries(root)
    r = cli(root, *args, input=input, timeout=120)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert msg in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert store_entries(root) == before
    assert cli(root, "images", "-q").stdout == b""


def test_cve_2025_4517_layer_by_import_writes_nothing_outside(fresh_root, canary):
    layer = tar_bytes(cve_2025_4517(len(str(fresh_root)) + len(LAYER_DEST), 4, "canary"))
    refused(fresh_root, "import", "-", "evil/image", input=layer, msg=b"unsafe entry in layer")
    assert_untouched(canary)


def test_cve_2025_4517_layer_in_a_docker_archive_by_load(fresh_root, canary):
    layer = tar_bytes(cve_2025_4517(len(str(fresh_root)) + len(LAYER_DEST), 4, "canary"))
    refused(fresh_root, "load", input=docker_archive(layer), msg=b"unsafe entry in layer")
    assert_untouched(canary)


def test_cve_2025_4517_in_the_outer_archive_of_load(fresh_root, canary, tmp_path):
    outer = tar_bytes(cve_2025_4517(len(str(fresh_root)) + len(LOAD_DEST), 4, "canary"))
    f = tmp_path / "evil.tar"
    f.write_bytes(outer)
    refused(fresh_root, "load", "-i", str(f), input=None, msg=b"unsafe entry")
    assert_untouched(canary)
    refused(fresh_root, "load", input=outer, msg=b"unsafe entry")
    assert_untouched(canary)


@pytest.mark.parametrize("case", ["symlink-parent", "relative-symlink-parent", "hardlink-via-symlink",
                                  "dotdot-hardlink", "dotdot-name", "symlink-replaced-dir"])
def test_entries_through_symlinks_or_outside_are_refused(fresh_root, canary, case):
    """A symlink the archive made is never followed, whether it leads out or not."""
    out = str(canary)
    entries = {
        # a file written through a symlink to a host directory
        "symlink-parent": [{"name": "evil", "type": tarfile.SYMTYPE, "linkname": out},
                           {"name": "evil/owned", "data": b"x"}],
        "relative-symlink-parent": [{"name": "evil", "type": tarfile.SYMTYPE, "linkname": "../../../../canary"},
                                    {"name": "evil/owned", "data": b"x"}],
        # a host file hard-linked in through a symlinked parent
        "hardlink-via-symlink": [{"name": "evil", "type": tarfile.SYMTYPE, "linkname": out},
                                 {"name": "h", "type": tarfile.LNKTYPE, "linkname": "evil/flag"}],
        "dotdot-hardlink": [{"name": "h", "type": tarfile.LNKTYPE, "linkname": "../../../../canary/flag"}],
        "dotdot-name": [{"name": "a/../../../../../canary/owned", "data": b"x"}],
        # a directory, then a symlink in its place, then a file through the symlink
        "symlink-replaced-dir": [{"name": "d", "type": tarfile.DIRTYPE},
                                 {"name": "d", "type": tarfile.SYMTYPE, "linkname": out},
                                 {"name": "d/owned", "data": b"x"}],
    }[case]
    layer = tar_bytes(entries)
    refused(fresh_root, "import", "-", "evil/image", input=layer, msg=b"unsafe entry in layer")
    assert_untouched(canary)
    refused(fresh_root, "load", input=docker_archive(layer), msg=b"unsafe entry in layer")
    assert_untouched(canary)


def test_absolute_names_land_inside_and_links_are_kept_as_links(fresh_root, canary):
    """As docker: a leading / is dropped; a symlink to a host path is stored as it is
    (it means a path in the container), and a hard link to it links the symlink itself."""
    layer = tar_bytes([{"name": "/abs/file", "data": b"in"},
                       {"name": "s", "type": tarfile.SYMTYPE, "linkname": str(canary / "flag")},
                       {"name": "hs", "type": tarfile.LNKTYPE, "linkname": "s"}])
    r = cli(fresh_root, "import", "-", "ok/image", input=layer)
    assert r.returncode == 0, r.stderr
    (layer_dir,) = os.listdir(fresh_root / "layers")
    d = fresh_root / "layers" / layer_dir / "diff"
    assert (d / "abs/file").read_bytes() == b"in"
    assert os.readlink(d / "s") == str(canary / "flag")
    assert os.lstat(d / "hs").st_ino == os.lstat(d / "s").st_ino
    assert_untouched(canary)


def _bomb(kind: str) -> bytes:
    """A valid tar of one file of 1088 MiB of zeros, compressed as members or frames of
    64 MiB each: about a thousand times smaller than what it unpacks to."""
    chunk, n = 64 << 20, 17
    header = tarfile.TarInfo("zeros")
    header.size, header.mode = chunk * n, 0o644
    tail = b"\0" * (2 * 512 + 10240 - (512 + chunk * n + 1024) % 10240)
    if kind == "gzip":
        one = gzip.compress(b"\0" * chunk, compresslevel=9, mtime=0)
        return gzip.compress(header.tobuf(), mtime=0) + one * n + gzip.compress(tail, mtime=0)
    import zstandard
    z = zstandard.ZstdCompressor(level=19)
    return z.compress(header.tobuf()) + z.compress(b"\0" * chunk) * n + z.compress(tail)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_decompression_bomb_is_refused_and_leaves_nothing(fresh_root, kind):
    bomb = _bomb(kind)
    assert len(bomb) < 2 << 20
    refused(fresh_root, "import", "-", "bomb/image", input=bomb, msg=b"decompression bomb")


def _mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_store_files_are_for_root_only(fresh_root):
    """Issue 16 item 13: blobs (a commit's too), records and events.log were world-readable."""
    r = cli(fresh_root, "import", "-", "local/bb", input=busybox_rootfs_tar())
    assert r.returncode == 0, r.stderr
    r = cli(fresh_root, "run", "--name", "creds", "--network", "none", "local/bb", "sh", "-c",
            "umask 077 && echo s3cret > /credentials")
    assert r.returncode == 0, r.stderr
    r = cli(fresh_root, "commit", "creds", "local/committed")
    assert r.returncode == 0, r.stderr
    assert cli(fresh_root, "rm", "creds").returncode == 0
    assert _mode(fresh_root) == 0o700
    for sub in ("blobs", "blobs/sha256", "layers", "images", "containers", "tmp"):
        assert _mode(fresh_root / sub) == 0o700, sub
    blobs = list((fresh_root / "blobs/sha256").iterdir())
    assert len(blobs) >= 4  # two configs, two layer archives
    for b in blobs:
        assert _mode(b) == 0o600, b
    assert _mode(fresh_root / "events.log") == 0o600
    assert _mode(fresh_root / "images/index.msgpack") == 0o600
    for layer in (fresh_root / "layers").iterdir():
        assert _mode(layer) == 0o700
        assert _mode(layer / "meta.msgpack") == 0o600
    # the layers themselves keep the modes the image gives
    (committed,) = [p for p in (fresh_root / "layers").iterdir() if (p / "diff/credentials").exists()]
    assert _mode(committed / "diff/credentials") == 0o600
    assert _mode(committed / "diff") == 0o755


def test_an_existing_store_is_closed_to_others(tmp_path):
    root = tmp_path / "old"
    for sub in ("", "blobs", "blobs/sha256"):
        (root / sub).mkdir(mode=0o755, exist_ok=True)
        os.chmod(root / sub, 0o755)
    assert cli(root, "images").returncode == 0
    assert _mode(root) == 0o700


def test_a_container_of_another_user_reads_its_hosts_and_resolv_conf(session_root, engine, image):
    r = cli(session_root, "run", "--rm", "-u", "nobody", image, "sh", "-c",
            "id -u && cat /etc/hosts /etc/resolv.conf >/dev/null && echo read")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"65534", b"read"]
