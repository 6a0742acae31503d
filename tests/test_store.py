"""The store: atomic, versioned records; locks that two fronts at once respect."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import DUNNAGE, cli

pytestmark = pytest.mark.timeout(120)


def test_two_fronts_cannot_take_the_same_name(session_root, engine, image):
    procs = [subprocess.Popen([DUNNAGE, "--root", str(session_root),
                               "create", "--name", "race", image, "true"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    codes = [p.wait(60) for p in procs]
    assert sorted(codes) == [0, 125, 125, 125]
    assert [c.name for c in engine.containers(all_=True)].count("race") == 1


def test_root_flag_and_env_move_the_store(tmp_path, image):
    r = cli(tmp_path / "a", "images")
    assert r.returncode == 0
    assert (tmp_path / "a" / "containers").is_dir()
    env = dict(os.environ, DUNNAGE_ROOT=str(tmp_path / "b"))
    r = subprocess.run([DUNNAGE, "ps"], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0
    assert (tmp_path / "b" / "containers").is_dir()


def test_a_state_record_lost_to_a_crash_shows_the_container_exited(session_root, engine, image):
    """State records are not fsynced (store.py): after a power loss one may be found
    empty. The container is then listed as exited with the reason, and can be removed."""
    c = engine.create(image, ["true"], name="lost-state")
    (c.dir / "state.msgpack").write_bytes(b"")
    r = cli(session_root, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert "lost-state exited" in r.stdout.decode().splitlines()
    assert "state was lost" in engine.inspect("lost-state")["State"]["Error"]
    assert cli(session_root, "rm", "lost-state").returncode == 0


def test_a_record_from_a_newer_dunnage_is_one_line_not_a_traceback(fresh_root):
    """The store's own fault (StoreError) is the one error type too: docker's `Error:`
    line and exit code, not a Python traceback with exit 1."""
    import msgpack
    assert cli(fresh_root, "images").returncode == 0
    index = fresh_root / "images" / "index.msgpack"
    index.write_bytes(msgpack.packb({"schema": 99, "data": {}}))
    r = cli(fresh_root, "images")
    assert r.returncode == 125
    assert r.stderr.decode() == f"dunnage: Error: {index}: written by a newer dunnage (schema 99)\n"
    assert r.stdout == b""
