"""The layer unpacker's quick tar header decoder (unpack._Info): every header reads
as tarfile reads it, field for field, whatever the format (ustar with a prefix, GNU
long names, pax, base-256 numbers, signed checksums, V7 directories), and what
tarfile refuses stays refused; hostile names read through it are still refused by
the unpacker (pure: a layer in a temporary directory, owned by whoever runs this)."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from dunnage.core.images.unpack import LayerError, _Info, unpack_layer

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname", "gname",
          "devmajor", "devminor", "offset", "offset_data", "pax_headers", "sparse")


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data else None)
    return out.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **kw) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mtime, ti.mode = kind, size, 1700000000, 0o644
    ti.uid, ti.gid = os.geteuid(), os.getegid()
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def _members(raw: bytes, cls) -> list[dict]:
    tf = tarfile.TarFile(fileobj=io.BytesIO(raw), mode="r", tarinfo=cls)
    return [{f: getattr(m, f) for f in FIELDS} for m in tf.getmembers()]


def _assorted() -> list[tuple[tarfile.TarInfo, bytes]]:
    deep = "/".join(["d" * 60] * 3)  # 182 characters: ustar's prefix, or a long name
    return [
        (_info("etc", tarfile.DIRTYPE, mode=0o755), b""),
        (_info("etc/passwd", size=5), b"root\n"),
        (_info("/abs/name", size=1), b"x"),
        (_info("../escape", size=1), b"y"),
        (_info("etc/link", tarfile.SYMTYPE, linkname="../../../../etc/shadow"), b""),
        (_info("etc/hard", tarfile.LNKTYPE, linkname="../outside"), b""),
        (_info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666), b""),
        (_info("run/fifo", tarfile.FIFOTYPE), b""),
        (_info(deep + "/file", size=3), b"abc"),
        (_info("setuid", size=0, mode=0o4755, uname="root", gname="wheel"), b""),
        (_info("ünïcødé/名前", size=2), b"ok"),
    ]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_headers_read_as_tarfile_reads_them(fmt):
    members = _assorted()
    if fmt == tarfile.USTAR_FORMAT:  # no long names in ustar
        members = [(ti, d) for ti, d in members if len(ti.name) < 256]
    else:
        members.append((_info("x" * 150 + "/" + "y" * 150 + "/long", size=1), b"z"))  # GNU longname / pax path
        members.append((_info("biglink", tarfile.SYMTYPE, linkname="l" * 200), b""))
    raw = _tar(members, fmt)
    ours, theirs = _members(raw, _Info), _members(raw, tarfile.TarInfo)
    assert len(ours) == len(members)
    assert ours == theirs


def test_base256_and_odd_numbers_read_as_tarfile_reads_them():
    members = [(_info("big", size=1, uid=1 << 30, gid=1 << 30, mtime=-5), b"b"),  # GNU base-256 (and negative)
               (_info("plain", size=1), b"p")]
    raw = bytearray(_tar(members, tarfile.GNU_FORMAT))
    assert raw[108] & 0x80  # the uid really is base-256
    assert _members(bytes(raw), _Info) == _members(bytes(raw), tarfile.TarInfo)


def _rechecksum(raw: bytearray, signed: bool = False) -> None:
    """The checksum of RAW's first header set again (SIGNED: as Sun's and NeXT's tars sum)."""
    raw[148:156] = b" " * 8
    total = sum((b - 256 if b > 127 else b) if signed else b for b in raw[:512])
    raw[148:156] = b"%06o\0 " % total


def test_signed_checksums_spaces_and_v7_directories():
    raw = bytearray(_tar([(_info("dir/", tarfile.AREGTYPE), b""), (_info("f", size=1), b"1")], tarfile.USTAR_FORMAT))
    raw[345:350] = b"pr\xe9fx"  # a high byte: the signed checksum differs from the unsigned one
    raw[100:108] = b"  644 \0\0"  # spaces around the octal digits
    _rechecksum(raw, signed=True)
    ours, theirs = _members(bytes(raw), _Info), _members(bytes(raw), tarfile.TarInfo)
    assert ours == theirs
    assert ours[0]["type"] == tarfile.DIRTYPE and ours[0]["mode"] == 0o644


def test_what_tarfile_refuses_stays_refused():
    raw = bytearray(_tar([(_info("f", size=1), b"1")], tarfile.USTAR_FORMAT))
    raw[0:1] = b"g"  # checksum no longer matches
    for cls in (_Info, tarfile.TarInfo):
        with pytest.raises(tarfile.ReadError, match="bad checksum"):
            tarfile.TarFile(fileobj=io.BytesIO(bytes(raw)), mode="r", tarinfo=cls)
    bad = bytearray(_tar([(_info("f", size=1), b"1")], tarfile.USTAR_FORMAT))
    bad[124:136] = b"9999999999\0\0"  # no octal number
    _rechecksum(bad)
    for cls in (_Info, tarfile.TarInfo):
        with pytest.raises(tarfile.ReadError, match="invalid header"):
            tarfile.TarFile(fileobj=io.BytesIO(bytes(bad)), mode="r", tarinfo=cls)
    for block in (b"", b"\0" * 100):
        with pytest.raises(tarfile.HeaderError):
            _Info.frombuf(block, "utf-8", "surrogateescape")
    with pytest.raises(tarfile.EOFHeaderError):
        _Info.frombuf(b"\0" * 512, "utf-8", "surrogateescape")


@pytest.mark.parametrize("member, why", [
    ((_info("../escape", size=1), b"y"), "points outside the layer"),
    ((_info("a/../../escape", size=1), b"y"), "points outside the layer"),
    ((_info("x" * 300 + "/../../../" * 120 + "escape", size=1), b"y"), "points outside the layer"),
    ((_info("hard", tarfile.LNKTYPE, linkname="../outside"), b""), "points outside the layer"),
])
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_hostile_names_still_refused(tmp_path, member, why, fmt):
    raw = _tar([(_info("ok", size=1), b"k"), member], fmt)
    with pytest.raises(LayerError, match=why):
        unpack_layer(io.BytesIO(raw), tmp_path / "layer")
    assert not (tmp_path / "layer").exists()  # nothing half-made stays
    assert not (tmp_path / "escape").exists() and not (tmp_path / "outside").exists()


def test_links_through_a_symlink_refused_and_plain_layers_unpack(tmp_path):
    raw = _tar([(_info("lnk", tarfile.SYMTYPE, linkname=".."), b""), (_info("lnk/escape", size=1), b"e")],
               tarfile.PAX_FORMAT)
    with pytest.raises(LayerError, match="symbolic link"):
        unpack_layer(io.BytesIO(raw), tmp_path / "layer")
    assert not (tmp_path / "escape").exists()
    raw = _tar(_assorted()[:2] + [(_info("x" * 150 + "/" + "y" * 150 + "/long", size=1), b"z")], tarfile.PAX_FORMAT)
    _, size = unpack_layer(io.BytesIO(raw), tmp_path / "ok")
    assert size == 6
    assert (tmp_path / "ok/etc/passwd").read_bytes() == b"root\n"
    assert (tmp_path / "ok" / ("x" * 150) / ("y" * 150) / "long").read_bytes() == b"z"
