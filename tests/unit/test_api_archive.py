"""The archive endpoint's pure parts: Go's os.FileMode bits and docker's path stat header."""
from __future__ import annotations

import base64
import json
import os
import stat

from dunnage.api.archive import go_mode, path_stat


def test_go_mode():
    assert go_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert go_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert go_mode(stat.S_IFDIR | stat.S_ISVTX | 0o777) == (1 << 31) | (1 << 20) | 0o777


def test_path_stat_header(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"12345")
    os.utime(f, ns=(0, 1_700_000_000_500_000_000))
    doc = json.loads(base64.b64decode(path_stat("/data/f", os.lstat(f), "")))
    assert doc == {"name": "f", "size": 5, "mode": stat.S_IMODE(os.lstat(f).st_mode),
                   "mtime": "2023-11-14T22:13:20.5Z", "linkTarget": ""}
    doc = json.loads(base64.b64decode(path_stat("/data/link", os.lstat(f), "sub/../x")))
    assert doc["linkTarget"] == "/data/x"
    assert json.loads(base64.b64decode(path_stat("/", os.lstat(tmp_path), "")))["name"] == "/"
