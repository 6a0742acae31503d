"""A layer's size as dockerd counts it (core/images/history.py apparent_size): pure, any user."""
from __future__ import annotations

import os

from dunnage.core.images.history import apparent_size


def test_sizes_of_what_is_not_a_directory_each_inode_once_and_no_link_followed(tmp_path):
    os.makedirs(tmp_path / "a" / "b" / "c")
    (tmp_path / "a" / "f").write_bytes(b"x" * 100)
    (tmp_path / "a" / "b" / "c" / "g").write_bytes(b"y" * 50)
    os.link(tmp_path / "a" / "f", tmp_path / "a" / "b" / "h")  # a hard link: once
    (tmp_path / "a" / "empty").touch()
    big = tmp_path / "outside"
    big.mkdir()
    (big / "secret").write_bytes(b"z" * 10_000)
    os.symlink(big, tmp_path / "a" / "b" / "dir-link")  # (what a container could swap a directory for)
    assert apparent_size(tmp_path / "a") == 100 + 50 + len(str(big))
    assert apparent_size(tmp_path / "a" / "b" / "dir-link") == 0  # the top itself is not followed either
    assert apparent_size(tmp_path / "gone") == 0
